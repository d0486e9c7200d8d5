//! Raw scores q·kᵀ, before scaling and the softmax (the arithmetic view's): one layer's, or
//! every layer's (a translation's cross-attention, a step at a time).

use candle_core::DType;

use super::{Attended, Keys, Observer, Wants};
use crate::report::Scoring;

/// A layer's raw scores: the layer, the head size, the scoring and the scores, flat
/// [head, query, key].
pub type RawScores = (usize, usize, Scoring, Vec<f32>);

pub struct KeepRawScores {
    /// The layer whose scores to keep (every layer's when `None`).
    layer: Option<usize>,
    keys: Keys,
    kept: Vec<RawScores>,
}

impl KeepRawScores {
    /// Self-attention's raw scores at `layer`.
    pub fn of_layer(layer: usize) -> Self {
        Self { layer: Some(layer), keys: Keys::Own, kept: Vec::new() }
    }

    /// Every layer's raw scores of the attention over `keys`.
    pub fn every_layer(keys: Keys) -> Self {
        Self { layer: None, keys, kept: Vec::new() }
    }

    /// The head size, the scoring and the scores of the one layer asked for, once it has attended.
    pub fn into_kept(self) -> Option<(usize, Scoring, Vec<f32>)> {
        self.kept.into_iter().next().map(|(_, head_dim, scoring, flat)| (head_dim, scoring, flat))
    }

    /// Every layer's kept, in the order they attended.
    pub fn into_all(self) -> Vec<RawScores> {
        self.kept
    }

    fn asks(&self, layer: usize, keys: Keys) -> bool {
        keys == self.keys && self.layer.is_none_or(|l| l == layer)
    }
}

impl Observer for KeepRawScores {
    fn wants(&self, layer: usize, keys: Keys) -> Wants {
        Wants { raw_scores: self.asks(layer, keys), ..Wants::default() }
    }

    fn needs_whole_maps(&self) -> bool {
        true
    }

    fn attended(&mut self, seen: &Attended) -> candle_core::Result<()> {
        if let (true, Some(raw)) = (self.asks(seen.layer, seen.keys), seen.raw) {
            self.kept.push((seen.layer, seen.q.dim(2)?, seen.scoring, raw.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?));
        }
        Ok(())
    }
}
