//! One file per architecture family. Each turns token ids into every layer's
//! attention probabilities (and, for a language model, the last position's logits).

pub mod bert;
pub mod vit;
pub mod gpt2;
pub mod gpt_neox;
pub mod llama;
pub mod llama_config;
pub mod projection;
pub mod marian;
pub mod rotary;
pub mod whisper;

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::report::Mask;

use crate::attention::Recorder;
use crate::intervention::attribution::{FinalNorm, Readout};
use crate::prefix::KvCache;

/// A network the engine can run.
pub trait Network: Send + Sync {
    /// Runs `ids` under `mask`, attending through `recorder` (which keeps every
    /// layer's attention), and returns the logits at the last position, [vocab]
    /// (`None` for a model with no language-model head).
    ///
    /// With a `cache` (only passed when [`Network::caches`], under the causal mask), the
    /// cache already holds the keys and values of `ids[..cache.len()]`: only the rest
    /// run, the recorder gets their rows only, and the cache grows to all of `ids`.
    ///
    /// When the recorder resumes ([`Recorder::take_resume`]), the run starts at its layer
    /// from its residual stream instead of the embeddings (never with a cache); a network
    /// that can be changed head by head tells the recorder where each layer begins and ends.
    fn forward(&self, ids: &[u32], mask: Mask, recorder: &mut Recorder, cache: Option<&mut KvCache>) -> Result<Option<Vec<f32>>>;

    /// Whether [`Network::forward`] can continue from a [`KvCache`].
    fn caches(&self) -> bool {
        false
    }

    /// How the last residual stream becomes the logits of `ids`: the final norm and those
    /// tokens' unembedding rows, for direct logit attribution (`None` without a
    /// language-model head).
    fn readout(&self, _ids: &[u32]) -> Result<Option<Readout>> {
        Ok(None)
    }
}

/// A projection's weight [out, in], stored transposed ([in, out] row-major) under the
/// same shape: `Linear` multiplies by its transpose, which is then contiguous, so the
/// matrix product does not re-pack the weights on every run (on one thread, re-packing
/// SmolLM2's 400 MB of projections cost more than the products for a few tokens).
pub(crate) fn column_major(weight: &Tensor) -> candle_core::Result<Tensor> {
    weight.t()?.contiguous()?.t()
}

/// A projection `<vb>.weight` [out, in] with its bias `<vb>.bias` [out], the weight kept
/// column-major (see [`column_major`]).
pub(crate) fn linear_with_bias(vb: candle_nn::VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<candle_nn::Linear> {
    let weight = column_major(&vb.get((out_dim, in_dim), "weight")?)?;
    Ok(candle_nn::Linear::new(weight, Some(vb.get(out_dim, "bias")?)))
}

/// A final LayerNorm as direct logit attribution reads it.
pub(crate) fn layer_norm_readout(norm: &candle_nn::LayerNorm, eps: f64) -> candle_core::Result<FinalNorm> {
    let vector = |t: &Tensor| t.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>();
    let weight = vector(norm.weight())?;
    let bias = norm.bias().map(vector).transpose()?.unwrap_or_else(|| vec![0.0; weight.len()]);
    Ok(FinalNorm::Layer { weight, bias, eps })
}

/// A LayerNorm with its weight and bias under `vb`.
pub(crate) fn layer_norm(vb: candle_nn::VarBuilder, size: usize, eps: f64) -> candle_core::Result<candle_nn::LayerNorm> {
    candle_nn::layer_norm(size, candle_nn::LayerNormConfig { eps, ..Default::default() }, vb)
}

/// The token ids as a tensor, [t].
pub(crate) fn id_tensor(ids: &[u32], device: &Device) -> candle_core::Result<Tensor> {
    Tensor::new(ids, device)
}

/// The positions 0..t as a tensor, [t].
pub(crate) fn position_tensor(t: usize, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::arange(0u32, t as u32, device)
}
