//! What an unchanged run keeps for changed runs to start from: the residual stream entering
//! each layer, each layer's head outputs, and the last position split by writer (for direct
//! logit attribution).

use candle_core::{DType, Tensor};

use super::attribution::{last_row, LastPosition};
use crate::attention::per_head_output_weight;
use crate::observe::{Attended, Keys, Observer, Wants};

#[derive(Default)]
pub struct Tracing {
    /// The residual stream entering each layer, [t, hidden].
    pub residuals: Vec<Tensor>,
    /// Each layer's head outputs, [heads, t, d].
    pub outputs: Vec<Tensor>,
    pub last: LastPosition,
}

impl Observer for Tracing {
    fn wants(&self, _layer: usize, keys: Keys) -> Wants {
        Wants { output_weight: keys == Keys::Own, ..Wants::default() }
    }

    fn needs_whole_maps(&self) -> bool {
        true
    }

    fn entering_layer(&mut self, _layer: usize, x: &Tensor) -> candle_core::Result<()> {
        self.residuals.push(x.clone());
        self.last.entering(last_row(x)?);
        Ok(())
    }

    fn attended(&mut self, seen: &Attended) -> candle_core::Result<()> {
        if seen.keys != Keys::Own {
            return Ok(());
        }
        let weight = seen.output_weight.ok_or_else(|| candle_core::Error::Msg("a trace needs the output projection".into()))?;
        // Each head's write at the last position: z_h · W_O,h, [heads, hidden].
        let (heads, new, d) = seen.out.dims3()?;
        let last = seen.out.narrow(1, new - 1, 1)?.to_dtype(DType::F32)?; // [heads, 1, d]
        self.last.heads_written(last.matmul(&per_head_output_weight(weight, heads, d)?)?.squeeze(1)?);
        self.outputs.push(seen.out.clone());
        Ok(())
    }

    fn attention_added(&mut self, _layer: usize, x: &Tensor, post_norm: Option<(&Tensor, f64)>) -> candle_core::Result<()> {
        let post_norm = post_norm.map(|(w, eps)| Ok::<_, candle_core::Error>((w.to_dtype(DType::F32)?.to_vec1::<f32>()?, eps))).transpose()?;
        self.last.attention_added(last_row(x)?, post_norm)
    }

    fn leaving(&mut self, x: &Tensor) -> candle_core::Result<()> {
        self.last.leaving(last_row(x)?);
        Ok(())
    }
}
