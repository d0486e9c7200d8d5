//! What a layer's attention half is handed: the run's positions, masks and rotary tables, its
//! keys and values joined to the cache, and the one call that attends (whole, pooled, or with
//! heads changed, as the pass says) and tells the observers.

use candle_core::{Device, Tensor};

use super::{Pass, Span};
use crate::arch::rotary::Rotary;
use crate::attention::{additive_mask_from, attend_pooled, Pooled};
use crate::intervention::copies::attend_changed;
use crate::observe::{Attended, Keys, Maps};
use crate::prefix::KvCache;
use crate::report::{Mask, Scoring};

/// The positions of one call of [`Pass::through`], and what is made from them once per call.
pub(super) struct Positions {
    mask: Mask,
    /// What a decoder's cross-attention reads, [memory, hidden].
    memory: Option<Tensor>,
    /// The first position that runs (after those a cache holds), and how many there are in all.
    start: usize,
    tokens: usize,
    copies: usize,
    device: Device,
    /// Each rotary embedding's tables for these positions, by the embedding's address.
    tables: Vec<(usize, (Tensor, Tensor))>,
}

impl Positions {
    pub(super) fn new(span: Span, copies: usize, device: &Device) -> Self {
        let Span { mask, positions, memory } = span;
        Self { mask, memory: memory.cloned(), start: positions.start, tokens: positions.end, copies, device: device.clone(), tables: Vec::new() }
    }
}

/// A layer's way into the run while its attention half runs.
pub struct Attending<'a> {
    layer: usize,
    pass: &'a mut Pass,
    positions: &'a mut Positions,
    cache: Option<&'a mut KvCache>,
}

impl<'a> Attending<'a> {
    pub(super) fn new(layer: usize, pass: &'a mut Pass, positions: &'a mut Positions, cache: Option<&'a mut KvCache>) -> Self {
        Self { layer, pass, positions, cache }
    }

    /// The layer's index.
    pub fn layer(&self) -> usize {
        self.layer
    }

    pub fn device(&self) -> &Device {
        &self.positions.device
    }

    /// The positions that run: `start..tokens` (`start` > 0 when a cache holds the ones before).
    pub fn positions(&self) -> std::ops::Range<usize> {
        self.positions.start..self.positions.tokens
    }

    /// The run's additive mask ([`additive_mask_from`]) for a layer with sliding window
    /// `window`, [new, tokens], made once per run: a run that pauses between layers goes on
    /// in later calls, and a long text's mask is tens of MB (67 MB at 4,096 tokens) that took
    /// longer to make than some of its layers. The layers that share it share its storage.
    pub fn mask(&mut self, window: Option<usize>) -> candle_core::Result<Option<Tensor>> {
        let Positions { mask, start, tokens, .. } = *self.positions;
        let key = (mask, window, start, tokens);
        if let Some((_, made)) = self.pass.masks.iter().find(|(k, _)| *k == key) {
            return Ok(made.clone());
        }
        let made = additive_mask_from(mask, window, start, tokens, &self.positions.device)?;
        self.pass.masks.push((key, made.clone()));
        Ok(made)
    }

    /// cos and sin of `rotary`'s angles at the positions that run, [new, rotated / 2] each,
    /// repeated for every copy of a batched run; made once per call for all the layers.
    pub fn rotary_tables(&mut self, rotary: &Rotary) -> candle_core::Result<(Tensor, Tensor)> {
        let address = rotary as *const Rotary as usize;
        if let Some((_, tables)) = self.positions.tables.iter().find(|(a, _)| *a == address) {
            return Ok(tables.clone());
        }
        let (cos, sin) = rotary.tables(self.positions.start, self.positions.tokens, &self.positions.device)?;
        let each_copy = |table: Tensor| match self.positions.copies {
            1 => Ok(table),
            copies => table.repeat((copies, 1)),
        };
        let tables = (each_copy(cos)?, each_copy(sin)?);
        self.positions.tables.push((address, tables.clone()));
        Ok(tables)
    }

    /// The layer's keys and values of every position, [kv_heads, tokens, d] each, from those of
    /// the positions that run: the cached ones first, where the run continues from a cache
    /// (the new ones join it).
    pub fn keys_values(&mut self, k: Tensor, v: Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        KvCache::join(self.cache.as_deref_mut(), self.layer, k, v)
    }

    /// softmax(scoring(q·kᵀ) + mask) · v for the layer (see [`crate::attention::attend`]),
    /// as the pass attends: whole, pooled, or with heads changed. `q` [heads, new, d]; `k`, `v`
    /// [heads, keys, d] (key/value heads repeated to the query heads); returns the heads'
    /// outputs [heads, new, d]. `output_weight` gives the output projection [hidden, heads · d],
    /// called only when an observer needs it (a quantized weight is de-quantized only then).
    pub fn attend(
        &mut self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        scoring: Scoring,
        output_weight: impl FnOnce() -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        let layer = self.layer;
        let pass = &mut *self.pass;
        let wants = pass.observers.wants(layer, Keys::Own);
        let output_weight = if wants.output_weight { Some(output_weight()?) } else { None };
        let seen = |out, maps, raw| Attended { layer, keys: Keys::Own, q, k, v, mask, scoring, out, maps, raw, output_weight: output_weight.as_ref() };
        if let Some(pool) = &pass.pool {
            // A head's output can be zeroed or averaged as the maps are pooled; a pattern put
            // in its place, or several copies of the input, need the whole maps.
            let change = pass.changes.first().and_then(|c| c.layer(layer));
            if pass.changes.len() > 1 || change.is_some_and(|c| c.changes_patterns()) || pass.observers.need_whole_maps() {
                candle_core::bail!("a pooled run keeps block means only: it cannot have patterns patched, be traced, or keep norms or raw scores")
            }
            let Pooled { out, blocks, sums } = attend_pooled(q, k, v, mask, scoring, pool.block, pool.matches.as_ref())?;
            let out = match change {
                Some(change) => change.apply_outputs(out)?,
                None => out,
            };
            pass.observers.attended(&seen(&out, Maps::Pooled { blocks: &blocks, sums: &sums }, None))?;
            return Ok(out);
        }
        let (out, probs, raw) = attend_changed(q, k, v, mask, scoring, wants.raw_scores, &pass.changes, layer)?;
        pass.observers.attended(&seen(&out, Maps::Whole(&probs), raw.as_ref()))?;
        Ok(out)
    }

    /// The memory a decoder's cross-attention reads, [memory, hidden] (`None` but in a decoder).
    pub fn memory(&self) -> Option<&Tensor> {
        self.positions.memory.as_ref()
    }

    /// The memory's keys and values for this layer, [heads, memory, d] each, made by `make`
    /// from the memory once per run (once for every step of a decoder with a cache).
    pub fn memory_keys_values(&mut self, make: impl FnOnce(&Tensor) -> candle_core::Result<(Tensor, Tensor)>) -> candle_core::Result<(Tensor, Tensor)> {
        let Some(memory) = self.positions.memory.clone() else { candle_core::bail!("layer {} reads a memory, and the run has none", self.layer) };
        match self.cache.as_deref_mut() {
            Some(cache) => cache.memory_keys_values(self.layer, || make(&memory)),
            None => make(&memory),
        }
    }

    /// Cross-attention: the queries `q` [heads, new, d] attend to the memory's keys and
    /// values [heads, memory, d], unmasked; returns the heads' outputs [heads, new, d].
    pub fn attend_memory(
        &mut self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scoring: Scoring,
        output_weight: impl FnOnce() -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        let layer = self.layer;
        let wants = self.pass.observers.wants(layer, Keys::Memory);
        let output_weight = if wants.output_weight { Some(output_weight()?) } else { None };
        let (out, probs, raw) = crate::attention::attend(q, k, v, None, scoring, wants.raw_scores)?;
        let seen = Attended {
            layer,
            keys: Keys::Memory,
            q,
            k,
            v,
            mask: None,
            scoring,
            out: &out,
            maps: Maps::Whole(&probs),
            raw: raw.as_ref(),
            output_weight: output_weight.as_ref(),
        };
        self.pass.observers.attended(&seen)?;
        Ok(out)
    }

    /// This layer's recurrent state after the position before those that run (`None` at
    /// the first position, or without a cache).
    pub fn state(&self) -> Option<&Tensor> {
        self.cache.as_deref().and_then(|cache| cache.state(self.layer))
    }

    /// Keeps this layer's recurrent state after the last position that ran, for the next call.
    pub fn keep_state(&mut self, state: Tensor) {
        if let Some(cache) = self.cache.as_deref_mut() {
            cache.set_state(self.layer, state);
        }
    }
}
