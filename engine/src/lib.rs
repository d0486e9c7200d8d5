//! attnscope's engine: load a real Transformer from bytes, run a text through it,
//! and get every head's attention as an [`AttentionReport`]. No web crates:
//! the same code runs natively (the CLI, the tests) and in wasm (the page's worker).
//!
//! ```no_run
//! let model = engine::Model::from_path("smollm2-135m", "assets/models/smollm2-135m".as_ref())?;
//! let report = model.run_text("The cat sat on the mat", engine::Mask::Causal, None)?;
//! println!("{}", report.attention().weight(0, 0, 5, 1));
//! # Ok::<(), engine::EngineError>(())
//! ```

pub mod any_model;
// The report crate's modules, where the engine's users and its own code have always found
// them: `engine::report::AttentionReport`, `engine::analysis`, `engine::figure`, `engine::export`.
pub use report::{self, analysis, export, figure};
pub mod arch;
pub mod attention;
pub mod audio;
pub mod error;
pub mod forward;
pub mod image;
#[cfg(not(target_arch = "wasm32"))]
pub mod inspect;
pub mod intervention;
pub mod kernels;
pub mod load;
pub mod long;
pub mod observe;
pub mod parallel;
pub mod positions;
pub mod prefix;
pub mod products;
pub mod rnn;
pub mod train;
pub mod transcriber;
pub mod translator;
pub mod vision;

pub use any_model::AnyModel;
pub use error::{EngineError, Result};
pub use intervention::run::{Answer, AnswerToken, EffectMethod, HeadEffects, Sweep, Trace};
pub use intervention::{Ablation, HeadId, Intervention, NextTokenChange};
pub use long::{LongRun, PooledRun};
pub use report::{
    AttentionMaps, AttentionReport, Framing, LayerScores, MapForm, Mask, ModelInfo, ModelKind, NextToken, PatchGrid, PictureInput, Scoring, Sequence, Site,
    Spectrogram, Token, Transcript, TranslationOutput, Truncation, ValueNorms, WeightChoice, WeightPath, WordTiming, FLOAT32_BUDGET_BYTES,
};

use forward::{Network, Pass, Start};
use load::tokenizer::TextTokenizer;
use observe::{KeepMaps, KeepRawScores, KeepValueNorms};
use prefix::{PrefixSlot, Resumed};

/// How many next-token candidates a report lists.
pub const NEXT_TOKENS: usize = 10;

/// The most tokens a text run takes unless a caller asks otherwise. The maps grow
/// with the square of the length (SmolLM2 at 512 tokens: 270 heads × 512² weights,
/// 280 MB), so a model's full context (8192 for SmolLM2) is no sensible default.
pub const DEFAULT_MAX_TOKENS: usize = 512;

/// How a run goes, beyond its input and mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// The most tokens a text runs ([`DEFAULT_MAX_TOKENS`] when `None`).
    pub max_tokens: Option<usize>,
    /// Keep this layer's raw scores q·kᵀ in the report (for the arithmetic view).
    pub scores_of_layer: Option<usize>,
    /// Keep every head's value norms ‖f(x_j)‖ in the report (for value-weighted maps).
    pub value_norms: bool,
    /// Under the causal mask, reuse the keys, values and attention rows of the previous
    /// such run for the beginning the two texts share (see [`prefix`]). Runs that ask
    /// for raw scores or value norms always run whole.
    pub reuse_prefix: bool,
}

/// A loaded model: its facts, its network and (usually) its tokenizer.
pub struct Model {
    info: ModelInfo,
    network: Box<dyn Network>,
    tokenizer: Option<TextTokenizer>,
    /// The beginning-of-sequence token the model was trained with, when its files name one.
    bos: Option<u32>,
    /// What the last run that asked to reuse its beginning left behind.
    prefix: PrefixSlot,
}

impl Model {
    pub(crate) fn new(info: ModelInfo, network: Box<dyn Network>, tokenizer: Option<TextTokenizer>) -> Self {
        Self { info, network, tokenizer, bos: None, prefix: PrefixSlot::default() }
    }

    /// Names the beginning-of-sequence token (ignored when it is not in the vocabulary).
    pub(crate) fn with_bos(mut self, bos: Option<u32>) -> Self {
        self.bos = bos.filter(|&id| (id as usize) < self.info.vocab_size);
        self
    }

    /// The tokens that frame any input: what the tokenizer puts before and after a text
    /// ([CLS] … [SEP] for BERT), or else the beginning-of-sequence token before it.
    pub fn frame(&self) -> (Vec<u32>, Vec<u32>) {
        let from_tokenizer = self.tokenizer.as_ref().and_then(|t| t.encode("a", usize::MAX).ok()).map(|(tokens, _)| {
            let first_text = tokens.iter().position(|t| t.span.is_some()).unwrap_or(tokens.len());
            let last_text = tokens.iter().rposition(|t| t.span.is_some()).map_or(first_text, |i| i + 1);
            let ids = |range: &[Token]| range.iter().map(|t| t.id).collect::<Vec<_>>();
            (ids(&tokens[..first_text]), ids(&tokens[last_text..]))
        });
        match from_tokenizer {
            Some((before, after)) if !before.is_empty() || !after.is_empty() => (before, after),
            _ => (self.bos.into_iter().collect(), Vec::new()),
        }
    }

    /// Loads a GGUF file (weights and tokenizer) from its bytes.
    pub fn from_gguf(name: &str, bytes: &[u8]) -> Result<Self> {
        load::gguf::load(name, std::io::Cursor::new(bytes), WeightChoice::Float32)
    }

    /// Loads a GGUF file from a reader, a tensor at a time (the file's bytes need not all be
    /// in memory: the web worker reads them from JavaScript's), on the weight path `choice`
    /// gives ([`WeightPath::Quantized`] keeps the file's
    /// quantized matrices as they are stored; the report's `ModelInfo::weights` says which ran).
    pub fn from_gguf_reader_on<R: std::io::Read + std::io::Seek>(name: &str, reader: R, choice: WeightChoice) -> Result<Self> {
        load::gguf::load(name, reader, choice)
    }

    /// Loads Hugging Face's config.json + model.safetensors (+ tokenizer.json) from their bytes.
    pub fn from_safetensors(name: &str, config: &[u8], weights: &[u8], tokenizer: Option<&[u8]>) -> Result<Self> {
        load::safetensors::load(name, config, weights, tokenizer)
    }

    /// The same with the weights read a tensor at a time from readers (one per shard):
    /// the files' bytes need not all be in memory (the web worker reads them from JavaScript's).
    pub fn from_safetensors_readers<R: std::io::Read + std::io::Seek>(name: &str, config: &[u8], shards: Vec<R>, tokenizer: Option<&[u8]>) -> Result<Self> {
        load::safetensors::load_from(name, config, shards, tokenizer)
    }

    /// Loads a .gguf file, or a folder with config.json + model.safetensors, or a folder with one .gguf.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(name: &str, path: &std::path::Path) -> Result<Self> {
        load::path::load(name, path, WeightChoice::Float32)
    }

    /// The same on the weight path `weights` gives (it matters only for a GGUF file).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path_on(name: &str, path: &std::path::Path, weights: WeightChoice) -> Result<Self> {
        load::path::load(name, path, weights)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Whether it reads text (it has a tokenizer; without one it runs on token ids only).
    pub fn reads_text(&self) -> bool {
        self.tokenizer.is_some()
    }

    /// The mask the model was trained with: causal for a decoder, none for an encoder.
    pub fn native_mask(&self) -> Mask {
        self.info.native_mask()
    }

    /// Tokenizes `text` and runs it under `mask`. At most `limit` tokens are run
    /// ([`DEFAULT_MAX_TOKENS`] when `None`, and never more than the model's positions);
    /// a longer text is cut and the report says so.
    pub fn run_text(&self, text: &str, mask: Mask, limit: Option<usize>) -> Result<AttentionReport> {
        self.run_text_with(text, mask, RunOptions { max_tokens: limit, ..RunOptions::default() })
    }

    /// [`Model::run_text`] with every option.
    pub fn run_text_with(&self, text: &str, mask: Mask, options: RunOptions) -> Result<AttentionReport> {
        let (tokens, truncated) = self.tokens_of(text, options.max_tokens)?;
        self.run_tokens(tokens, truncated, mask, options)
    }

    /// The tokens of `text` as the model's tokenizer gives them (framing tokens included), with
    /// no length limit: what a run of the whole text would see.
    pub fn tokenize(&self, text: &str) -> Result<Vec<Token>> {
        let tokenizer = self.tokenizer.as_ref().ok_or(EngineError::NoTokenizer)?;
        Ok(tokenizer.encode(text, usize::MAX)?.0)
    }

    /// Runs the token ids as they are, under `mask`.
    pub fn run_ids(&self, ids: &[u32], mask: Mask) -> Result<AttentionReport> {
        self.run_ids_with(ids, mask, RunOptions::default())
    }

    /// [`Model::run_ids`] with every option (`max_tokens` does not apply: ids are never cut).
    pub fn run_ids_with(&self, ids: &[u32], mask: Mask, options: RunOptions) -> Result<AttentionReport> {
        if ids.is_empty() {
            return Err(EngineError::NoTokens);
        }
        self.run_tokens(self.tokens_of_ids(ids)?, None, mask, options)
    }

    /// The tokens of `text` as a run takes them, cut at `max_tokens`.
    pub(crate) fn tokens_of(&self, text: &str, max_tokens: Option<usize>) -> Result<(Vec<Token>, Option<Truncation>)> {
        if text.trim().is_empty() {
            return Err(EngineError::EmptyText);
        }
        let tokenizer = self.tokenizer.as_ref().ok_or(EngineError::NoTokenizer)?;
        let limit = max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).min(self.info.max_positions).max(1);
        let (tokens, truncated) = tokenizer.encode(text, limit)?;
        if tokens.is_empty() {
            return Err(EngineError::NoTokens);
        }
        Ok((tokens, truncated))
    }

    /// The ids as tokens, checked against the model's positions.
    pub(crate) fn tokens_of_ids(&self, ids: &[u32]) -> Result<Vec<Token>> {
        if ids.is_empty() {
            return Err(EngineError::NoTokens);
        }
        if ids.len() > self.info.max_positions {
            return Err(EngineError::TooManyTokens { given: ids.len(), limit: self.info.max_positions });
        }
        Ok(ids.iter().map(|&id| Token { id, text: self.token_text(id), span: None }).collect())
    }

    /// The tokens' ids, each checked against the vocabulary.
    pub(crate) fn checked_ids(&self, tokens: &[Token]) -> Result<Vec<u32>> {
        let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.info.vocab_size) {
            return Err(EngineError::TokenOutOfRange { id, vocab: self.info.vocab_size });
        }
        Ok(ids)
    }

    fn run_tokens(&self, tokens: Vec<Token>, truncated: Option<Truncation>, mask: Mask, options: RunOptions) -> Result<AttentionReport> {
        let ModelInfo { layers, heads, .. } = self.info;
        let ids = self.checked_ids(&tokens)?;
        if let Some(layer) = options.scores_of_layer.filter(|&layer| layer >= layers) {
            return Err(EngineError::NoSuchLayer { layer, layers });
        }
        let t = ids.len();
        let reuse = options.reuse_prefix && mask == Mask::Causal && options.scores_of_layer.is_none() && !options.value_norms && self.network.caches();
        let Resumed { start, mut kv, maps: previous_maps } = if reuse { self.prefix.take(&ids)? } else { Resumed::default() };
        let mut pass = Pass::new().observing(KeepMaps::with_capacity(layers * heads * (t - start) * t));
        if let Some(layer) = options.scores_of_layer {
            pass = pass.observing(KeepRawScores::of_layer(layer));
        }
        if options.value_norms {
            pass = pass.observing(KeepValueNorms::default());
        }
        let last_logits = pass.run(&*self.network, &ids, mask, reuse.then_some(&mut kv), Start::Embeddings, None)?.logits()?;
        let probabilities = pass.observers.take::<KeepMaps>().map(KeepMaps::into_flat).unwrap_or_default();
        let scores = pass.observers.take::<KeepRawScores>().and_then(KeepRawScores::into_kept);
        let value_norms = pass.observers.take::<KeepValueNorms>().map(KeepValueNorms::into_flat);
        let probabilities = match previous_maps {
            Some(previous) if start > 0 => prefix::assemble(&previous, start, &probabilities, t),
            _ => probabilities,
        };
        let attention = AttentionMaps::from_flat(layers, heads, t, probabilities)
            .ok_or_else(|| candle_core::Error::Msg("the network returned attention of the wrong size".into()))?;
        if reuse {
            self.prefix.keep(ids, kv, &attention);
        }
        let scores =
            options.scores_of_layer.zip(scores).map(|(layer, (head_dim, scoring, flat))| LayerScores::from_flat(layer, head_dim, scoring, heads, t, &flat));
        let value_norms = value_norms.map(|flat| ValueNorms::from_flat(heads, t, &flat));
        let mut report = AttentionReport { value_norms, reused_tokens: start, ..self.assemble(tokens, truncated, mask, attention, last_logits.as_deref()) };
        report.sites[0].scores.extend(scores);
        Ok(report)
    }

    /// The report of a run: its tokens, maps and, where the model cannot see ahead, the
    /// next-token guess from `logits`.
    pub(crate) fn assemble(
        &self,
        tokens: Vec<Token>,
        truncated: Option<Truncation>,
        mask: Mask,
        attention: AttentionMaps,
        logits: Option<&[f32]>,
    ) -> AttentionReport {
        let next_tokens = match (mask, logits) {
            (Mask::Causal, Some(logits)) if self.info.causal => Some(self.top_tokens(logits, NEXT_TOKENS)),
            _ => None,
        };
        AttentionReport { truncated, next_tokens, ..AttentionReport::one_sequence(self.info.clone(), mask, tokens, attention) }
    }

    /// The text a person reads for a token id.
    pub fn token_text(&self, id: u32) -> String {
        match &self.tokenizer {
            Some(tokenizer) => tokenizer.token_text(id),
            None => format!("#{id}"),
        }
    }

    /// The `k` likeliest tokens, with softmax probabilities over the whole vocabulary.
    fn top_tokens(&self, logits: &[f32], k: usize) -> Vec<NextToken> {
        let total = intervention::SoftmaxTotal::of(logits);
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        order
            .into_iter()
            .take(k)
            .map(|i| NextToken { id: i as u32, text: self.token_text(i as u32), logit: logits[i], probability: total.probability(logits[i]) })
            .collect()
    }
}

impl Model {
    /// How its network tells each token where it stands, each table's first `shown` rows.
    pub fn network_positions(&self, shown: usize) -> Vec<report::positions::PositionSet> {
        self.network.positions(shown)
    }

    /// Runs the induction probe (see [`analysis::probe`]) once per seed under the causal
    /// mask; returns every head's mean scores and the first seed's report (to show the
    /// pattern); `progress(done, total)` after each run.
    pub fn induction_probe(
        &self,
        spec: &analysis::probe::ProbeSpec,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(Vec<analysis::probe::ProbeScores>, AttentionReport)> {
        use analysis::probe::{mean_scores, probe_ids, score_probe};
        let (before, after) = self.frame();
        let mut runs = Vec::with_capacity(spec.seeds.len());
        let mut first = None;
        for (done, &seed) in spec.seeds.iter().enumerate() {
            let ids =
                probe_ids(&before, &after, self.info.vocab_size, spec.length, seed).ok_or(EngineError::VocabularyTooSmall { vocab: self.info.vocab_size })?;
            let report = self.run_ids(&ids, Mask::Causal)?;
            runs.push(score_probe(report.attention(), before.len(), spec.length));
            first.get_or_insert(report);
            progress(done + 1, spec.seeds.len());
        }
        let first = first.ok_or(EngineError::NoTokens)?;
        Ok((mean_scores(&runs), first))
    }
}
