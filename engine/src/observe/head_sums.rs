//! A pooled run's head scores, summed stretch by stretch as its heads attend (a pooled run's
//! maps cannot be scored after): each head's [`ScoreSums`], [layer · heads + head].

use super::{Attended, Maps, Observer};
use crate::analysis::heads::{HeadScores, ScoreSums};

#[derive(Default)]
pub struct KeepHeadSums {
    sums: Vec<ScoreSums>,
    layers: usize,
}

impl KeepHeadSums {
    /// Each head's sums, in (layer, head) order.
    pub fn sums(&self) -> &[ScoreSums] {
        &self.sums
    }

    /// Each head's scores from its sums, in (layer, head) order, and the sums.
    pub fn into_scores(self) -> (Vec<HeadScores>, Vec<ScoreSums>) {
        let heads = (self.sums.len() / self.layers.max(1)).max(1);
        let scores = self.sums.iter().enumerate().map(|(i, s)| s.scores(i / heads, i % heads)).collect();
        (scores, self.sums)
    }
}

impl Observer for KeepHeadSums {
    fn attended(&mut self, seen: &Attended) -> candle_core::Result<()> {
        if let Maps::Pooled { sums, .. } = seen.maps {
            self.sums.extend_from_slice(sums);
            self.layers += 1;
        }
        Ok(())
    }
}
