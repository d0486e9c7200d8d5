//! A candidate for the next token: what a report lists and what an intervention compares.

use serde::{Deserialize, Serialize};

/// A candidate for the next token, from the last position's logits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NextToken {
    pub id: u32,
    pub text: String,
    pub logit: f32,
    /// Softmax of the logits over the whole vocabulary.
    pub probability: f32,
}
