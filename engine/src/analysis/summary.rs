//! Per-head and per-layer summaries of a report's maps.

use crate::report::AttentionMaps;

/// The mean of a layer's heads: one [query, key] map, row-major.
pub fn layer_mean(maps: &AttentionMaps, layer: usize) -> Vec<f32> {
    let n = maps.tokens() * maps.tokens();
    let mut mean = vec![0.0; n];
    for head in 0..maps.heads() {
        for (m, w) in mean.iter_mut().zip(maps.head(layer, head)) {
            *m += w;
        }
    }
    let heads = maps.heads().max(1) as f32;
    mean.iter_mut().for_each(|m| *m /= heads);
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

#[cfg(test)]
mod tests {
    use super::*;

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
