//! The layers every model file is built of: projections, norms, activations and the
//! splitting of a stream into heads. Every model goes through these, so a faster product or
//! kernel reaches every model at once (as candle-transformers' `with_tracing` wraps every
//! projection of every model).
//!
//! A projection multiplies by the engine's own product in WebAssembly and by candle's
//! natively ([`crate::products::product`]); with several threads its outputs are cut
//! into one share per thread. The activations are the engine's vectorised kernels
//! ([`crate::kernels`]), not candle's scalar ones.

use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::intervention::attribution::FinalNorm;
use crate::products::{times_transposed, with_bias};

pub use crate::kernels::{gelu_erf, relu, silu};
pub use candle_nn::LayerNorm;

/// x·Wᵀ (+ b): W [out, in] in float32, stored column-major (see [`column_major`]), or a
/// quantized matrix de-quantized when used (see [`super::projection`]).
#[derive(Clone, Debug)]
pub enum Linear {
    Dense { weight: Tensor, bias: Option<Tensor> },
    Quantized { weight: Arc<QTensor>, bias: Option<Tensor> },
}

/// The fewest outputs per thread worth a share of their own.
const MIN_SPLIT_OUTPUTS: usize = 64;

/// From this many rows a projection is one product cut by rows across the threads (see
/// `products::blocked`), not one product per share of the outputs joined after: its time is
/// the arithmetic's, not reading the weights, and the joining copied every output once more
/// while the other threads waited (a 2,000-token text's projections: 2 × 12 MB a layer).
const ROWS_SPLIT_FROM: usize = 256;

impl Linear {
    /// A projection of weight [out, in] (made column-major here) and bias [out].
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> candle_core::Result<Self> {
        Ok(Self::Dense { weight: column_major(&weight)?, bias })
    }

    /// `<vb>.weight` [out, in] and `<vb>.bias` [out].
    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        Self::new(vb.get((out_dim, in_dim), "weight")?, Some(vb.get(out_dim, "bias")?))
    }

    /// `<vb>.weight` [out, in] with no bias.
    pub fn load_without_bias(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        Self::new(vb.get((out_dim, in_dim), "weight")?, None)
    }

    /// GPT-2's `Conv1D`, whose weight is stored [in, out]: already what [`column_major`]
    /// makes, so it is only viewed transposed.
    pub fn load_conv1d(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        Ok(Self::Dense { weight: vb.get((in_dim, out_dim), "weight")?.t()?, bias: Some(vb.get(out_dim, "bias")?) })
    }

    /// x [.., in] → [.., out]
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense { weight, bias } => match crate::parallel::parts() {
                parts if parts > 1 && x.rank() == 2 && x.dim(0)? < ROWS_SPLIT_FROM && weight.dim(0)? >= MIN_SPLIT_OUTPUTS * parts => {
                    split_forward(weight, bias.as_ref(), x, parts)
                }
                _ => with_bias(times_transposed(x, weight)?, bias.as_ref()),
            },
            Self::Quantized { weight, bias } => {
                let weight = weight.dequantize(&weight.device())?;
                // In WebAssembly the engine's product reads Wᵀ a row at a time: stored so.
                #[cfg(target_arch = "wasm32")]
                let weight = column_major(&weight)?;
                with_bias(times_transposed(x, &weight)?, bias.as_ref())
            }
        }
    }

    /// b [out], where there is one.
    pub fn bias(&self) -> Option<&Tensor> {
        match self {
            Self::Dense { bias, .. } | Self::Quantized { bias, .. } => bias.as_ref(),
        }
    }

    /// W [out, in] in float32: the dense weight itself, or a quantized one de-quantized.
    pub fn weight(&self) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense { weight, .. } => Ok(weight.clone()),
            Self::Quantized { weight, .. } => weight.dequantize(&weight.device()),
        }
    }
}

/// x·Wᵀ (+ b) with W's outputs cut into `parts`, one product per thread: each thread reads
/// its share of the weights once, which is what a product of a few tokens waits on.
/// x [t, in] → [t, out]
fn split_forward(weight: &Tensor, bias: Option<&Tensor>, x: &Tensor, parts: usize) -> candle_core::Result<Tensor> {
    // [out, in], column-major: a part's rows are a slice.
    let ranges = crate::parallel::ranges(weight.dim(0)?, parts);
    let pieces = crate::parallel::each_part(ranges.len(), |part| -> candle_core::Result<Tensor> {
        let range = ranges[part].clone();
        let y = times_transposed(x, &weight.narrow(0, range.start, range.len())?)?; // [t, part's out]
        with_bias(y, bias.map(|b| b.narrow(0, range.start, range.len())).transpose()?.as_ref())
    });
    Tensor::cat(&pieces.into_iter().collect::<candle_core::Result<Vec<_>>>()?, 1)
}

/// A projection's weight [out, in], stored transposed ([in, out] row-major) under the
/// same shape: a projection multiplies by its transpose, which is then contiguous, so the
/// matrix product does not re-pack the weights on every run (on one thread, re-packing
/// SmolLM2's 400 MB of projections cost more than the products for a few tokens).
pub fn column_major(weight: &Tensor) -> candle_core::Result<Tensor> {
    weight.t()?.contiguous()?.t()
}

/// A LayerNorm with its weight and bias under `vb`.
pub fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(size, candle_nn::LayerNormConfig { eps, ..Default::default() }, vb)
}

/// A final LayerNorm as direct logit attribution reads it.
pub fn layer_norm_readout(norm: &LayerNorm, eps: f64) -> candle_core::Result<FinalNorm> {
    let vector = |t: &Tensor| t.to_dtype(DType::F32)?.to_vec1::<f32>();
    let weight = vector(norm.weight())?;
    let bias = norm.bias().map(vector).transpose()?.unwrap_or_else(|| vec![0.0; weight.len()]);
    Ok(FinalNorm::Layer { weight, bias, eps })
}

/// RMSNorm over the last dimension of `x` (each head's vector, for q/k norms).
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    candle_nn::ops::rms_norm(&x.contiguous()?, weight, eps as f32)
}

/// GELU with tanh's approximation (GPT-2's `gelu_new`, Gemma's), candle's.
pub fn gelu_tanh(x: &Tensor) -> candle_core::Result<Tensor> {
    x.gelu()
}

/// The token ids as a tensor, [t].
pub fn id_tensor(ids: &[u32], device: &Device) -> candle_core::Result<Tensor> {
    Tensor::new(ids, device)
}

/// The positions `start..end` as a tensor, [end - start].
pub fn position_tensor(start: usize, end: usize, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::arange(start as u32, end as u32, device)
}

/// Repeats each key/value head `groups` times along the head axis, so that
/// query head h reads key/value head h / groups (grouped-query attention).
/// [kv_heads, t, d] -> [kv_heads * groups, t, d]
pub fn repeat_kv(x: &Tensor, groups: usize) -> candle_core::Result<Tensor> {
    if groups == 1 {
        return Ok(x.clone());
    }
    let (kv_heads, t, d) = x.dims3()?;
    x.unsqueeze(1)?.expand((kv_heads, groups, t, d))?.reshape((kv_heads * groups, t, d))
}

/// Splits [t, heads * d] into [heads, t, d].
pub fn split_heads(x: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (t, width) = x.dims2()?;
    x.reshape((t, heads, width / heads))?.transpose(0, 1)?.contiguous()
}

/// Joins [heads, t, d] back into [t, heads * d].
pub fn merge_heads(x: &Tensor) -> candle_core::Result<Tensor> {
    let (heads, t, d) = x.dims3()?;
    x.transpose(0, 1)?.contiguous()?.reshape((t, heads * d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_kv_maps_query_head_to_its_group() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // Two kv heads of one token, one dim: values 10 and 20.
        let kv = Tensor::new(&[[[10f32]], [[20f32]]], &dev)?;
        let r = repeat_kv(&kv, 3)?.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(r, vec![10., 10., 10., 20., 20., 20.]);
        Ok(())
    }

    #[test]
    fn a_conv1d_and_a_linear_of_the_same_matrix_project_alike() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // W [out 2, in 3]; a Conv1D stores its transpose [3, 2].
        let w = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &dev)?;
        let b = Tensor::new(&[0.5f32, -1.], &dev)?;
        let linear = Linear::new(w.clone(), Some(b.clone()))?;
        let tensors = std::collections::HashMap::from([("weight".to_string(), w.t()?.contiguous()?), ("bias".to_string(), b)]);
        let conv = Linear::load_conv1d(VarBuilder::from_tensors(tensors, DType::F32, &dev), 3, 2)?;
        let x = Tensor::new(&[[1f32, 0., -1.], [2., 1., 0.]], &dev)?;
        // By hand: [1·1 − 3 + .5, 4 − 6 − 1] = [-1.5, -3]; [2 + 2 + .5, 8 + 5 − 1] = [4.5, 12].
        let expected = vec![vec![-1.5f32, -3.], vec![4.5, 12.]];
        assert_eq!(linear.forward(&x)?.to_vec2::<f32>()?, expected);
        assert_eq!(conv.forward(&x)?.to_vec2::<f32>()?, expected);
        Ok(())
    }
}
