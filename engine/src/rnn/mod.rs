//! Attention before the Transformer (issue 31): recurrent encoder–decoders whose decoder, at
//! each output step, weighs the encoder's states by a score (Bahdanau's additive, Luong's
//! multiplicative) and reads their weighted sum. A run is a report like a translator's: the
//! `source` and `target` sequences and one `cross` site of 1 layer × 1 head, the alignment.
//!
//! The shapes are small (tens of slots, at most a few hundred units): plain float32 loops,
//! the same natively and in WebAssembly, with nothing worth splitting across threads.
//! docs/notes/rnn-attention.md has the plan and what each model's files hold.

pub mod additive_op;
pub mod arabic_names;
pub mod cells;
pub mod cmu_g2p;
pub mod glimpse;
pub mod gru_op;
pub mod khmer_translit;
pub mod memory;
pub mod scores;
pub mod seq2seq;
pub mod snail;
pub mod trained;
pub mod weights;

pub use arabic_names::ArabicNames;
pub use cmu_g2p::CmuG2p;
pub use khmer_translit::KhmerTranslit;
pub use trained::Trained;

use crate::error::{EngineError, Result};
use crate::report::analysis::alignment_math::{AlignmentArithmetic, LocalWindow, Term};
use crate::report::{AttentionMaps, AttentionReport, Mask, ModelInfo, Sequence, Site, Token, TranslationOutput, Truncation};

/// The files of a converted aligner (scripts/convert_rnn.py), as bytes.
pub struct AlignerFiles<'a> {
    pub config: &'a [u8],
    pub vocabulary: &'a [u8],
    pub weights: &'a [u8],
}

/// What one decode wrote: the symbols (the end symbol included when reached), each step's
/// weights over the source's slots, and what takes each step's scores apart.
pub struct Aligned {
    pub target: Vec<u32>,
    pub weights: Vec<Vec<f32>>,
    pub arithmetic: AlignmentArithmetic,
}

/// One decoder step: its weights over the slots, its logits, what met the keys (the query as
/// the score uses it), and local-p's window.
pub struct Step {
    pub weights: Vec<f32>,
    pub logits: Vec<f32>,
    pub query: Vec<f32>,
    pub local: Option<LocalWindow>,
}

/// How a network's score is made, and the keys its steps met ([`AlignmentArithmetic`] but the
/// queries).
pub struct ScoreForm {
    pub formula: &'static str,
    pub query_is: &'static str,
    pub key_is: &'static str,
    pub term: Term,
    pub keys: Vec<Vec<f32>>,
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

/// Refuses a trained model's config.json that gives any of `sizes` as 0: a layer of no units
/// computes nothing (and the fused steps would divide their rows by zero).
pub(crate) fn no_zero_sizes(sizes: &[(&str, usize)]) -> Result<()> {
    match sizes.iter().find(|(_, size)| *size == 0) {
        Some((name, _)) => Err(EngineError::BadModelFile(format!("config.json's `{name}` is 0: a layer of no units computes nothing"))),
        None => Ok(()),
    }
}

/// The first of the highest logits, as NumPy's argmax takes it.
pub(crate) fn first_highest<T: PartialOrd>(logits: &[T]) -> u32 {
    logits.iter().enumerate().fold(0, |best, (i, v)| if *v > logits[best] { i } else { best }) as u32
}

/// What each aligner's file gives the greedy decode and the report they share.
trait Network {
    /// What the encoder leaves the decoder: the memory, the decoder's state.
    type Decoding;
    fn info(&self) -> ModelInfo;
    /// The slots the encoder reads of `text`, and whether it was cut.
    fn source(&self, text: &str) -> Result<(Vec<Token>, Option<Truncation>)>;
    /// The source ids through the encoder, ready for the first step.
    fn encode(&self, ids: &[u32]) -> Result<Self::Decoding>;
    /// One step after the symbol `previous`.
    fn step(&self, decoding: &mut Self::Decoding, previous: u32) -> Result<Step>;
    /// How the score is made, with the keys of `decoding`.
    fn score_form(&self, decoding: &Self::Decoding) -> Result<ScoreForm>;
    /// The symbol read first, the one that ends, and the most symbols written.
    fn bounds(&self) -> (u32, u32, usize);
    /// A symbol as the report shows it.
    fn token(&self, id: u32) -> Token;
    /// What the symbols `target` (the end left out) say, as the model's package writes it.
    fn written(&self, target: &[u32]) -> String;
}

/// The network's greedy decode of the source ids: the first highest symbol of each step,
/// fed back, until the end symbol or the limit, telling `on_symbol(step, id, limit)` each.
fn decode<N: Network>(network: &N, ids: &[u32], mut on_symbol: impl FnMut(usize, u32, usize)) -> Result<Aligned> {
    if ids.is_empty() {
        return Err(EngineError::NoTokens);
    }
    let (start, end, limit) = network.bounds();
    let mut decoding = network.encode(ids)?;
    let ScoreForm { formula, query_is, key_is, term, keys } = network.score_form(&decoding)?;
    let (mut previous, mut target, mut all_weights, mut queries, mut windows) = (start, Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for step in 0..limit {
        let Step { weights, logits, query, local } = network.step(&mut decoding, previous)?;
        let chosen = first_highest(&logits);
        target.push(chosen);
        all_weights.push(weights);
        queries.push(query);
        windows.extend(local);
        on_symbol(step, chosen, limit);
        if chosen == end {
            break;
        }
        previous = chosen;
    }
    let local = (!windows.is_empty()).then_some(windows);
    let arithmetic = AlignmentArithmetic { formula: formula.into(), query_is: query_is.into(), key_is: key_is.into(), term, keys, queries, local };
    Ok(Aligned { target, weights: all_weights, arithmetic })
}

/// Runs `text` through `network`: its report, telling `on_token` each symbol written.
fn run<N: Network>(network: &N, text: &str, mut on_token: impl FnMut(usize, &Token, usize)) -> Result<AttentionReport> {
    let (source, truncated) = network.source(text)?;
    let ids: Vec<u32> = source.iter().map(|t| t.id).collect();
    let Aligned { target, weights, arithmetic } = decode(network, &ids, |step, id, limit| on_token(step, &network.token(id), limit))?;
    let end = network.bounds().1;
    let cut_by_limit = target.last() != Some(&end);
    let written = network.written(target.strip_suffix(&[end]).unwrap_or(&target));
    let target = target.iter().map(|&id| network.token(id)).collect();
    let report = alignment_report(network.info(), (source, target), weights, TranslationOutput { text: written, cut_by_limit }, truncated)?;
    Ok(AttentionReport { alignment_arithmetic: Some(arithmetic), ..report })
}

/// The facts a report gives of an aligner: one attention, 1 layer × 1 head, over
/// `positions` slots at most, writing `vocabulary` symbols.
fn aligner_info(name: &str, architecture: &str, positions: usize, vocabulary: usize) -> ModelInfo {
    ModelInfo {
        name: name.to_string(),
        architecture: architecture.into(),
        layers: 1,
        heads: 1,
        kv_heads: 1,
        causal: false,
        max_positions: positions,
        vocab_size: vocabulary,
        kind: crate::report::ModelKind::Translation,
        ..ModelInfo::default()
    }
}

/// The characters a model `kept` of a text, in its `slots`: when there are more, the last
/// `slots` of them (`keep_last`, as Keras's `pad_sequences` cuts) or the first; then padding.
/// `reads` says what the model reads, for a text with none of it.
fn into_slots(kept: Vec<Token>, slots: usize, keep_last: bool, reads: &'static str) -> Result<(Vec<Token>, Option<Truncation>)> {
    if kept.is_empty() {
        return Err(EngineError::NothingToRead { reads });
    }
    let truncated = (kept.len() > slots).then_some(Truncation { limit: slots, total_tokens: kept.len() });
    let from = if keep_last { kept.len().saturating_sub(slots) } else { 0 };
    let mut filled: Vec<Token> = kept.into_iter().skip(from).take(slots).collect();
    filled.resize(slots, Token { id: 0, text: "<pad>".into(), span: None });
    Ok((filled, truncated))
}

/// Symbol `id` of `symbols` as a report shows it, the end as `<end>`.
fn symbol_token(symbols: &[String], end: u32, id: u32) -> Token {
    let text = if id == end { "<end>".to_string() } else { symbols.get(id as usize).cloned().unwrap_or_default() };
    Token { id, text, span: None }
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
    /// Trained by the project (`attnscope train`, the page's Train).
    Trained(Trained),
    /// A memory network trained by the project (`attnscope train memory`): it reads a story
    /// and answers its question, one hop of attention over the sentences after another.
    Memory(memory::MemoryNetwork),
}

/// The architectures [`Aligner::from_bytes`] reads.
const ARCHITECTURES: &[&str] = &["khmer-translit", "cmu-g2p", "arabic-names", seq2seq::ARCHITECTURE, memory::ARCHITECTURE];

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
            seq2seq::ARCHITECTURE => Ok(Self::Trained(Trained::from_bytes(name, files)?)),
            memory::ARCHITECTURE => Ok(Self::Memory(memory::MemoryNetwork::from_bytes(name, files.config, files.vocabulary, files.weights)?)),
            other => Err(EngineError::UnsupportedArchitecture { architecture: other.to_string(), supported: ARCHITECTURES.join(", ") }),
        }
    }

    pub fn info(&self) -> ModelInfo {
        match self {
            Self::KhmerTranslit(model) => Network::info(model),
            Self::CmuG2p(model) => Network::info(model),
            Self::ArabicNames(model) => Network::info(model),
            Self::Trained(model) => Network::info(model),
            Self::Memory(model) => model.info(),
        }
    }

    /// The slots the encoder reads of `text` (padding included), and whether it was cut.
    pub fn source(&self, text: &str) -> Result<(Vec<Token>, Option<Truncation>)> {
        match self {
            Self::KhmerTranslit(model) => Network::source(model, text),
            Self::CmuG2p(model) => Network::source(model, text),
            Self::ArabicNames(model) => Network::source(model, text),
            Self::Trained(model) => Network::source(model, text),
            Self::Memory(model) => {
                let story = model.parse(text)?;
                Ok((story.tokens(), story.truncated))
            }
        }
    }

    /// Decodes the source ids (every slot) greedily: the symbols and each step's weights.
    pub fn align_ids(&self, ids: &[u32]) -> Result<Aligned> {
        match self {
            Self::KhmerTranslit(model) => decode(model, ids, |_, _, _| {}),
            Self::CmuG2p(model) => decode(model, ids, |_, _, _| {}),
            Self::ArabicNames(model) => decode(model, ids, |_, _, _| {}),
            Self::Trained(model) => decode(model, ids, |_, _, _| {}),
            Self::Memory(_) => Err(EngineError::BadStory("a memory network reads a story and its question, not slots of symbols".into())),
        }
    }

    /// Runs `text` and its output greedily: a report with the `source` and `target` sequences
    /// and the `cross` site, telling `on_token(step, token, limit)` each token written.
    pub fn align(&self, text: &str, mut on_token: impl FnMut(usize, &Token, usize)) -> Result<AttentionReport> {
        match self {
            Self::KhmerTranslit(model) => run(model, text, on_token),
            Self::CmuG2p(model) => run(model, text, on_token),
            Self::ArabicNames(model) => run(model, text, on_token),
            Self::Trained(model) => run(model, text, on_token),
            Self::Memory(model) => {
                let report = model.answer(text)?;
                if let Some(answer) = report.sequence("target").and_then(|s| s.tokens.first()) {
                    on_token(0, answer, 1);
                }
                Ok(report)
            }
        }
    }
}
