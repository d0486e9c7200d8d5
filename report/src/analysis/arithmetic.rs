//! The arithmetic of one attention row, step by step, from the raw scores q·k:
//! the model's scaling (1/√d_k for most; Gemma's own scale and Gemma 2's cap), mask,
//! softmax. The variants a student asks about (no scaling, hard attention, a
//! temperature) are the same steps with one thing changed.

use crate::{Mask, Scoring};

/// How to turn raw scores into weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recipe {
    /// Scale (and cap) as the model does; without it, the raw scores enter the softmax.
    pub scale: bool,
    /// Divide by this before the softmax: 1 is the model's own; larger flattens, smaller sharpens.
    pub temperature: f32,
    /// One-hot at the largest visible score instead of the softmax.
    pub hard: bool,
}

impl Default for Recipe {
    fn default() -> Self {
        Self { scale: true, temperature: 1.0, hard: false }
    }
}

/// Every intermediate row, for showing the steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Steps {
    /// q·k for each key.
    pub dot: Vec<f32>,
    /// After the scaling (and the temperature): what enters the softmax.
    pub scaled: Vec<f32>,
    /// `None` where the mask hides the key (an additive -∞).
    pub masked: Vec<Option<f32>>,
    /// The resulting weights; they sum to 1.
    pub weights: Vec<f32>,
}

/// Steps one row: `dot` holds q·k per key, `visible` says which keys the mask lets
/// the query see, `scoring` is how the model scaled them.
pub fn steps(dot: &[f32], visible: &[bool], scoring: Scoring, recipe: Recipe) -> Steps {
    let temperature = if recipe.temperature > 0.0 { recipe.temperature } else { f32::MIN_POSITIVE };
    let scaled: Vec<f32> = dot.iter().map(|&d| if recipe.scale { scoring.apply(d) } else { d } / temperature).collect();
    let masked: Vec<Option<f32>> = scaled.iter().zip(visible).map(|(&s, &v)| v.then_some(s)).collect();
    let max = masked.iter().flatten().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights = if recipe.hard {
        // All of the weight on the first largest visible score.
        let winner = masked.iter().position(|s| *s == Some(max));
        (0..dot.len()).map(|i| if Some(i) == winner { 1.0 } else { 0.0 }).collect()
    } else {
        let exps: Vec<f32> = masked.iter().map(|s| s.map_or(0.0, |s| (s - max).exp())).collect();
        let total: f32 = exps.iter().sum();
        exps.iter().map(|e| if total > 0.0 { e / total } else { 0.0 }).collect()
    };
    Steps { dot: dot.to_vec(), scaled, masked, weights }
}

/// The scaling in words, as a formula shows it: "÷ √64" for the standard 1/√d_k,
/// else "× 0.0625"; a cap adds "then 50·tanh(· ÷ 50)".
pub fn scoring_text(scoring: Scoring, head_dim: usize) -> String {
    let uncapped = Scoring { softcap: None, ..scoring };
    let scale = if uncapped.is_standard(head_dim) { format!("÷ √{head_dim}") } else { format!("× {}", scoring.scale) };
    match scoring.softcap {
        Some(cap) => format!("{scale}, then {cap}·tanh(· ÷ {cap})"),
        None => scale,
    }
}

/// Which keys query `query` sees among `tokens` under `mask`, on a layer with sliding
/// window `window` (see [`Mask::sees`]).
pub fn visible_keys(query: usize, tokens: usize, mask: Mask, window: Option<usize>) -> Vec<bool> {
    (0..tokens).map(|k| mask.sees(query, k, window)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_of_scaled_scores_by_hand() {
        // d_k = 4: scores [2, 0] scale to [1, 0]; softmax = [e/(e+1), 1/(e+1)].
        let s = steps(&[2.0, 0.0], &[true, true], Scoring::standard(4), Recipe::default());
        assert_eq!(s.scaled, vec![1.0, 0.0]);
        let e = 1f32.exp();
        assert!((s.weights[0] - e / (e + 1.0)).abs() < 1e-6);
        assert!((s.weights[1] - 1.0 / (e + 1.0)).abs() < 1e-6);
    }

    #[test]
    fn masked_keys_get_nothing_and_the_rest_sum_to_one() {
        let s = steps(&[1.0, 5.0, 3.0], &visible_keys(1, 3, Mask::Causal, None), Scoring::standard(1), Recipe::default());
        assert_eq!(s.masked, vec![Some(1.0), Some(5.0), None]);
        assert_eq!(s.weights[2], 0.0);
        assert!((s.weights.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn no_scaling_sharpens_and_temperature_flattens() {
        let d16 = Scoring::standard(16);
        let base = steps(&[8.0, 0.0], &[true, true], d16, Recipe::default());
        let unscaled = steps(&[8.0, 0.0], &[true, true], d16, Recipe { scale: false, ..Recipe::default() });
        assert!(unscaled.weights[0] > base.weights[0]);
        let hot = steps(&[8.0, 0.0], &[true, true], d16, Recipe { temperature: 100.0, ..Recipe::default() });
        assert!((hot.weights[0] - 0.5).abs() < 0.01, "{:?}", hot.weights);
    }

    #[test]
    fn hard_attention_is_one_hot_at_the_largest_visible_score() {
        let s = steps(&[1.0, 3.0, 9.0], &[true, true, false], Scoring::standard(1), Recipe { hard: true, ..Recipe::default() });
        assert_eq!(s.weights, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn a_models_own_scale_and_cap_are_applied_in_order() {
        // Gemma 2's way: × scale, then cap · tanh(x / cap). 80 × 0.5 = 40; 50·tanh(0.8).
        let capped = Scoring { scale: 0.5, softcap: Some(50.0) };
        let s = steps(&[80.0, 0.0], &[true, true], capped, Recipe::default());
        assert!((s.scaled[0] - 50.0 * 0.8f32.tanh()).abs() < 1e-4, "{:?}", s.scaled);
        assert_eq!(s.scaled[1], 0.0);
        assert_eq!(scoring_text(capped, 256), "× 0.5, then 50·tanh(· ÷ 50)");
        assert_eq!(scoring_text(Scoring::standard(64), 64), "÷ √64");
        assert_eq!(scoring_text(Scoring { scale: 1.0 / 16.0, softcap: None }, 64), "× 0.0625");
    }
}
