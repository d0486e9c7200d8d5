//! Attention before the Transformer (issue 31): recurrent encoder–decoders whose decoder, at
//! each output step, weighs the encoder's states by a score (Bahdanau's additive, Luong's
//! multiplicative) and reads their weighted sum. A run is a report like a translator's: the
//! `source` and `target` sequences and one `cross` site of 1 layer × 1 head, the alignment.
//!
//! The shapes are small (tens of slots, at most a few hundred units): plain float32 loops,
//! the same natively and in WebAssembly, with nothing worth splitting across threads.
//! docs/notes/rnn-attention.md has the plan and what each model's files hold.

pub mod cells;
pub mod khmer_translit;
pub mod scores;
pub mod weights;

pub use khmer_translit::{AlignerFiles, KhmerTranslit};

use crate::error::{EngineError, Result};
use crate::report::{AttentionReport, ModelInfo, Token};

/// A loaded RNN aligner, of whichever architecture its config.json names.
pub enum Aligner {
    KhmerTranslit(KhmerTranslit),
}

/// The architectures [`Aligner::from_bytes`] reads.
const ARCHITECTURES: &[&str] = &["khmer-translit"];

impl Aligner {
    pub fn from_bytes(name: &str, files: AlignerFiles) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct Named {
            architecture: String,
        }
        let named: Named = serde_json::from_slice(files.config).map_err(|e| EngineError::BadModelFile(format!("config.json: {e}")))?;
        match named.architecture.as_str() {
            "khmer-translit" => Ok(Self::KhmerTranslit(KhmerTranslit::from_bytes(name, files)?)),
            other => Err(EngineError::UnsupportedArchitecture { architecture: other.to_string(), supported: ARCHITECTURES.join(", ") }),
        }
    }

    pub fn info(&self) -> ModelInfo {
        match self {
            Self::KhmerTranslit(model) => model.info(),
        }
    }

    /// Runs `text` and its output greedily: a report with the `source` and `target` sequences
    /// and the `cross` site, telling `on_token(step, token, limit)` each token written.
    pub fn align(&self, text: &str, on_token: impl FnMut(usize, &Token, usize)) -> Result<AttentionReport> {
        match self {
            Self::KhmerTranslit(model) => model.transliterate(text, on_token),
        }
    }
}
