//! Attention rollout (Abnar and Zuidema, 2020): how much each input token flows into
//! each position through every layer. Per layer, the mean of the heads plus the
//! identity (the residual connection), rows renormalised; then the layers multiplied,
//! the last on the left: R = Ã_L · … · Ã_1.

use crate::analysis::summary::layer_mean;
use crate::AttentionMaps;

/// Rollout for one query: how much of each input token reaches position `query`
/// after the last layer. Sums to 1. Computed as the row vector e_q · Ã_L · … · Ã_1,
/// O(layers × n²), cheap enough to follow the pointer.
pub fn rollout_row(maps: &AttentionMaps, query: usize) -> Vec<f32> {
    let n = maps.tokens();
    let mut row: Vec<f64> = (0..n).map(|t| if t == query { 1.0 } else { 0.0 }).collect();
    for layer in (0..maps.layers()).rev() {
        let mean = layer_mean(maps, layer);
        let mut next = vec![0.0; n];
        for (q, &share) in row.iter().enumerate() {
            if share == 0.0 {
                continue;
            }
            // Row q of Ã = (A + I) renormalised; A's rows sum to 1, so the sum is 2.
            let a = &mean[q * n..(q + 1) * n];
            let total = a.iter().map(|&w| w as f64).sum::<f64>() + 1.0;
            for (k, &w) in a.iter().enumerate() {
                next[k] += share * (w as f64 + if k == q { 1.0 } else { 0.0 }) / total;
            }
        }
        row = next;
    }
    row.into_iter().map(|v| v as f32).collect()
}

/// Rollout for every query, [query, input token] row-major; each row sums to 1.
pub fn rollout(maps: &AttentionMaps) -> Vec<f32> {
    (0..maps.tokens()).flat_map(|q| rollout_row(maps, q)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_to_self_keeps_every_token_where_it_is() {
        let maps = AttentionMaps::from_flat(3, 1, 2, [1.0, 0.0, 0.0, 1.0].repeat(3)).unwrap();
        assert_eq!(rollout(&maps), vec![1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn the_last_layer_multiplies_from_the_left() {
        // Layer 0: everyone attends to token 1; layer 1: everyone to token 0 (no mask).
        // Ã0 = [[.5, .5], [0, 1]], Ã1 = [[1, 0], [.5, .5]]; R = Ã1 · Ã0 = [[.5, .5], [.25, .75]]
        // (the other order would give [[.75, .25], [.5, .5]]).
        let maps = AttentionMaps::from_flat(2, 1, 2, vec![0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(rollout(&maps), vec![0.5, 0.5, 0.25, 0.75]);
    }

    #[test]
    fn two_layers_by_hand() {
        // Two tokens, causal: query 1 splits evenly. Ã = [[1, 0], [1/4, 3/4]] per layer
        // ((A + I) renormalised: row 1 = [0.5, 1.5] / 2). Two layers: Ã² row 1 =
        // [1/4 + 3/4 · 1/4, (3/4)²] = [7/16, 9/16].
        let layer = [1.0, 0.0, 0.5, 0.5];
        let maps = AttentionMaps::from_flat(2, 1, 2, layer.repeat(2)).unwrap();
        let r = rollout(&maps);
        assert_eq!(r[..2], [1.0, 0.0]);
        assert!((r[2] - 7.0 / 16.0).abs() < 1e-6 && (r[3] - 9.0 / 16.0).abs() < 1e-6, "{r:?}");
    }
}
