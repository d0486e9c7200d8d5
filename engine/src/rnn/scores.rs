//! The score functions of attention before the Transformer: how well a query (the decoder's
//! state) matches each key (an encoder state), before the softmax turns scores into weights.

/// Keras's `AdditiveAttention(use_scale=True)`: score_j = Σ_d scale_d · tanh(q_d + k_jd), the
/// query added to each key unprojected (Bahdanau's vᵀ tanh(W₁h + W₂s) with W₂ = I, the keys'
/// own projection as W₁, and `scale` as v).
/// query [d], keys [slots][d] → [slots]
pub fn keras_additive(query: &[f32], keys: &[Vec<f32>], scale: &[f32]) -> Vec<f32> {
    keys.iter().map(|key| key.iter().zip(query).zip(scale).map(|((&k, &q), &v)| v * (q + k).tanh()).sum()).collect()
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
    fn softmax_weights_sum_to_one_and_keep_the_order() {
        let weights = softmax(&[1.0, 3.0, 2.0]);
        assert!((weights.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(weights[1] > weights[2] && weights[2] > weights[0]);
        // A score far above the others takes every weight, and nothing overflows.
        assert_eq!(softmax(&[1.0, 1000.0]), [0.0, 1.0]);
        assert_eq!(weighted_sum(&[0.25, 0.75], &[vec![4.0, 0.0], vec![0.0, 8.0]]), [1.0, 6.0]);
    }
}
