//! Reusing the beginning of the previous causal run. A person types at the end of a
//! text: under the causal mask the unchanged beginning has the same keys, values and
//! attention rows as before, so only the new positions need to run.

use crate::attention::KvCache;
use crate::report::AttentionMaps;

/// The most weights a kept run may hold: the page's 128 tokens of SmolLM2 need 4.42 M
/// (17.7 MB). A longer run is not kept, so the cache never costs the worker more.
pub const MAX_KEPT_WEIGHTS: usize = 4_500_000;

/// What a causal run leaves for the next: its token ids, keys and values, and maps.
pub struct PrefixCache {
    pub ids: Vec<u32>,
    pub kv: KvCache,
    pub maps: AttentionMaps,
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
