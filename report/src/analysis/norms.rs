//! Value-weighted attention (Kobayashi et al., 2020, "Attention is not only a
//! weight"): a head's output at query i is Σ_j α_ij f(x_j), so how much token j moves
//! it is ‖α_ij f(x_j)‖ = α_ij ‖f(x_j)‖, not α_ij alone. A head that pours its
//! attention on a token whose value is near zero (a sink) does little with it.

use crate::{AttentionMaps, ValueNorms};

/// One head's map weighted by its value norms: α_ij ‖f(x_j)‖, [query, key] row-major.
/// Empty when the norms do not cover the head.
pub fn value_weighted(maps: &AttentionMaps, norms: &ValueNorms, layer: usize, head: usize) -> Vec<f32> {
    let n = maps.tokens();
    let norms = norms.head(layer, head);
    if norms.len() != n || layer >= maps.layers() || head >= maps.heads() {
        return Vec::new();
    }
    maps.head(layer, head).chunks(n).flat_map(|row| row.iter().zip(norms).map(|(a, f)| a * f)).collect()
}

/// Each row of a value-weighted map as shares of its total: where the head's output
/// for that query comes from. Rows with nothing in them stay zero.
pub fn row_shares(weighted: &[f32], tokens: usize) -> Vec<f32> {
    weighted
        .chunks(tokens.max(1))
        .flat_map(|row| {
            let total: f32 = row.iter().sum();
            row.iter().map(move |&w| if total > 0.0 { w / total } else { 0.0 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One layer, two heads, two tokens.
    fn maps() -> AttentionMaps {
        AttentionMaps::from_flat(1, 2, 2, vec![1.0, 0.0, 0.75, 0.25, 0.5, 0.5, 0.5, 0.5]).unwrap()
    }

    #[test]
    fn each_key_is_scaled_by_its_own_value_norm() {
        let norms = ValueNorms { norms: vec![vec![vec![2.0, 4.0], vec![0.0, 3.0]]] };
        // Head 0: [1·2, 0·4; .75·2, .25·4]; head 1: the sink (token 0) has no value.
        assert_eq!(value_weighted(&maps(), &norms, 0, 0), vec![2.0, 0.0, 1.5, 1.0]);
        assert_eq!(value_weighted(&maps(), &norms, 0, 1), vec![0.0, 1.5, 0.0, 1.5]);
        assert_eq!(row_shares(&value_weighted(&maps(), &norms, 0, 1), 2), vec![0.0, 1.0, 0.0, 1.0]);
        assert_eq!(row_shares(&[1.5, 0.5, 0.0, 0.0], 2), vec![0.75, 0.25, 0.0, 0.0]);
    }

    #[test]
    fn norms_of_another_shape_give_nothing() {
        let norms = ValueNorms { norms: vec![vec![vec![2.0, 4.0, 1.0]]] };
        assert!(value_weighted(&maps(), &norms, 0, 0).is_empty());
        assert!(value_weighted(&maps(), &norms, 0, 1).is_empty());
        assert!(value_weighted(&maps(), &norms, 1, 0).is_empty());
    }
}
