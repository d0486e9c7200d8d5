//! One layer's raw scores q·kᵀ, before scaling and the softmax (the arithmetic view's).

use candle_core::DType;

use super::{Attended, Observer, Wants};
use crate::report::Scoring;

pub struct KeepRawScores {
    layer: usize,
    /// The head size, the scoring and the scores, flat [head, query, key].
    kept: Option<(usize, Scoring, Vec<f32>)>,
}

impl KeepRawScores {
    pub fn of_layer(layer: usize) -> Self {
        Self { layer, kept: None }
    }

    pub fn layer(&self) -> usize {
        self.layer
    }

    /// The head size, the scoring and the scores, once the layer has attended.
    pub fn into_kept(self) -> Option<(usize, Scoring, Vec<f32>)> {
        self.kept
    }
}

impl Observer for KeepRawScores {
    fn wants(&self, layer: usize) -> Wants {
        Wants { raw_scores: layer == self.layer, ..Wants::default() }
    }

    fn needs_whole_maps(&self) -> bool {
        true
    }

    fn attended(&mut self, seen: &Attended) -> candle_core::Result<()> {
        if let (true, Some(raw)) = (seen.layer == self.layer, seen.raw) {
            self.kept = Some((seen.q.dim(2)?, seen.scoring, raw.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?));
        }
        Ok(())
    }
}
