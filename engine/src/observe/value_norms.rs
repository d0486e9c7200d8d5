//! Every head's value norms ‖f_h(x_j)‖ (see [`crate::attention::value_norms`]), flat
//! [layer, head, token]: what value-weighted maps weigh by.

use super::{Attended, Keys, Observer, Wants};
use crate::attention::value_norms;

#[derive(Default)]
pub struct KeepValueNorms {
    flat: Vec<f32>,
}

impl KeepValueNorms {
    pub fn into_flat(self) -> Vec<f32> {
        self.flat
    }
}

impl Observer for KeepValueNorms {
    fn wants(&self, _layer: usize, keys: Keys) -> Wants {
        Wants { output_weight: keys == Keys::Own, ..Wants::default() }
    }

    fn needs_whole_maps(&self) -> bool {
        true
    }

    fn attended(&mut self, seen: &Attended) -> candle_core::Result<()> {
        if seen.keys != Keys::Own {
            return Ok(());
        }
        let weight = seen.output_weight.ok_or_else(|| candle_core::Error::Msg("value norms need the output projection".into()))?;
        self.flat.extend(value_norms(seen.v, weight)?.flatten_all()?.to_vec1::<f32>()?);
        Ok(())
    }
}
