//! The score functions of attention before the Transformer: how well a query (the decoder's
//! state) matches each key (an encoder state), before the softmax turns scores into weights.

/// Keras's `AdditiveAttention(use_scale=True)`: score_j = Σ_d scale_d · tanh(q_d + k_jd), the
/// query added to each key unprojected (Bahdanau's vᵀ tanh(W₁h + W₂s) with W₂ = I, the keys'
/// own projection as W₁, and `scale` as v).
/// query [d], keys [slots][d] → [slots]
pub fn keras_additive(query: &[f32], keys: &[Vec<f32>], scale: &[f32]) -> Vec<f32> {
    keys.iter().map(|key| key.iter().zip(query).zip(scale).map(|((&k, &q), &v)| v * (q + k).tanh()).sum()).collect()
}

/// Bahdanau's additive score, and Luong's concat (the same form, with W_a = [W₁ W₂]):
/// score_j = vᵀ tanh(q W_q + k_j W_k), W_q [d_q, a] and W_k [d_k, a] as x·W, v [a].
/// query [d_q], keys [slots][d_k] → [slots]
pub fn additive(query: &[f32], keys: &[Vec<f32>], (w_query, w_key): (&[f32], &[f32]), v: &[f32]) -> Vec<f32> {
    let a = v.len();
    let project = |x: &[f32], w: &[f32]| -> Vec<f32> {
        let mut out = vec![0.0; a];
        for (i, &xi) in x.iter().enumerate() {
            for (o, &wij) in out.iter_mut().zip(&w[i * a..(i + 1) * a]) {
                *o += xi * wij;
            }
        }
        out
    };
    let from_query = project(query, w_query); // [a], once for every key
    keys.iter().map(|key| project(key, w_key).iter().zip(&from_query).zip(v).map(|((k, q), v)| v * (q + k).tanh()).sum()).collect()
}

/// Luong's local-p: where a step looks, p = slots · σ(v_pᵀ tanh(W_p q)) with W_p [d_q, a] as
/// x·W and v_p [a] (a real number in 0..slots).
pub fn predicted_position(query: &[f32], w_p: &[f32], v_p: &[f32], slots: usize) -> f32 {
    let a = v_p.len();
    let hidden = (0..a).map(|j| query.iter().enumerate().map(|(i, q)| q * w_p[i * a + j]).sum::<f32>().tanh());
    let logit: f32 = hidden.zip(v_p).map(|(h, v)| h * v).sum();
    slots as f32 / (1.0 + (-logit).exp())
}

/// Luong's local-p weights: the softmax of `scores` inside the window [p − d, p + d] (zero
/// outside it), each times exp(−(s − p)² / (2 (d/2)²)), not normalised again (as published).
pub fn local_p_weights(scores: &[f32], p: f32, d: usize) -> Vec<f32> {
    let inside = |s: usize| (s as f32 - p).abs() <= d as f32;
    let largest = scores.iter().enumerate().filter(|&(s, _)| inside(s)).map(|(_, &v)| v).fold(f32::NEG_INFINITY, f32::max);
    let exponentials: Vec<f32> = scores.iter().enumerate().map(|(s, &v)| if inside(s) { (v - largest).exp() } else { 0.0 }).collect();
    let total: f32 = exponentials.iter().sum();
    let sigma = (d as f32 / 2.0).max(f32::MIN_POSITIVE);
    exponentials.iter().enumerate().map(|(s, e)| if total > 0.0 { e / total * (-(s as f32 - p).powi(2) / (2.0 * sigma * sigma)).exp() } else { 0.0 }).collect()
}

/// Luong's dot score: score_j = query · key_j (the decoder's state against each encoder state).
/// query [d], keys [slots][d] → [slots]
pub fn dot(query: &[f32], keys: &[Vec<f32>]) -> Vec<f32> {
    keys.iter().map(|key| key.iter().zip(query).map(|(k, q)| k * q).sum()).collect()
}

/// The softmax of `scores`, shifted by their largest so that no exponential overflows.
pub fn softmax(scores: &[f32]) -> Vec<f32> {
    let largest = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exponentials: Vec<f32> = scores.iter().map(|&s| (s - largest).exp()).collect();
    let total: f32 = exponentials.iter().sum();
    exponentials.iter().map(|e| e / total).collect()
}

/// Σ_j weights_j · values_j: what the step reads.
/// weights [slots], values [slots][d] → [d]
pub fn weighted_sum(weights: &[f32], values: &[Vec<f32>]) -> Vec<f32> {
    let mut context = vec![0.0; values.first().map_or(0, Vec::len)];
    for (w, value) in weights.iter().zip(values) {
        for (c, v) in context.iter_mut().zip(value) {
            *c += w * v;
        }
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_additive_scores_by_hand() {
        // q = [0.5, -1], keys [1, 0] and [-0.5, 2], scale [2, 0.5].
        let scores = keras_additive(&[0.5, -1.0], &[vec![1.0, 0.0], vec![-0.5, 2.0]], &[2.0, 0.5]);
        let expected = [2.0 * 1.5f64.tanh() + 0.5 * (-1f64).tanh(), 2.0 * 0f64.tanh() + 0.5 * 1f64.tanh()];
        for (got, want) in scores.iter().zip(expected) {
            assert!((*got as f64 - want).abs() < 1e-6, "{scores:?} against {expected:?}");
        }
    }

    #[test]
    fn bahdanaus_additive_score_by_hand() {
        // q [1, 2], W_q = [[1, 0], [0, -1]] (rows are inputs), one key [3] with W_k = [[0.5, 1]],
        // v = [2, -1]: q W_q = [1, -2], k W_k = [1.5, 3], score = 2 tanh(2.5) − tanh(1).
        let scores = additive(&[1.0, 2.0], &[vec![3.0]], (&[1.0, 0.0, 0.0, -1.0], &[0.5, 1.0]), &[2.0, -1.0]);
        let expected = 2.0 * 2.5f64.tanh() - 1f64.tanh();
        assert!((scores[0] as f64 - expected).abs() < 1e-6, "{scores:?} against {expected}");
    }

    #[test]
    fn local_p_looks_around_its_predicted_position() {
        // v_pᵀ tanh(W_p q) = 0 gives σ = 0.5: the middle of 10 slots.
        assert_eq!(predicted_position(&[1.0], &[0.0], &[1.0], 10), 5.0);
        // Window 4 ± 2 over equal scores: a fifth each before the Gaussian (σ = 1).
        let weights = local_p_weights(&[0.0; 8], 4.0, 2);
        let expected: Vec<f64> = (0..8).map(|s: i32| if (s - 4).abs() <= 2 { 0.2 * (-((s - 4) as f64).powi(2) / 2.0).exp() } else { 0.0 }).collect();
        for (got, want) in weights.iter().zip(&expected) {
            assert!((*got as f64 - want).abs() < 1e-6, "{weights:?} against {expected:?}");
        }
    }

    #[test]
    fn softmax_weights_sum_to_one_and_keep_the_order() {
        let weights = softmax(&[1.0, 3.0, 2.0]);
        assert!((weights.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(weights[1] > weights[2] && weights[2] > weights[0]);
        // A score far above the others takes every weight, and nothing overflows.
        assert_eq!(softmax(&[1.0, 1000.0]), [0.0, 1.0]);
        assert_eq!(weighted_sum(&[0.25, 0.75], &[vec![4.0, 0.0], vec![0.0, 8.0]]), [1.0, 6.0]);
    }
}
