//! Reusing the beginning of the previous causal run. A person types at the end of a
//! text: under the causal mask the unchanged beginning has the same keys, values and
//! attention rows as before, so only the new positions need to run.

use std::sync::Mutex;

use candle_core::Tensor;

use crate::report::AttentionMaps;

/// Every layer's keys (after any rotation) and values for positions 0..len of a causal
/// run: what a run of a text that starts the same way reads instead of computing again.
/// Under the causal mask a position's keys and values depend only on the tokens up to
/// it, so they hold for any text with the same beginning.
///
/// A decoder's cache also holds, per layer, the keys and values of the memory its
/// cross-attention reads (computed once for every step), and a recurrent layer's state
/// after the last position (Marian's SSRU).
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    /// Per layer: keys and values, each [kv_heads, len, d].
    layers: Vec<(Tensor, Tensor)>,
    /// Per layer: the memory's keys and values, [heads, memory, d] each.
    memory: Vec<Option<(Tensor, Tensor)>>,
    /// Per layer: the recurrent state after the last position.
    states: Vec<Option<Tensor>>,
    /// How many positions have run (what a network with no keys of its own holds).
    steps: usize,
}

impl KvCache {
    /// How many positions the cache holds.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(self.steps, |(k, _)| k.dim(1).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `len` positions only. A recurrent state cannot go back.
    pub fn truncate(&mut self, len: usize) -> candle_core::Result<()> {
        if len >= self.len() {
            return Ok(());
        }
        if self.states.iter().any(Option::is_some) {
            candle_core::bail!("a recurrent layer's state cannot go back to position {len}")
        }
        for (k, v) in &mut self.layers {
            *k = k.narrow(1, 0, len)?;
            *v = v.narrow(1, 0, len)?;
        }
        self.steps = len;
        Ok(())
    }

    /// Where a run over `tokens` positions starts with this cache: after the positions it
    /// holds (never all of them: the last position always runs, for its logits), the
    /// cache cut to that. Without a cache, at 0.
    pub fn resume(cache: Option<&mut KvCache>, tokens: usize) -> candle_core::Result<usize> {
        let Some(cache) = cache else { return Ok(0) };
        let start = cache.len().min(tokens.saturating_sub(1));
        cache.truncate(start)?;
        Ok(start)
    }

    /// A run has gone through all of its `tokens` positions.
    pub(crate) fn ran_to(&mut self, tokens: usize) {
        self.steps = tokens;
    }

    /// A layer's keys and values of every position: the cached ones followed by the new
    /// ones (which join the cache); without a cache, the new ones as they are.
    pub fn join(cache: Option<&mut KvCache>, layer: usize, k: Tensor, v: Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        match cache {
            Some(cache) => cache.append(layer, k, v),
            None => Ok((k, v)),
        }
    }

    /// Adds layer `layer`'s keys and values of the new positions ([kv_heads, new, d]) and
    /// returns that layer's keys and values of every position.
    pub fn append(&mut self, layer: usize, k: Tensor, v: Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let both = match self.layers.get(layer) {
            Some((past_k, past_v)) => (Tensor::cat(&[past_k, &k], 1)?, Tensor::cat(&[past_v, &v], 1)?),
            None => (k, v),
        };
        let held = self.layers.len();
        match self.layers.get_mut(layer) {
            Some(slot) => *slot = both.clone(),
            None if layer == held => self.layers.push(both.clone()),
            None => candle_core::bail!("layer {layer}'s keys joined the cache before layer {held}'s"),
        }
        Ok(both)
    }

    /// Layer `layer`'s keys and values of the memory, made by `make` the first time.
    pub(crate) fn memory_keys_values(
        &mut self,
        layer: usize,
        make: impl FnOnce() -> candle_core::Result<(Tensor, Tensor)>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        if self.memory.len() <= layer {
            self.memory.resize(layer + 1, None);
        }
        match &self.memory[layer] {
            Some(kept) => Ok(kept.clone()),
            None => {
                let made = make()?;
                self.memory[layer] = Some(made.clone());
                Ok(made)
            }
        }
    }

    /// Layer `layer`'s recurrent state after the last position, if it has run.
    pub(crate) fn state(&self, layer: usize) -> Option<&Tensor> {
        self.states.get(layer).and_then(Option::as_ref)
    }

    pub(crate) fn set_state(&mut self, layer: usize, state: Tensor) {
        if self.states.len() <= layer {
            self.states.resize(layer + 1, None);
        }
        self.states[layer] = Some(state);
    }
}

/// The most weights a kept run may hold: the page's 128 tokens of SmolLM2 need 4.42 M
/// (17.7 MB). A longer run is not kept, so the cache never costs the worker more.
pub const MAX_KEPT_WEIGHTS: usize = 4_500_000;

/// What a causal run leaves for the next: its token ids, keys and values, and maps.
pub struct PrefixCache {
    pub ids: Vec<u32>,
    pub kv: KvCache,
    pub maps: AttentionMaps,
}

/// Where a model keeps what its last reusing run left (one run's worth).
#[derive(Default)]
pub struct PrefixSlot(Mutex<Option<PrefixCache>>);

/// What a run gets from the slot: how many leading positions it may skip, their keys
/// and values, and the maps whose rows they were (nothing, by default).
#[derive(Default)]
pub struct Resumed {
    pub start: usize,
    pub kv: KvCache,
    pub maps: Option<AttentionMaps>,
}

impl PrefixSlot {
    /// Takes what the slot holds for `ids` (it is empty while the run uses it): the
    /// keys and values cut to the beginning the texts share, since the network
    /// continues from whatever the cache holds.
    pub fn take(&self, ids: &[u32]) -> candle_core::Result<Resumed> {
        let kept = self.0.lock().ok().and_then(|mut kept| kept.take());
        let Some(kept) = kept else { return Ok(Resumed::default()) };
        let start = kept.reusable(ids);
        let mut kv = kept.kv;
        kv.truncate(start)?;
        Ok(Resumed { start, kv, maps: Some(kept.maps) })
    }

    /// Keeps a finished run for the next, unless its maps are too large to keep.
    pub fn keep(&self, ids: Vec<u32>, kv: KvCache, maps: &AttentionMaps) {
        if maps.as_flat().len() <= MAX_KEPT_WEIGHTS {
            if let Ok(mut kept) = self.0.lock() {
                *kept = Some(PrefixCache { ids, kv, maps: maps.clone() });
            }
        }
    }
}

impl PrefixCache {
    /// How many leading positions of `ids` can come from this cache: the common
    /// beginning, less one when it is all of `ids` (the last position always runs,
    /// since its logits give the next-token guess).
    pub fn reusable(&self, ids: &[u32]) -> usize {
        let common = self.ids.iter().zip(ids).take_while(|(a, b)| a == b).count();
        common.min(ids.len().saturating_sub(1)).min(self.kv.len())
    }
}

/// The maps of a continued run, flat [layer, head, query, key] over `tokens` positions:
/// the rows of queries `0..start` from `previous` (zero beyond its keys, as the causal
/// mask has them), and the rest from `rows`, flat [layer, head, tokens - start, tokens].
pub fn assemble(previous: &AttentionMaps, start: usize, rows: &[f32], tokens: usize) -> Vec<f32> {
    let (layers, heads, before) = (previous.layers(), previous.heads(), previous.tokens());
    let new = tokens - start;
    let mut out = vec![0.0; layers * heads * tokens * tokens];
    for (index, map) in out.chunks_mut(tokens * tokens).enumerate() {
        let (layer, head) = (index / heads, index % heads);
        let old = previous.head(layer, head);
        for q in 0..start {
            let keep = before.min(tokens);
            map[q * tokens..q * tokens + keep].copy_from_slice(&old[q * before..q * before + keep]);
        }
        map[start * tokens..].copy_from_slice(&rows[index * new * tokens..(index + 1) * new * tokens]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn the_cache_grows_by_appending_and_truncates() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let part = |values: &[f32]| Tensor::from_slice(values, (1, values.len(), 1), &dev);
        let mut cache = KvCache::default();
        cache.append(0, part(&[1., 2.])?, part(&[10., 20.])?)?;
        let (k, v) = cache.append(0, part(&[3.])?, part(&[30.])?)?;
        assert_eq!(k.flatten_all()?.to_vec1::<f32>()?, vec![1., 2., 3.]);
        assert_eq!(v.flatten_all()?.to_vec1::<f32>()?, vec![10., 20., 30.]);
        assert_eq!(cache.len(), 3);
        cache.truncate(1)?;
        let (k, _) = cache.append(0, part(&[7.])?, part(&[70.])?)?;
        assert_eq!(k.flatten_all()?.to_vec1::<f32>()?, vec![1., 7.]);
        Ok(())
    }

    #[test]
    fn the_common_beginning_is_reused_but_never_the_last_position() {
        let cache = |ids: Vec<u32>| {
            let dev = candle_core::Device::Cpu;
            let mut kv = KvCache::default();
            let part = candle_core::Tensor::zeros((1, ids.len(), 1), candle_core::DType::F32, &dev).unwrap();
            kv.append(0, part.clone(), part).unwrap();
            PrefixCache { ids, kv, maps: AttentionMaps::default() }
        };
        assert_eq!(cache(vec![1, 2, 3]).reusable(&[1, 2, 3, 4]), 3);
        assert_eq!(cache(vec![1, 2, 3]).reusable(&[1, 2, 9, 4]), 2);
        assert_eq!(cache(vec![1, 2, 3]).reusable(&[1, 2, 3]), 2);
        assert_eq!(cache(vec![1, 2, 3, 4]).reusable(&[1, 2]), 1);
        assert_eq!(cache(vec![5]).reusable(&[1, 2]), 0);
    }

    #[test]
    fn kept_rows_and_new_rows_make_the_whole_map() {
        // One layer, one head; before: 2 tokens [[1, 0], [.5, .5]]; now 3 tokens, the
        // last row new: [.2, .3, .5].
        let previous = AttentionMaps::from_flat(1, 1, 2, vec![1.0, 0.0, 0.5, 0.5]).unwrap();
        let whole = assemble(&previous, 2, &[0.2, 0.3, 0.5], 3);
        assert_eq!(whole, vec![1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.2, 0.3, 0.5]);
        // Before: 3 tokens, now 2 (the text was cut back), the last row new.
        let previous = AttentionMaps::from_flat(1, 1, 3, vec![1.0, 0.0, 0.0, 0.4, 0.6, 0.0, 0.1, 0.2, 0.7]).unwrap();
        assert_eq!(assemble(&previous, 1, &[0.3, 0.7], 2), vec![1.0, 0.0, 0.3, 0.7]);
    }
}
