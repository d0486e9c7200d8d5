//! Llama: RMSNorm, rotary position embeddings, grouped-query attention, SwiGLU.
//! Weight names follow llama.cpp's GGUF (`blk.N.attn_q.weight`, ...).
//!
//! llama.cpp's conversion permutes the rows of `attn_q` and `attn_k` so that the
//! rotary embedding rotates adjacent pairs (x0, x1), (x2, x3), ... ; hence the
//! interleaved `rope_i` here, which gives exactly the attention Hugging Face's
//! rotate-half gives on the unpermuted weights.

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::{id_tensor, Network};
use crate::attention::{additive_mask_from, merge_heads, repeat_kv, split_heads, Recorder};
use crate::prefix::KvCache;
use crate::error::Result;
use crate::report::{Mask, Scoring};

/// The settings a Llama network needs, read from GGUF metadata.
#[derive(Clone, Debug)]
pub struct LlamaConfig {
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub rope_base: f32,
    pub rms_eps: f64,
    pub max_positions: usize,
}

impl LlamaConfig {
    fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }
}

struct Block {
    attn_norm: Tensor,
    attn_q: Linear,
    attn_k: Linear,
    attn_v: Linear,
    attn_output: Linear,
    ffn_norm: Tensor,
    ffn_gate: Linear,
    ffn_up: Linear,
    ffn_down: Linear,
}

fn linear(vb: &VarBuilder, name: &str, in_dim: usize, out_dim: usize) -> candle_core::Result<Linear> {
    Ok(Linear::new(vb.get((out_dim, in_dim), &format!("{name}.weight"))?, None))
}

impl Block {
    fn load(vb: VarBuilder, cfg: &LlamaConfig) -> candle_core::Result<Self> {
        let (h, kv) = (cfg.hidden, cfg.kv_heads * cfg.head_dim());
        Ok(Self {
            attn_norm: vb.get(h, "attn_norm.weight")?,
            attn_q: linear(&vb, "attn_q", h, h)?,
            attn_k: linear(&vb, "attn_k", h, kv)?,
            attn_v: linear(&vb, "attn_v", h, kv)?,
            attn_output: linear(&vb, "attn_output", h, h)?,
            ffn_norm: vb.get(h, "ffn_norm.weight")?,
            ffn_gate: linear(&vb, "ffn_gate", h, cfg.intermediate)?,
            ffn_up: linear(&vb, "ffn_up", h, cfg.intermediate)?,
            ffn_down: linear(&vb, "ffn_down", cfg.intermediate, h)?,
        })
    }
}

pub struct Llama {
    cfg: LlamaConfig,
    token_embd: Tensor, // [vocab, hidden]
    blocks: Vec<Block>,
    output_norm: Tensor,
    output: Tensor, // [vocab, hidden]; the embedding itself when tied
    device: Device,
}

impl Llama {
    pub fn load(vb: VarBuilder, cfg: LlamaConfig) -> Result<Self> {
        let token_embd = vb.get((cfg.vocab, cfg.hidden), "token_embd.weight")?;
        let output = if vb.contains_tensor("output.weight") {
            vb.get((cfg.vocab, cfg.hidden), "output.weight")?
        } else {
            token_embd.clone()
        };
        let blocks = (0..cfg.layers)
            .map(|i| Block::load(vb.pp(format!("blk.{i}")), &cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            output_norm: vb.get(cfg.hidden, "output_norm.weight")?,
            device: vb.device().clone(),
            cfg,
            token_embd,
            blocks,
            output,
        })
    }

    /// cos and sin of the rotary angles for positions 0..t, each [t, head_dim / 2].
    fn rotary_tables(&self, t: usize) -> candle_core::Result<(Tensor, Tensor)> {
        let d = self.cfg.head_dim();
        // As Hugging Face computes them, in float32: 1 / base^(2i / d).
        let inv_freq: Vec<f32> =
            (0..d / 2).map(|i| 1.0 / self.cfg.rope_base.powf((2 * i) as f32 / d as f32)).collect();
        let angles: Vec<f32> = (0..t).flat_map(|p| inv_freq.iter().map(move |f| p as f32 * f)).collect();
        let angles = Tensor::from_vec(angles, (t, d / 2), &self.device)?;
        Ok((angles.cos()?, angles.sin()?))
    }
}

impl Network for Llama {
    fn forward(&self, ids: &[u32], mask: Mask, recorder: &mut Recorder, mut cache: Option<&mut KvCache>) -> Result<Option<Vec<f32>>> {
        let cfg = &self.cfg;
        let t = ids.len();
        // The positions already in the cache are not run again.
        let start = KvCache::resume(cache.as_deref_mut(), t)?;
        let new = t - start;
        let groups = cfg.heads / cfg.kv_heads;
        let (cos, sin) = self.rotary_tables(t)?;
        let (cos, sin) = (cos.narrow(0, start, new)?, sin.narrow(0, start, new)?);
        let mask = additive_mask_from(mask, start, t, &self.device)?; // [new, t]
        let rotate = |x: &Tensor| -> candle_core::Result<Tensor> {
            // rope_i wants [batch, heads, new, d].
            candle_nn::rotary_emb::rope_i(&x.unsqueeze(0)?.contiguous()?, &cos, &sin)?.squeeze(0)
        };

        let mut x = self.token_embd.index_select(&id_tensor(&ids[start..], &self.device)?, 0)?; // [new, hidden]
        for (index, block) in self.blocks.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, cfg.rms_eps as f32)?;
            let q = rotate(&split_heads(&block.attn_q.forward(&h)?, cfg.heads)?)?; // [heads, new, d]
            let k = rotate(&split_heads(&block.attn_k.forward(&h)?, cfg.kv_heads)?)?; // [kv_heads, new, d]
            let v = split_heads(&block.attn_v.forward(&h)?, cfg.kv_heads)?;
            let (k, v) = KvCache::join(cache.as_deref_mut(), index, k, v)?; // [kv_heads, t, d]
            let (k, v) = (repeat_kv(&k, groups)?, repeat_kv(&v, groups)?);
            let out = recorder.attend(&q, &k, &v, mask.as_ref(), Scoring::standard(q.dim(2)?), block.attn_output.weight())?; // [heads, new, d]
            x = (x + block.attn_output.forward(&merge_heads(&out)?)?)?;

            let h = candle_nn::ops::rms_norm(&x, &block.ffn_norm, cfg.rms_eps as f32)?;
            let gated = (candle_nn::ops::silu(&block.ffn_gate.forward(&h)?)? * block.ffn_up.forward(&h)?)?;
            x = (x + block.ffn_down.forward(&gated)?)?;
        }

        let last = x.i(new - 1)?.unsqueeze(0)?; // [1, hidden]
        let last = candle_nn::ops::rms_norm(&last, &self.output_norm, cfg.rms_eps as f32)?;
        let logits = last.matmul(&self.output.t()?)?.squeeze(0)?.to_dtype(DType::F32)?;
        Ok(Some(logits.to_vec1()?))
    }

    fn caches(&self) -> bool {
        true
    }
}
