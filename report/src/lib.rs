//! attnscope's report: the one serde type every output shares (the command line's JSON, the
//! worker's answers, the tests, the exports), and everything made from it without tensors:
//! the analyses, the figures, the export formats, the pictures' framing, which files make a
//! model. The page builds on this crate alone; the engine (candle) fills the report.

pub mod analysis;
pub mod export;
pub mod figure;
pub mod files;
pub mod image;
pub mod intervention;
mod next_token;
pub mod positions;
mod types;

pub use intervention::{Ablation, Answer, AnswerToken, EffectMethod, HeadEffects, HeadId, Intervention, NextTokenChange};
pub use types::*;
