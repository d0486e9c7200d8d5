//! The arithmetic of an RNN aligner's attention (issue 31), from the numbers its run kept:
//! every score function here is a sum over units of one term, score_j = Σ_a term(q_a, k_ja),
//! and the weights are the softmax of the scores (local-p: inside a window, times a Gaussian).
//! Pure functions of the report, so the page and the tests take a step apart the same way.

use serde::{Deserialize, Serialize};

/// How a unit's term is made of the query's and a key's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Term {
    /// v_a · tanh(q_a + k_ja): Bahdanau's additive score (q = s W₂, k_j = h_j W₁), Luong's
    /// concat, Keras's AdditiveAttention (q = s unprojected, v its `scale`).
    Additive { v: Vec<f32> },
    /// q_a · k_ja: Luong's dot (q = s, k_j = h_j) and general (one side through W_a).
    Product,
}

/// Luong's local-p at one step: where it predicted (p) and its half-window D.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalWindow {
    pub position: f32,
    pub window: usize,
}

/// What an aligner's run keeps to take its attention apart: its keys (the same at every step),
/// each step's query, and the score's form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlignmentArithmetic {
    /// The score as its paper or framework writes it ("Bahdanau's additive: vᵀ tanh(W₁h_j + W₂s)").
    pub formula: String,
    /// What q and k are in this model ("q = W₂ s_{i−1}, the previous decoder state").
    pub query_is: String,
    pub key_is: String,
    pub term: Term,
    /// [slots][units]
    pub keys: Vec<Vec<f32>>,
    /// [steps][units]
    pub queries: Vec<Vec<f32>>,
    /// Local-p's window at each step (none for a global score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Vec<LocalWindow>>,
}

impl AlignmentArithmetic {
    /// The terms of step `step`'s score of slot `slot`, one a unit (empty when out of range).
    pub fn terms(&self, step: usize, slot: usize) -> Vec<f32> {
        let (Some(q), Some(k)) = (self.queries.get(step), self.keys.get(slot)) else { return Vec::new() };
        match &self.term {
            Term::Additive { v } => q.iter().zip(k).zip(v).map(|((q, k), v)| v * (q + k).tanh()).collect(),
            Term::Product => q.iter().zip(k).map(|(q, k)| q * k).collect(),
        }
    }

    /// Step `step`'s score of every slot: the sum of its terms.
    pub fn scores(&self, step: usize) -> Vec<f32> {
        (0..self.keys.len()).map(|slot| self.terms(step, slot).iter().sum()).collect()
    }

    /// Step `step`'s weights: the softmax of its scores, or local-p's (the softmax inside
    /// [p − D, p + D], times exp(−(j − p)² / (2 (D/2)²)), not normalised again).
    pub fn weights(&self, step: usize) -> Vec<f32> {
        let scores = self.scores(step);
        let window = self.local.as_ref().and_then(|l| l.get(step)).copied();
        let inside = |j: usize| window.is_none_or(|w| (j as f32 - w.position).abs() <= w.window as f32);
        let largest = scores.iter().enumerate().filter(|&(j, _)| inside(j)).map(|(_, &s)| s).fold(f32::NEG_INFINITY, f32::max);
        let exponentials: Vec<f32> = scores.iter().enumerate().map(|(j, &s)| if inside(j) { (s - largest).exp() } else { 0.0 }).collect();
        let total: f32 = exponentials.iter().sum();
        exponentials
            .iter()
            .enumerate()
            .map(|(j, e)| {
                let gaussian = window.map_or(1.0, |w| {
                    let sigma = (w.window as f32 / 2.0).max(f32::MIN_POSITIVE);
                    (-(j as f32 - w.position).powi(2) / (2.0 * sigma * sigma)).exp()
                });
                if total > 0.0 {
                    e / total * gaussian
                } else {
                    0.0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_taken_apart_by_hand() {
        // Keras's additive form: q = [0.5, −1], keys [1, 0] and [−0.5, 2], v = [2, 0.5].
        let additive = AlignmentArithmetic {
            formula: String::new(),
            query_is: String::new(),
            key_is: String::new(),
            term: Term::Additive { v: vec![2.0, 0.5] },
            keys: vec![vec![1.0, 0.0], vec![-0.5, 2.0]],
            queries: vec![vec![0.5, -1.0]],
            local: None,
        };
        let expected = [2.0 * 1.5f32.tanh() + 0.5 * (-1f32).tanh(), 2.0 * 0f32.tanh() + 0.5 * 1f32.tanh()];
        assert_eq!(additive.terms(0, 0), [2.0 * 1.5f32.tanh(), 0.5 * (-1f32).tanh()]);
        let scores = additive.scores(0);
        assert!((scores[0] - expected[0]).abs() < 1e-6 && (scores[1] - expected[1]).abs() < 1e-6, "{scores:?}");
        let weights = additive.weights(0);
        let e = (expected[0] - expected[1]).exp();
        assert!((weights[0] - e / (1.0 + e)).abs() < 1e-6, "{weights:?}");
        // Local-p over four equal products, p = 1.5 and D = 1: slots 1 and 2 inside, half each,
        // times exp(−0.25 / (2 × 0.25)).
        let local = AlignmentArithmetic {
            term: Term::Product,
            keys: vec![vec![1.0]; 4],
            queries: vec![vec![0.0]],
            local: Some(vec![LocalWindow { position: 1.5, window: 1 }]),
            ..additive
        };
        let half = 0.5 * (-0.5f32).exp();
        assert_eq!(local.weights(0), [0.0, half, half, 0.0]);
        assert!(local.terms(3, 0).is_empty() && local.terms(0, 9).is_empty());
    }
}
