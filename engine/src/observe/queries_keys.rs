//! Each layer's queries and keys as attention saw them, with its mask and scoring: what
//! computes any head's whole map again (a long text's pooled run keeps no whole map).

use candle_core::Tensor;

use super::{Attended, Keys, Observer};
use crate::attention::probabilities;
use crate::report::Scoring;

/// What computes any head's map of a layer again: its queries and keys after position
/// encoding (keys repeated to the query heads), its mask and scoring.
#[derive(Clone)]
pub struct KeptLayer {
    /// [heads, q, d].
    q: Tensor,
    /// [heads, k, d].
    k: Tensor,
    mask: Option<Tensor>,
    scoring: Scoring,
}

impl KeptLayer {
    /// Head `head`'s whole map, flat [q, k], as the run computed it.
    pub fn map(&self, head: usize) -> candle_core::Result<Vec<f32>> {
        let one = |x: &Tensor| x.narrow(0, head, 1);
        let (probs, _) = probabilities(&one(&self.q)?, &one(&self.k)?, self.mask.as_ref(), self.scoring, false)?;
        probs.flatten_all()?.to_vec1::<f32>()
    }

    /// How many heads the layer has.
    pub fn heads(&self) -> usize {
        self.q.dims().first().copied().unwrap_or(0)
    }
}

#[derive(Default)]
pub struct KeepQueriesKeys {
    layers: Vec<KeptLayer>,
}

impl KeepQueriesKeys {
    /// The layers kept so far (a paused run's attended layers).
    pub fn layers(&self) -> &[KeptLayer] {
        &self.layers
    }

    pub fn into_layers(self) -> Vec<KeptLayer> {
        self.layers
    }
}

impl Observer for KeepQueriesKeys {
    fn attended(&mut self, seen: &Attended) -> candle_core::Result<()> {
        if seen.keys != Keys::Own {
            return Ok(());
        }
        // The layers that share a mask share its storage: the run makes each mask once
        // ([`crate::forward::Attending::mask`]), and a long text's is tens of MB (67 MB at 4,096 tokens).
        self.layers.push(KeptLayer { q: seen.q.clone(), k: seen.k.clone(), mask: seen.mask.cloned(), scoring: seen.scoring });
        Ok(())
    }
}
