//! Per-head and per-layer summaries of a report's maps.

use crate::AttentionMaps;

/// The mean of a layer's heads: one [query, key] map, row-major.
pub fn layer_mean(maps: &AttentionMaps, layer: usize) -> Vec<f32> {
    mean_of(maps, (0..maps.heads()).map(|head| (layer, head)))
}

/// The mean of every head of every layer: one [query, key] map, row-major (for a
/// translation's cross-attention, the soft alignment of target to source words).
pub fn all_heads_mean(maps: &AttentionMaps) -> Vec<f32> {
    mean_of(maps, (0..maps.layers()).flat_map(|layer| (0..maps.heads()).map(move |head| (layer, head))))
}

/// The mean of the given (layer, head) maps; any queries × keys.
fn mean_of(maps: &AttentionMaps, heads: impl Iterator<Item = (usize, usize)>) -> Vec<f32> {
    let mut mean = vec![0.0; maps.queries() * maps.keys()];
    let mut count = 0usize;
    for (layer, head) in heads {
        for (m, w) in mean.iter_mut().zip(maps.head(layer, head)) {
            *m += w;
        }
        count += 1;
    }
    let count = count.max(1) as f32;
    mean.iter_mut().for_each(|m| *m /= count);
    mean
}

/// How much weight a head puts on later tokens, averaged over queries: the mass the
/// causal mask forbids. 0 for any causal map; in an unmasked run, how far the head
/// would look ahead if it could. Returned per [layer][head].
pub fn lookahead_mass(maps: &AttentionMaps) -> Vec<Vec<f32>> {
    let n = maps.tokens();
    (0..maps.layers())
        .map(|layer| {
            (0..maps.heads())
                .map(|head| {
                    let map = maps.head(layer, head);
                    let ahead: f32 = (0..n).map(|q| map[q * n + q + 1..(q + 1) * n].iter().sum::<f32>()).sum();
                    ahead / n.max(1) as f32
                })
                .collect()
        })
        .collect()
}

/// Element-wise difference of two equally shaped maps (`a - b`), for the diverging view.
pub fn difference(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// How far each head's map moved between two runs of the same tokens, [layer][head]:
/// the mean over queries of the total variation distance between the rows (half the sum
/// of absolute differences), 0 for a map unchanged, 1 for rows with nothing in common.
/// `None` when the maps' shapes differ.
pub fn map_change(changed: &AttentionMaps, unchanged: &AttentionMaps) -> Option<Vec<Vec<f32>>> {
    let shape = |m: &AttentionMaps| (m.layers(), m.heads(), m.queries(), m.keys());
    if shape(changed) != shape(unchanged) {
        return None;
    }
    let (queries, keys) = (changed.queries(), changed.keys());
    let change = |layer, head| {
        let (a, b) = (changed.head(layer, head), unchanged.head(layer, head));
        let moved: f32 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
        if queries == 0 || keys == 0 {
            0.0
        } else {
            0.5 * moved / queries as f32
        }
    };
    Some((0..changed.layers()).map(|layer| (0..changed.heads()).map(|head| change(layer, head)).collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_change_is_the_mean_total_variation_of_the_rows() {
        // 1 layer × 2 heads of a 2 × 2 map: head 0 unchanged; head 1's first row moved
        // wholly (distance 1), its second by a quarter (distance 0.25).
        let unchanged = AttentionMaps::from_shape([1, 2, 2, 2], vec![1.0, 0.0, 0.5, 0.5, 1.0, 0.0, 0.5, 0.5]).unwrap();
        let changed = AttentionMaps::from_shape([1, 2, 2, 2], vec![1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.75, 0.25]).unwrap();
        assert_eq!(map_change(&changed, &unchanged), Some(vec![vec![0.0, 0.625]]));
        let other = AttentionMaps::from_shape([1, 2, 1, 2], vec![1.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(map_change(&changed, &other), None);
    }

    #[test]
    fn means_of_rectangular_maps() {
        // 2 layers × 2 heads of a 1 × 2 map (one target token over two source tokens).
        let maps = AttentionMaps::from_shape([2, 2, 1, 2], vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0]).unwrap();
        assert_eq!(layer_mean(&maps, 0), vec![0.5, 0.5]);
        assert_eq!(layer_mean(&maps, 1), vec![0.75, 0.25]);
        assert_eq!(all_heads_mean(&maps), vec![0.625, 0.375]);
    }

    fn maps(heads: Vec<Vec<f32>>, tokens: usize) -> AttentionMaps {
        let count = heads.len();
        AttentionMaps::from_flat(1, count, tokens, heads.concat()).unwrap()
    }

    #[test]
    fn a_causal_map_looks_ahead_not_at_all_a_uniform_one_by_half_less_a_bit() {
        // Two tokens. Causal: [[1, 0], [0.5, 0.5]]. Uniform: every weight 0.5.
        let m = maps(vec![vec![1.0, 0.0, 0.5, 0.5], vec![0.5; 4]], 2);
        let mass = lookahead_mass(&m);
        assert_eq!(mass[0][0], 0.0);
        // Uniform: query 0 puts 0.5 ahead, query 1 nothing: mean 0.25.
        assert_eq!(mass[0][1], 0.25);
    }

    #[test]
    fn layer_mean_averages_heads() {
        let m = maps(vec![vec![1.0, 0.0, 0.0, 1.0], vec![0.0, 1.0, 1.0, 0.0]], 2);
        assert_eq!(layer_mean(&m, 0), vec![0.5; 4]);
        assert_eq!(difference(&[1.0, 0.5], &[0.25, 0.5]), vec![0.75, 0.0]);
    }
}
