//! Every layer's attention weights, flat [layer, head, query, key] (or, in a pooled run,
//! [layer, head, row block, column block]).

use super::{Attended, Maps, Observer};
use crate::attention::with_slice;

#[derive(Default)]
pub struct KeepMaps {
    flat: Vec<f32>,
}

impl KeepMaps {
    /// Room for `capacity` weights (layers × heads × queries × keys).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { flat: Vec::with_capacity(capacity) }
    }

    /// The maps kept so far (a paused run's layers before the pause).
    pub fn as_slice(&self) -> &[f32] {
        &self.flat
    }

    pub fn into_flat(self) -> Vec<f32> {
        self.flat
    }
}

impl Observer for KeepMaps {
    fn attended(&mut self, seen: &Attended) -> candle_core::Result<()> {
        match seen.maps {
            Maps::Whole(probs) => with_slice(probs, |maps| self.flat.extend_from_slice(maps)),
            Maps::Pooled { blocks, .. } => {
                self.flat.extend_from_slice(blocks);
                Ok(())
            }
        }
    }
}
