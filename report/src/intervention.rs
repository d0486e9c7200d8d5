//! What a run that changes heads asks for and what it reports: heads named as `L.H`, the
//! ablations, an intervention, the next tokens before and after, and each head's effect on
//! an answer. The engine makes the changed runs ([`engine::intervention`]); the page and the
//! command line read and write these.
//!
//! [`engine::intervention`]: https://docs.rs/attnscope-engine

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::next_token::NextToken;

/// A head: its layer and its place in the layer, both from 0 (`18.6` on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeadId {
    pub layer: usize,
    pub head: usize,
}

impl fmt::Display for HeadId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}.{}", self.layer, self.head)
    }
}

impl FromStr for HeadId {
    type Err = String;
    /// `L.H`, as TransformerLens and papers write heads.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (layer, head) = s.trim().split_once('.').ok_or_else(|| format!("`{s}` is not a head: write LAYER.HEAD, as 18.6"))?;
        let number = |part: &str| part.trim().parse::<usize>().map_err(|_| format!("`{s}` is not a head: write LAYER.HEAD, as 18.6"));
        Ok(HeadId { layer: number(layer)?, head: number(head)? })
    }
}

/// What takes an ablated head's output's place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ablation {
    /// Zeros: the head writes nothing.
    #[default]
    Zero,
    /// The head's output averaged over the positions of a run (this one unless the
    /// intervention names another text): it writes what it writes on average, with
    /// nothing that depends on the position.
    Mean,
}

impl Ablation {
    pub fn name(self) -> &'static str {
        match self {
            Self::Zero => "zero",
            Self::Mean => "mean",
        }
    }
}

/// What a run changed. The report of a changed run carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Intervention {
    /// Heads whose output is replaced as `ablation` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ablated: Vec<HeadId>,
    #[serde(default)]
    pub ablation: Ablation,
    /// For mean ablation: the text whose run gives the means (this run's own when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub means_from: Option<String>,
    /// Heads whose output is taken from the run of `source`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patched_outputs: Vec<HeadId>,
    /// Heads whose attention pattern is taken from the run of `source`; their own values
    /// are weighted by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patched_patterns: Vec<HeadId>,
    /// The text the patches come from (as long in tokens as this run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The attention the heads are of, by its site's name: a speech model's `encoder`, say.
    /// `None`: the report's first site (the one the page's grid shows: a text model's own, a
    /// translator's encoder, a speech model's decoder, a picture's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The next tokens of the same text unchanged, beside the report's own (which are
    /// the changed run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_tokens_before: Option<Vec<NextToken>>,
    /// The tokens either run ranks likeliest, with their logits and probabilities in both
    /// runs (the unchanged run's order first, then the tokens only the changed run ranks):
    /// the next-token bars before and after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_token_changes: Vec<NextTokenChange>,
}

/// A candidate for the next token in the unchanged and the changed run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NextTokenChange {
    pub id: u32,
    pub text: String,
    pub logit_before: f32,
    pub logit_after: f32,
    /// Softmax of each run's logits over the whole vocabulary.
    pub probability_before: f32,
    pub probability_after: f32,
}

impl NextTokenChange {
    /// `ids` as the unchanged (`before`) and changed (`after`) runs' logits [vocab] score them.
    pub fn compare(ids: &[u32], text: impl Fn(u32) -> String, before: &[f32], after: &[f32]) -> Vec<Self> {
        let (before_total, after_total) = (SoftmaxTotal::of(before), SoftmaxTotal::of(after));
        ids.iter()
            .filter(|&&id| (id as usize) < before.len().min(after.len()))
            .map(|&id| {
                let (b, a) = (before[id as usize], after[id as usize]);
                NextTokenChange {
                    id,
                    text: text(id),
                    logit_before: b,
                    logit_after: a,
                    probability_before: before_total.probability(b),
                    probability_after: after_total.probability(a),
                }
            })
            .collect()
    }
}

/// What a softmax over a whole vocabulary divides by (its largest logit taken out first).
pub struct SoftmaxTotal {
    max: f32,
    total: f64,
}

impl SoftmaxTotal {
    pub fn of(logits: &[f32]) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        Self { max, total: logits.iter().map(|&l| ((l - max) as f64).exp()).sum() }
    }

    pub fn probability(&self, logit: f32) -> f32 {
        (((logit - self.max) as f64).exp() / self.total) as f32
    }
}

impl Intervention {
    /// Zero- or mean-ablates `heads`.
    pub fn ablate(heads: Vec<HeadId>, ablation: Ablation) -> Self {
        Self { ablated: heads, ablation, ..Self::default() }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ablated.is_empty() && self.patched_outputs.is_empty() && self.patched_patterns.is_empty()
    }

    /// The first layer it changes: everything before runs as in the unchanged run.
    pub fn first_layer(&self) -> Option<usize> {
        self.ablated.iter().chain(&self.patched_outputs).chain(&self.patched_patterns).map(|id| id.layer).min()
    }
}

/// A token named by its id and its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerToken {
    pub id: u32,
    pub text: String,
}

/// What a changed run is judged by: the answer's logit at the last position, or its
/// logit minus another token's (the logit difference, " Mary" against " John").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub token: AnswerToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versus: Option<AnswerToken>,
}

impl Answer {
    /// The measure on `logits` [vocab], for an answer [`Answer::check`]ed against them.
    pub fn measure(&self, logits: &[f32]) -> f32 {
        logits[self.token.id as usize] - self.versus.as_ref().map_or(0.0, |v| logits[v.id as usize])
    }

    /// In words: "logit of ' Mary' − logit of ' John'".
    pub fn describe(&self) -> String {
        let one = |t: &AnswerToken| format!("logit of {:?}", t.text);
        match &self.versus {
            Some(versus) => format!("{} − {}", one(&self.token), one(versus)),
            None => one(&self.token),
        }
    }
}

/// How each head's effect was found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EffectMethod {
    /// Each head ablated alone; the effect is the change of the measure.
    Ablation { ablation: Ablation },
    /// Each head's output alone taken from the run of `source`; the effect is the change.
    Patching { source: String },
    /// No run changed: each head's direct contribution to the measure.
    DirectAttribution,
}

/// Every head's effect on the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadEffects {
    pub method: EffectMethod,
    pub answer: Answer,
    /// The measure in the unchanged run (for direct attribution in a model that caps its
    /// logits, Gemma 2, the measure before the cap, which the terms split).
    pub baseline: f32,
    pub layers: usize,
    pub heads: usize,
    /// Flat [layer, head].
    pub per_head: Vec<f32>,
    /// Direct attribution only: the other writers' contributions (embeddings, each
    /// feed-forward, biases), which with the heads' add up to `baseline`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<Contribution>,
}

impl HeadEffects {
    pub fn of(&self, layer: usize, head: usize) -> f32 {
        self.per_head[layer * self.heads + head]
    }

    /// The heads, largest effect (in size) first.
    pub fn ranked(&self) -> Vec<(HeadId, f32)> {
        let mut all: Vec<(HeadId, f32)> = self.per_head.iter().enumerate().map(|(i, &e)| (HeadId { layer: i / self.heads, head: i % self.heads }, e)).collect();
        all.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        all
    }
}

/// One writer's direct contribution to the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// "embeddings", "feed-forward 3", "attention bias 3", "final norm bias".
    pub name: String,
    pub value: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_read_as_layer_dot_head() {
        assert_eq!("18.6".parse::<HeadId>(), Ok(HeadId { layer: 18, head: 6 }));
        assert_eq!(" 0.0 ".parse::<HeadId>().map(|h| h.to_string()), Ok("0.0".to_string()));
        assert!("18".parse::<HeadId>().is_err());
        assert!("a.1".parse::<HeadId>().is_err());
    }

    #[test]
    fn effects_rank_by_size_and_answers_measure_differences() {
        let effects = HeadEffects {
            method: EffectMethod::DirectAttribution,
            answer: Answer { token: AnswerToken { id: 1, text: " Mary".into() }, versus: Some(AnswerToken { id: 2, text: " John".into() }) },
            baseline: 0.0,
            layers: 2,
            heads: 2,
            per_head: vec![0.1, -3.0, 2.0, 0.0],
            others: Vec::new(),
        };
        let ranked: Vec<String> = effects.ranked().iter().map(|(id, _)| id.to_string()).collect();
        assert_eq!(ranked, ["0.1", "1.0", "0.0", "1.1"]);
        assert_eq!(effects.of(1, 0), 2.0);
        assert_eq!(effects.answer.measure(&[0.0, 5.0, 1.5]), 3.5);
        assert_eq!(effects.answer.describe(), "logit of \" Mary\" − logit of \" John\"");
    }
}
