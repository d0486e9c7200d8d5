//! Attention before the Transformer (issue 31): recurrent encoder–decoders whose decoder, at
//! each output step, weighs the encoder's states by a score (Bahdanau's additive, Luong's
//! multiplicative) and reads their weighted sum. A run is a report like a translator's: the
//! `source` and `target` sequences and one `cross` site of 1 layer × 1 head, the alignment.
//!
//! The shapes are small (tens of slots, at most a few hundred units): plain float32 loops,
//! the same natively and in WebAssembly, with nothing worth splitting across threads.
//! docs/notes/rnn-attention.md has the plan and what each model's files hold.

pub mod arabic_names;
pub mod cells;
pub mod cmu_g2p;
pub mod khmer_translit;
pub mod scores;
pub mod weights;

pub use arabic_names::ArabicNames;
pub use cmu_g2p::CmuG2p;
pub use khmer_translit::KhmerTranslit;

use crate::error::{EngineError, Result};
use crate::report::{AttentionMaps, AttentionReport, Mask, ModelInfo, Sequence, Site, Token, TranslationOutput, Truncation};

/// The files of a converted aligner (scripts/convert_rnn.py), as bytes.
pub struct AlignerFiles<'a> {
    pub config: &'a [u8],
    pub vocabulary: &'a [u8],
    pub weights: &'a [u8],
}

/// What one decode wrote: the symbols (the end symbol included when reached) and each step's
/// weights over the source's slots.
pub struct Aligned {
    pub target: Vec<u32>,
    pub weights: Vec<Vec<f32>>,
}

/// The most slots an aligner reads and symbols it writes: they read and write words and
/// names, so a config.json asking for more lies, or is not an aligner's (and the slots are
/// allocated before anything is computed).
const MOST_STEPS: usize = 1024;

/// `slots` and `limit` from a config.json, refused unless each is 1 to [`MOST_STEPS`].
fn checked_steps(slots: usize, limit: usize) -> Result<()> {
    if (1..=MOST_STEPS).contains(&slots) && (1..=MOST_STEPS).contains(&limit) {
        return Ok(());
    }
    Err(EngineError::BadModelFile(format!("config.json asks for {slots} source slots and {limit} output steps; an aligner takes 1 to {MOST_STEPS} of each")))
}

/// Row `id` of an embedding table [vocabulary, width].
fn embedding_row(table: &[f32], width: usize, id: u32) -> Result<Vec<f32>> {
    let row = table.get(id as usize * width..(id as usize + 1) * width);
    row.map(<[f32]>::to_vec).ok_or(EngineError::TokenOutOfRange { id, vocab: table.len() / width.max(1) })
}

/// The first of the highest logits, as NumPy's argmax takes it.
fn first_highest(logits: &[f32]) -> u32 {
    logits.iter().enumerate().fold(0, |best, (i, &v)| if v > logits[best] { i } else { best }) as u32
}

/// An aligner's run as a report: the `source` (its slots) and `target` sequences, and the
/// `cross` site of 1 layer × 1 head, each step's weights over the slots.
fn alignment_report(
    info: ModelInfo,
    (source, target): (Vec<Token>, Vec<Token>),
    weights: Vec<Vec<f32>>,
    translation: TranslationOutput,
    truncated: Option<Truncation>,
) -> Result<AttentionReport> {
    let maps = AttentionMaps::from_shape([1, 1, target.len(), source.len()], weights.concat())
        .ok_or_else(|| EngineError::BadModelFile("the alignment's shape does not add up".into()))?;
    let sequences = vec![Sequence::text("source", source), Sequence::text("target", target)];
    let sites = vec![Site::whole("cross", "target", "source", Mask::None, maps)];
    Ok(AttentionReport { truncated, translation: Some(translation), ..AttentionReport::of(info, Mask::None, sequences, sites) })
}

/// A loaded RNN aligner, of whichever architecture its config.json names.
pub enum Aligner {
    KhmerTranslit(KhmerTranslit),
    CmuG2p(CmuG2p),
    ArabicNames(ArabicNames),
}

/// The architectures [`Aligner::from_bytes`] reads.
const ARCHITECTURES: &[&str] = &["khmer-translit", "cmu-g2p", "arabic-names"];

impl Aligner {
    pub fn from_bytes(name: &str, files: AlignerFiles) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct Named {
            architecture: String,
        }
        let named: Named = serde_json::from_slice(files.config).map_err(|e| EngineError::BadModelFile(format!("config.json: {e}")))?;
        match named.architecture.as_str() {
            "khmer-translit" => Ok(Self::KhmerTranslit(KhmerTranslit::from_bytes(name, files)?)),
            "cmu-g2p" => Ok(Self::CmuG2p(CmuG2p::from_bytes(name, files)?)),
            "arabic-names" => Ok(Self::ArabicNames(ArabicNames::from_bytes(name, files)?)),
            other => Err(EngineError::UnsupportedArchitecture { architecture: other.to_string(), supported: ARCHITECTURES.join(", ") }),
        }
    }

    pub fn info(&self) -> ModelInfo {
        match self {
            Self::KhmerTranslit(model) => model.info(),
            Self::CmuG2p(model) => model.info(),
            Self::ArabicNames(model) => model.info(),
        }
    }

    /// The slots the encoder reads of `text` (padding included), and whether it was cut.
    pub fn source(&self, text: &str) -> Result<(Vec<Token>, Option<Truncation>)> {
        match self {
            Self::KhmerTranslit(model) => model.source(text),
            Self::CmuG2p(model) => model.source(text),
            Self::ArabicNames(model) => model.source(text),
        }
    }

    /// Decodes the source ids (every slot) greedily: the symbols and each step's weights.
    pub fn align_ids(&self, ids: &[u32]) -> Result<Aligned> {
        match self {
            Self::KhmerTranslit(model) => model.align_ids(ids, |_, _, _| {}),
            Self::CmuG2p(model) => model.align_ids(ids, |_, _, _| {}),
            Self::ArabicNames(model) => model.align_ids(ids, |_, _, _| {}),
        }
    }

    /// Runs `text` and its output greedily: a report with the `source` and `target` sequences
    /// and the `cross` site, telling `on_token(step, token, limit)` each token written.
    pub fn align(&self, text: &str, on_token: impl FnMut(usize, &Token, usize)) -> Result<AttentionReport> {
        match self {
            Self::KhmerTranslit(model) => model.transliterate(text, on_token),
            Self::CmuG2p(model) => model.pronounce(text, on_token),
            Self::ArabicNames(model) => model.romanise(text, on_token),
        }
    }
}
