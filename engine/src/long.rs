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

use crate::attention::{KeptLayer, Recorded, Recorder};
use crate::error::{EngineError, Result};
use crate::report::{AttentionMaps, AttentionReport, MapForm, Mask, Token, Truncation};
use crate::Model;

/// A run whose report holds its maps pooled ([`MapForm::Pooled`]), and what computes any
/// head's whole map again.
pub struct PooledRun {
    pub report: AttentionReport,
    layers: Vec<KeptLayer>,
}

impl PooledRun {
    /// Head `head` of `layer`'s whole map, flat [query, key], as the run computed it.
    pub fn head_map(&self, layer: usize, head: usize) -> Result<Vec<f32>> {
        let kept = self.layers.get(layer).ok_or(EngineError::NoSuchLayer { layer, layers: self.layers.len() })?;
        if head >= kept.heads() {
            return Err(EngineError::NoSuchHead { head, heads: kept.heads() });
        }
        Ok(kept.map(head)?)
    }
}

impl Model {
    /// Runs `text` (at most `max_tokens`, as [`Model::run_text`] cuts it) under `mask`,
    /// keeping every map pooled into `block` × `block` blocks.
    pub fn run_pooled(&self, text: &str, mask: Mask, block: usize, max_tokens: Option<usize>) -> Result<PooledRun> {
        self.run_pooled_telling(text, mask, block, max_tokens, |_, _| ())
    }

    /// [`Model::run_pooled`], telling `progress(layers done, layers)` as each layer attends.
    pub fn run_pooled_telling(&self, text: &str, mask: Mask, block: usize, max_tokens: Option<usize>, progress: impl FnMut(usize, usize) + 'static) -> Result<PooledRun> {
        let (tokens, truncated) = self.tokens_of(text, max_tokens)?;
        self.run_pooled_tokens(tokens, truncated, mask, block, progress)
    }

    /// The same for token ids as they are.
    pub fn run_pooled_ids(&self, ids: &[u32], mask: Mask, block: usize) -> Result<PooledRun> {
        self.run_pooled_tokens(self.tokens_of_ids(ids)?, None, mask, block, |_, _| ())
    }

    fn run_pooled_tokens(&self, tokens: Vec<Token>, truncated: Option<Truncation>, mask: Mask, block: usize, mut progress: impl FnMut(usize, usize) + 'static) -> Result<PooledRun> {
        let (layers, heads, t) = (self.info.layers, self.info.heads, tokens.len());
        let ids = self.checked_ids(&tokens)?;
        let block = block.max(1);
        let blocks = t.div_ceil(block);
        let mut recorder = Recorder::new(layers * heads * blocks * blocks, None, false)
            .pooling(block)
            .keeping_queries_and_keys()
            .telling(move |layer| progress(layer + 1, layers));
        let logits = self.network.forward(&ids, mask, &mut recorder, None)?;
        let Recorded { probabilities, kept, .. } = recorder.finish();
        let kept = kept.unwrap_or_default();
        if kept.len() != layers {
            let why = format!("the {} network kept {} of its {layers} layers' queries and keys", self.info.architecture, kept.len());
            return Err(candle_core::Error::Msg(why).into());
        }
        let maps = AttentionMaps::from_shape([layers, heads, blocks, blocks], probabilities).ok_or_else(|| candle_core::Error::Msg("the network returned pooled attention of the wrong size".into()))?;
        let mut report = self.assemble(tokens, truncated, mask, maps, logits.as_deref());
        report.sites[0].form = MapForm::Pooled { block, queries: t, keys: t };
        Ok(PooledRun { report, layers: kept })
    }
}
