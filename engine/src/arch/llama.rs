//! The Llama family: RMSNorm, rotary position embeddings, grouped-query attention, a
//! gated feed-forward. One network with switches ([`LlamaConfig`]) covers its variants,
//! each from GGUF or from Hugging Face's safetensors:
//! - Llama 2 and 3 (3.1's rescaled rotary frequencies), Mistral (a sliding window);
//! - Qwen2 (biases on the query, key and value projections);
//! - Qwen3 (an RMSNorm over each head's queries and keys, a head size of its own);
//! - Phi-3 (fused q|k|v and gate|up projections, split at load; part of each head rotating);
//! - Gemma (embeddings × √hidden, GELU), Gemma 2 (norms on both sides of each sublayer,
//!   its own query scaling, soft-capped attention and logits, a window on every other
//!   layer), Gemma 3 (q/k norms, five windowed layers of six with their own rotary base).
//!
//! Weights go by llama.cpp's GGUF names (`blk.N.attn_q.weight`, ...); Hugging Face's are
//! renamed to them at load ([`super::llama_config::gguf_name`]). llama.cpp's conversion
//! of a Llama permutes the rows of `attn_q` and `attn_k` so that the rotation turns
//! adjacent pairs; its other families, and every Hugging Face checkpoint, turn halves
//! ([`Rotary`] does either). Gemma's norms multiply by 1 + w: llama.cpp stores 1 + w,
//! and so does this network (Hugging Face's w gets its 1 at load).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

pub use super::llama_config::{Activation, LlamaConfig, FAMILIES};
use super::projection::{Projection, Table, Weights};
use candle_nn::VarBuilder;
use super::rotary::{RopeScaling, Rotary};
use super::{column_major, id_tensor, Network};
use crate::attention::{merge_heads, repeat_kv, split_heads, Recorder};
use crate::error::Result;
use crate::intervention::attribution::{FinalNorm, Readout};
use crate::prefix::KvCache;
use crate::report::Mask;

/// Matrices read a row at a time (by token id, and for the one last position's
/// logits), kept as they are; every other matrix is a projection (see [`column_major`]).
const EMBEDDINGS: [&str; 2] = ["token_embd.weight", "output.weight"];

/// Whether `name` is a fused projection [`prepare`] splits (so it cannot stay quantized).
pub fn is_fused(name: &str, rows: usize, cfg: &LlamaConfig) -> bool {
    name.contains("attn_qkv") || (name.ends_with("ffn_up.weight") && rows == 2 * cfg.intermediate)
}

/// Readies a loaded weight (by its GGUF name): Phi-3's fused projections are split
/// (`attn_qkv` into q, k, v; a double-height `ffn_up` into gate, then up), and every
/// projection goes column-major. Called tensor by tensor as they load, so only one
/// extra copy ever lives at a time.
pub fn prepare(name: &str, tensor: Tensor, cfg: &LlamaConfig) -> candle_core::Result<Vec<(String, Tensor)>> {
    let renamed = |part: &str| name.replacen(if name.contains("attn_qkv") { "attn_qkv" } else { "ffn_up" }, part, 1);
    let rows = tensor.dim(0)?;
    let parts: Vec<(String, Tensor)> = if name.ends_with("attn_qkv.weight") || name.ends_with("attn_qkv.bias") {
        let (q, kv) = (cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim);
        if rows != q + 2 * kv {
            candle_core::bail!("`{name}` has {rows} rows, not the {} its heads need", q + 2 * kv)
        }
        vec![(renamed("attn_q"), tensor.narrow(0, 0, q)?), (renamed("attn_k"), tensor.narrow(0, q, kv)?), (renamed("attn_v"), tensor.narrow(0, q + kv, kv)?)]
    } else if name.ends_with("ffn_up.weight") && rows == 2 * cfg.intermediate {
        let half = cfg.intermediate;
        vec![(renamed("ffn_gate"), tensor.narrow(0, 0, half)?), (renamed("ffn_up"), tensor.narrow(0, half, half)?)]
    } else {
        vec![(name.to_string(), tensor)]
    };
    parts
        .into_iter()
        .map(|(name, tensor)| {
            let tensor = if tensor.rank() == 2 && !EMBEDDINGS.contains(&name.as_str()) { column_major(&tensor)? } else { tensor.contiguous()? };
            Ok((name, tensor))
        })
        .collect()
}

struct Block {
    attn_norm: Tensor,
    attn_q: Projection,
    attn_k: Projection,
    attn_v: Projection,
    attn_output: Projection,
    /// Qwen3's and Gemma 3's RMSNorm over each head's queries and keys, [head_dim] each.
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    /// Gemma 2 and 3: the attention's output is normed before it joins the residual.
    post_attention_norm: Option<Tensor>,
    ffn_norm: Tensor,
    /// Gemma 2 and 3: so is the feed-forward's.
    post_ffw_norm: Option<Tensor>,
    ffn_gate: Projection,
    ffn_up: Projection,
    ffn_down: Projection,
}

fn optional(vb: &VarBuilder, size: usize, name: &str) -> candle_core::Result<Option<Tensor>> {
    if vb.contains_tensor(name) {
        vb.get(size, name).map(Some)
    } else {
        Ok(None)
    }
}

impl Block {
    fn load(w: Weights, cfg: &LlamaConfig) -> candle_core::Result<Self> {
        let (h, q, kv) = (cfg.hidden, cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim);
        let vb = &w.dense;
        Ok(Self {
            attn_norm: vb.get(h, "attn_norm.weight")?,
            attn_q: w.projection("attn_q", h, q)?,
            attn_k: w.projection("attn_k", h, kv)?,
            attn_v: w.projection("attn_v", h, kv)?,
            attn_output: w.projection("attn_output", q, h)?,
            q_norm: optional(vb, cfg.head_dim, "attn_q_norm.weight")?,
            k_norm: optional(vb, cfg.head_dim, "attn_k_norm.weight")?,
            post_attention_norm: optional(vb, h, "post_attention_norm.weight")?,
            ffn_norm: vb.get(h, "ffn_norm.weight")?,
            post_ffw_norm: optional(vb, h, "post_ffw_norm.weight")?,
            ffn_gate: w.projection("ffn_gate", h, cfg.intermediate)?,
            ffn_up: w.projection("ffn_up", h, cfg.intermediate)?,
            ffn_down: w.projection("ffn_down", cfg.intermediate, h)?,
        })
    }
}

pub struct Llama {
    cfg: LlamaConfig,
    token_embd: Table, // [vocab, hidden]
    blocks: Vec<Block>,
    output_norm: Tensor,
    output: Table, // [vocab, hidden]; the embedding itself when tied
    rotary: Rotary,
    /// Gemma 3's windowed layers turn at their own base.
    local_rotary: Option<Rotary>,
    device: Device,
}

impl Llama {
    /// The network from its weights, float32 or partly quantized (see [`Weights`]).
    pub fn load(weights: Weights, mut cfg: LlamaConfig) -> Result<Self> {
        let token_embd = weights.table("token_embd.weight", cfg.vocab, cfg.hidden)?;
        let output = if weights.contains("output.weight") {
            weights.table("output.weight", cfg.vocab, cfg.hidden)?
        } else {
            token_embd.clone()
        };
        let vb = &weights.dense;
        // A GGUF carries Llama 3's rescaled frequencies as divisors.
        if vb.contains_tensor("rope_freqs.weight") {
            let divisors = vb.get(cfg.rotary_dims / 2, "rope_freqs.weight")?.to_dtype(DType::F32)?.to_vec1()?;
            cfg.rope_scaling = RopeScaling::Divisors(divisors);
        }
        let blocks = (0..cfg.layers)
            .map(|i| Block::load(weights.pp(&format!("blk.{i}")), &cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            output_norm: vb.get(cfg.hidden, "output_norm.weight")?,
            rotary: Rotary::new(cfg.rope_base, cfg.rotary_dims, cfg.rope_interleaved, &cfg.rope_scaling),
            local_rotary: cfg.local_rope_base.map(|base| Rotary::new(base, cfg.rotary_dims, cfg.rope_interleaved, &RopeScaling::None)),
            device: vb.device().clone(),
            cfg,
            token_embd,
            blocks,
            output,
        })
    }
}

/// RMSNorm over the last dimension of `x` (each head's vector, for q/k norms).
fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    candle_nn::ops::rms_norm(&x.contiguous()?, weight, eps as f32)
}

/// x with the norm's output added, normed first where the model norms both sides (Gemma 2, 3).
fn add_sublayer(x: &Tensor, out: Tensor, post_norm: &Option<Tensor>, eps: f64) -> candle_core::Result<Tensor> {
    match post_norm {
        Some(w) => x + rms_norm(&out, w, eps)?,
        None => x + out,
    }
}

/// cap · tanh(x / cap)
fn softcap(x: &Tensor, cap: f32) -> candle_core::Result<Tensor> {
    (x / cap as f64)?.tanh()? * cap as f64
}

impl Network for Llama {
    fn forward(&self, ids: &[u32], mask: Mask, recorder: &mut Recorder, mut cache: Option<&mut KvCache>) -> Result<Option<Vec<f32>>> {
        let cfg = &self.cfg;
        let t = ids.len();
        // The positions already in the cache are not run again.
        let start = KvCache::resume(cache.as_deref_mut(), t)?;
        let groups = cfg.heads / cfg.kv_heads;
        // cos, sin: [new, d / 2] each, repeated for each copy of a batched run.
        let each_copy = |(cos, sin): (Tensor, Tensor)| -> candle_core::Result<(Tensor, Tensor)> { Ok((recorder.for_each_copy(cos)?, recorder.for_each_copy(sin)?)) };
        let tables = each_copy(self.rotary.tables(start, t, &self.device)?)?;
        let local_tables = self.local_rotary.as_ref().map(|r| r.tables(start, t, &self.device).and_then(each_copy)).transpose()?;
        // One mask per window size ([new, t]); most models have only the one without.
        let window_of = |layer: usize| cfg.layer_windows.get(layer).copied().flatten();
        let mut masks = HashMap::new();
        for layer in 0..cfg.layers {
            if let std::collections::hash_map::Entry::Vacant(slot) = masks.entry(window_of(layer)) {
                slot.insert(recorder.mask(mask, window_of(layer), start, t, &self.device)?);
            }
        }

        let (first, mut x) = match recorder.take_resume() {
            Some(resumed) => resumed,
            None => {
                let x = self.token_embd.rows(&id_tensor(&ids[start..], &self.device)?)?; // [new, hidden]
                (0, match cfg.embedding_scale {
                    Some(scale) => (x * scale as f64)?,
                    None => x,
                })
            }
        };
        for (index, block) in self.blocks.iter().enumerate().skip(first) {
            recorder.entering_layer(&x)?;
            let window = window_of(index);
            // Gemma 3's windowed layers turn at their local base.
            let (rotary, (cos, sin)) = match (&self.local_rotary, &local_tables) {
                (Some(local), Some(local_tables)) if window.is_some() => (local, local_tables),
                _ => (&self.rotary, &tables),
            };
            // Queries or keys [heads, new, d]: normed per head where the model does (Qwen3, Gemma 3), then turned.
            let position = |x: Tensor, norm: &Option<Tensor>| -> candle_core::Result<Tensor> {
                let x = match norm {
                    Some(w) => rms_norm(&x, w, cfg.rms_eps)?,
                    None => x,
                };
                rotary.apply(&x, cos, sin)
            };
            let h = rms_norm(&x, &block.attn_norm, cfg.rms_eps)?;
            let q = position(split_heads(&block.attn_q.forward(&h)?, cfg.heads)?, &block.q_norm)?; // [heads, new, d]
            let k = position(split_heads(&block.attn_k.forward(&h)?, cfg.kv_heads)?, &block.k_norm)?; // [kv_heads, new, d]
            let v = split_heads(&block.attn_v.forward(&h)?, cfg.kv_heads)?;
            let (k, v) = KvCache::join(cache.as_deref_mut(), index, k, v)?; // [kv_heads, t, d]
            let (k, v) = (repeat_kv(&k, groups)?, repeat_kv(&v, groups)?);
            let out = recorder.attend(&q, &k, &v, masks[&window].as_ref(), cfg.scoring, || block.attn_output.dense_weight())?; // [heads, new, d]
            x = add_sublayer(&x, block.attn_output.forward(&merge_heads(&out)?)?, &block.post_attention_norm, cfg.rms_eps)?;
            recorder.attention_added(&x, block.post_attention_norm.as_ref(), cfg.rms_eps)?;

            let h = rms_norm(&x, &block.ffn_norm, cfg.rms_eps)?;
            let gate = block.ffn_gate.forward(&h)?;
            let gate = match cfg.activation {
                Activation::Silu => crate::kernels::silu(&gate)?,
                Activation::GeluTanh => gate.gelu()?,
            };
            let out = block.ffn_down.forward(&(gate * block.ffn_up.forward(&h)?)?)?;
            x = add_sublayer(&x, out, &block.post_ffw_norm, cfg.rms_eps)?;
        }

        recorder.leaving(&x)?;
        let last = recorder.last_rows(&x)?; // [copies, hidden]: one but in a batched run
        let last = rms_norm(&last, &self.output_norm, cfg.rms_eps)?;
        let mut logits = self.output.times_transposed(&last)?.to_dtype(DType::F32)?; // [copies, vocab]
        if let Some(cap) = cfg.final_softcap {
            logits = softcap(&logits, cap)?;
        }
        Ok(Some(logits.flatten_all()?.to_vec1()?))
    }

    fn caches(&self) -> bool {
        true
    }

    fn readout(&self, ids: &[u32]) -> Result<Option<Readout>> {
        let weight = self.output_norm.to_dtype(DType::F32)?.to_vec1()?;
        let rows = self.output.rows(&id_tensor(ids, &self.device)?)?.to_dtype(DType::F32)?.to_vec2()?;
        Ok(Some(Readout { norm: FinalNorm::Rms { weight, eps: self.cfg.rms_eps }, rows, softcap: self.cfg.final_softcap }))
    }
}
