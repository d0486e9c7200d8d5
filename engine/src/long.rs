//! Long texts: a run that keeps its maps pooled, and computes any head's whole map again
//! when a view asks for it.
//!
//! A whole report of SmolLM2 at 4,096 tokens would hold 270 heads × 4,096² weights
//! (18 GB). A pooled run keeps each map as `block` × `block` block means (the grid's
//! thumbnails and the overviews read them) and each layer's queries and keys after
//! position encoding, with the layer's mask and scoring ([`KeptLayer`]): a head's whole
//! map is then one q·kᵀ and one softmax, computed by the same function as in the run,
//! so it equals the whole run's map. The run attends a stretch of query rows at a time
//! ([`crate::attention::QUERY_ROWS`]), so no layer ever holds every weight at once.

use candle_core::Tensor;

use crate::analysis::heads::{Matches, ScoreSums};
use crate::error::{EngineError, Result};
use crate::forward::{Pass, Ran, Start};
use crate::observe::{KeepHeadSums, KeepMaps, KeepQueriesKeys, KeptLayer};
use crate::report::{AttentionMaps, AttentionReport, MapForm, Mask, Token, Truncation};
use crate::Model;

/// A run whose report holds its maps pooled ([`MapForm::Pooled`]), and what computes any
/// head's whole map again.
pub struct PooledRun {
    pub report: AttentionReport,
    layers: Vec<KeptLayer>,
    /// Each head's score sums, [layer · heads + head], over every row of its map.
    sums: Vec<ScoreSums>,
}

impl PooledRun {
    /// Each head's score sums over its whole map, in (layer, head) order: what the report's
    /// head scores are shares of, and what the induction probe reads at any length.
    pub fn head_sums(&self) -> &[ScoreSums] {
        &self.sums
    }

    /// Head `head` of `layer`'s whole map, flat [query, key], as the run computed it.
    pub fn head_map(&self, layer: usize, head: usize) -> Result<Vec<f32>> {
        head_map_of(&self.layers, layer, head)
    }
}

/// Head `head` of `layer`'s whole map from the layers kept (all of a finished run's, the
/// attended ones of a run under way).
fn head_map_of(layers: &[KeptLayer], layer: usize, head: usize) -> Result<Vec<f32>> {
    let kept = layers.get(layer).ok_or(EngineError::NoSuchLayer { layer, layers: layers.len() })?;
    if head >= kept.heads() {
        return Err(EngineError::NoSuchHead { head, heads: kept.heads() });
    }
    Ok(kept.map(head)?)
}

/// A pooled run under way, a few layers at a time ([`Model::go_on`]): a caller that must
/// answer other requests meanwhile (the page's worker, which has one thread) runs a layer,
/// answers, and goes on, or drops the run for a newer text.
pub struct LongRun {
    tokens: Vec<Token>,
    truncated: Option<Truncation>,
    ids: Vec<u32>,
    mask: Mask,
    block: usize,
    /// The model's heads a layer.
    heads: usize,
    pass: Pass,
    /// The layer to go on from and the residual stream entering it (`None` before the first
    /// layer).
    resume: Option<(usize, Tensor)>,
    layers_done: usize,
}

impl LongRun {
    /// How many layers have attended.
    pub fn layers_done(&self) -> usize {
        self.layers_done
    }

    /// How many tokens the run reads.
    pub fn tokens(&self) -> usize {
        self.tokens.len()
    }

    /// Where the text was cut to the tokens asked for, if it was.
    pub fn truncated(&self) -> Option<&Truncation> {
        self.truncated.as_ref()
    }

    /// The pooled maps of `layer` once the run has gone past it, [heads, blocks, blocks]
    /// with blocks = [`LongRun::blocks`]: what the grid shows while the run goes on.
    pub fn pooled_layer(&self, layer: usize) -> Option<&[f32]> {
        let size = self.heads * self.blocks() * self.blocks();
        self.pass.observers.get::<KeepMaps>()?.as_slice().get(layer * size..(layer + 1) * size).filter(|_| layer < self.layers_done)
    }

    /// Head `head` of `layer`'s whole map once the run has gone past the layer: a head of
    /// the grid's filled part can be read before the run ends.
    pub fn head_map(&self, layer: usize, head: usize) -> Result<Vec<f32>> {
        head_map_of(self.pass.observers.get::<KeepQueriesKeys>().map_or(&[], KeepQueriesKeys::layers), layer, head)
    }

    /// How many blocks of tokens each pooled map has a row and a column for.
    pub fn blocks(&self) -> usize {
        self.tokens.len().div_ceil(self.block)
    }
}

impl Model {
    /// Runs `text` (at most `max_tokens`, as [`Model::run_text`] cuts it) under `mask`,
    /// keeping every map pooled into `block` × `block` blocks.
    pub fn run_pooled(&self, text: &str, mask: Mask, block: usize, max_tokens: Option<usize>) -> Result<PooledRun> {
        self.run_pooled_telling(text, mask, block, max_tokens, |_, _| ())
    }

    /// [`Model::run_pooled`], telling `progress(layers done, layers)` as each layer attends.
    pub fn run_pooled_telling(
        &self,
        text: &str,
        mask: Mask,
        block: usize,
        max_tokens: Option<usize>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<PooledRun> {
        let mut run = self.start_pooled(text, mask, block, max_tokens)?;
        loop {
            let done = self.go_on(&mut run, 1)?;
            progress(run.layers_done(), self.info.layers);
            if let Some(done) = done {
                return Ok(done);
            }
        }
    }

    /// The same for token ids as they are.
    pub fn run_pooled_ids(&self, ids: &[u32], mask: Mask, block: usize) -> Result<PooledRun> {
        let mut run = self.start_pooled_ids(ids, mask, block)?;
        loop {
            if let Some(done) = self.go_on(&mut run, self.info.layers)? {
                return Ok(done);
            }
        }
    }

    /// A pooled run of token ids as they are, not begun.
    pub fn start_pooled_ids(&self, ids: &[u32], mask: Mask, block: usize) -> Result<LongRun> {
        self.start_pooled_tokens(self.tokens_of_ids(ids)?, None, mask, block)
    }

    /// A pooled run of `text` that has not begun: [`Model::go_on`] runs it.
    pub fn start_pooled(&self, text: &str, mask: Mask, block: usize, max_tokens: Option<usize>) -> Result<LongRun> {
        let (tokens, truncated) = self.tokens_of(text, max_tokens)?;
        self.start_pooled_tokens(tokens, truncated, mask, block)
    }

    fn start_pooled_tokens(&self, tokens: Vec<Token>, truncated: Option<Truncation>, mask: Mask, block: usize) -> Result<LongRun> {
        self.start_pooled_scoring(tokens, truncated, (mask, block), None)
    }

    /// A pooled run whose heads are scored on `matches`' cells (the text's own repeats when
    /// `None`).
    fn start_pooled_scoring(
        &self,
        tokens: Vec<Token>,
        truncated: Option<Truncation>,
        (mask, block): (Mask, usize),
        matches: Option<Matches>,
    ) -> Result<LongRun> {
        let (layers, heads, t) = (self.info.layers, self.info.heads, tokens.len());
        let ids = self.checked_ids(&tokens)?;
        let block = block.max(1);
        let blocks = t.div_ceil(block);
        let matches = matches.unwrap_or_else(|| Matches::of(&ids));
        let pass = Pass::new()
            .pooled(block, Some(matches))
            .observing(KeepMaps::with_capacity(layers * heads * blocks * blocks))
            .observing(KeepQueriesKeys::default())
            .observing(KeepHeadSums::default());
        Ok(LongRun { tokens, truncated, ids, mask, block, heads, pass, resume: None, layers_done: 0 })
    }

    /// Runs `layers` more layers of `run` (at least one): the finished run once its last
    /// layer has attended, `None` while layers remain.
    pub fn go_on(&self, run: &mut LongRun, layers: usize) -> Result<Option<PooledRun>> {
        let total = self.info.layers;
        let stop = run.layers_done + layers.max(1);
        let start = match run.resume.take() {
            Some((layer, x)) => Start::Layer(layer, x),
            None => Start::Embeddings,
        };
        let logits = match run.pass.run(&*self.network, &run.ids, run.mask, None, start, Some(stop))? {
            Ran::Paused { layer, x } => {
                run.layers_done = layer;
                run.resume = Some((layer, x));
                return Ok(None);
            }
            Ran::Finished { logits } => logits,
        };
        run.layers_done = total;
        let observers = &mut run.pass.observers;
        let probabilities = observers.take::<KeepMaps>().map(KeepMaps::into_flat).unwrap_or_default();
        let kept = observers.take::<KeepQueriesKeys>().map(KeepQueriesKeys::into_layers).unwrap_or_default();
        let (head_scores, head_sums) = observers.take::<KeepHeadSums>().map(KeepHeadSums::into_scores).unzip();
        if kept.len() != total {
            let why = format!("the {} network kept {} of its {total} layers' queries and keys", self.info.architecture, kept.len());
            return Err(candle_core::Error::Msg(why).into());
        }
        let (heads, t, block) = (self.info.heads, run.tokens.len(), run.block);
        let blocks = t.div_ceil(block);
        let maps = AttentionMaps::from_shape([total, heads, blocks, blocks], probabilities)
            .ok_or_else(|| candle_core::Error::Msg("the network returned pooled attention of the wrong size".into()))?;
        let mut report = self.assemble(std::mem::take(&mut run.tokens), run.truncated.take(), run.mask, maps, logits.as_deref());
        report.sites[0].form = MapForm::Pooled { block, queries: t, keys: t };
        report.head_scores = head_scores;
        Ok(Some(PooledRun { report, layers: kept, sums: head_sums.unwrap_or_default() }))
    }
}

/// The induction probe at any length: each seed's probe sequence runs pooled, its heads
/// scored on the probe's cells as they attend, so no whole map is ever held.
impl Model {
    /// The probe sequence of `seed` with `length` random tokens a copy, as a pooled run
    /// (under the causal mask) that has not begun: [`Model::go_on`] runs it, and
    /// [`crate::analysis::probe::score_pooled_probe`] scores the finished run.
    pub fn start_probe(&self, length: usize, seed: u64, block: usize) -> Result<LongRun> {
        let (before, after) = self.frame();
        let ids = crate::analysis::probe::probe_ids(&before, &after, self.info.vocab_size, length, seed)
            .ok_or(EngineError::VocabularyTooSmall { vocab: self.info.vocab_size })?;
        let matches = Matches::probe(before.len(), length, ids.len());
        self.start_pooled_scoring(self.tokens_of_ids(&ids)?, None, (Mask::Causal, block), Some(matches))
    }

    /// [`Model::induction_probe`] with every run pooled into `block` × `block` blocks: the
    /// scores (the seeds' mean) and the first seed's run, telling `progress(layers done,
    /// layers)` over all the seeds' layers.
    pub fn induction_probe_pooled(
        &self,
        spec: &crate::analysis::probe::ProbeSpec,
        block: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(Vec<crate::analysis::probe::ProbeScores>, PooledRun)> {
        use crate::analysis::probe::{mean_scores, score_pooled_probe};
        let layers = self.info.layers;
        let (mut runs, mut first) = (Vec::with_capacity(spec.seeds.len()), None);
        for (i, &seed) in spec.seeds.iter().enumerate() {
            let mut run = self.start_probe(spec.length, seed, block)?;
            let finished = loop {
                let done = self.go_on(&mut run, 1)?;
                progress(i * layers + run.layers_done(), spec.seeds.len() * layers);
                if let Some(done) = done {
                    break done;
                }
            };
            runs.push(score_pooled_probe(&finished.report, finished.head_sums(), spec.length));
            first.get_or_insert(finished);
        }
        Ok((mean_scores(&runs), first.ok_or(EngineError::NoTokens)?))
    }
}
