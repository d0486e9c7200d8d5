//! Every layer's attention weights, flat [layer, head, query, key] (or, in a pooled run,
//! [layer, head, row block, column block]).

use super::{Attended, Keys, Maps, Observer};
use crate::attention::with_slice;

/// The maps of the attention over `keys` (self-attention's unless asked otherwise).
#[derive(Default)]
pub struct KeepMaps {
    keys: Keys,
    flat: Vec<f32>,
}

impl KeepMaps {
    /// Room for `capacity` weights (layers × heads × queries × keys).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { keys: Keys::Own, flat: Vec::with_capacity(capacity) }
    }

    /// The maps of the attention over `keys` (a decoder's cross-attention: [`Keys::Memory`]).
    pub fn of(keys: Keys) -> Self {
        Self { keys, flat: Vec::new() }
    }

    pub fn keys(&self) -> Keys {
        self.keys
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
        if seen.keys != self.keys {
            return Ok(());
        }
        match seen.maps {
            Maps::Whole(probs) => with_slice(probs, |maps| self.flat.extend_from_slice(maps)),
            Maps::Pooled { blocks, .. } => {
                self.flat.extend_from_slice(blocks);
                Ok(())
            }
        }
    }
}
