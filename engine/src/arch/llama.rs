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

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use super::llama_config::{Activation, LlamaConfig};
use super::nn::{column_major, gelu_tanh, id_tensor, merge_heads, repeat_kv, rms_norm, silu, split_heads, Linear};
use super::projection::{Table, Weights};
use super::rotary::{RopeScaling, Rotary};
use crate::error::Result;
use crate::forward::{Attending, Layer, Network, Stack};
use crate::intervention::attribution::{FinalNorm, Readout};

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

/// One layer's attention: RMSNorm, q/k/v (queries and keys normed per head where the model
/// does, then turned), grouped-query attention, the output projection (normed again before
/// it joins the stream, Gemma 2 and 3).
struct Attention {
    attn_norm: Tensor,
    attn_q: Linear,
    attn_k: Linear,
    attn_v: Linear,
    attn_output: Linear,
    /// Qwen3's and Gemma 3's RMSNorm over each head's queries and keys, [head_dim] each.
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    /// Gemma 2 and 3: the attention's output is normed before it joins the residual.
    post_attention_norm: Option<Tensor>,
    /// The layer's rotary embedding (Gemma 3's windowed layers turn at their own base).
    rotary: Arc<Rotary>,
    /// The layer's sliding window, if it has one.
    window: Option<usize>,
}

/// One layer's gated feed-forward: down(act(gate(h)) · up(h)), h = RMSNorm(x).
struct FeedForward {
    ffn_norm: Tensor,
    ffn_gate: Linear,
    ffn_up: Linear,
    ffn_down: Linear,
    /// Gemma 2 and 3: its output is normed too.
    post_ffw_norm: Option<Tensor>,
}

struct Block {
    attention: Attention,
    feed_forward: FeedForward,
    cfg: Arc<LlamaConfig>,
}

fn optional(vb: &VarBuilder, size: usize, name: &str) -> candle_core::Result<Option<Tensor>> {
    if vb.contains_tensor(name) {
        vb.get(size, name).map(Some)
    } else {
        Ok(None)
    }
}

impl Block {
    fn load(w: Weights, cfg: &Arc<LlamaConfig>, rotary: Arc<Rotary>, window: Option<usize>) -> candle_core::Result<Self> {
        let (h, q, kv) = (cfg.hidden, cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim);
        let vb = &w.dense;
        let attention = Attention {
            attn_norm: vb.get(h, "attn_norm.weight")?,
            attn_q: w.projection("attn_q", h, q)?,
            attn_k: w.projection("attn_k", h, kv)?,
            attn_v: w.projection("attn_v", h, kv)?,
            attn_output: w.projection("attn_output", q, h)?,
            q_norm: optional(vb, cfg.head_dim, "attn_q_norm.weight")?,
            k_norm: optional(vb, cfg.head_dim, "attn_k_norm.weight")?,
            post_attention_norm: optional(vb, h, "post_attention_norm.weight")?,
            rotary,
            window,
        };
        let feed_forward = FeedForward {
            ffn_norm: vb.get(h, "ffn_norm.weight")?,
            ffn_gate: w.projection("ffn_gate", h, cfg.intermediate)?,
            ffn_up: w.projection("ffn_up", h, cfg.intermediate)?,
            ffn_down: w.projection("ffn_down", cfg.intermediate, h)?,
            post_ffw_norm: optional(vb, h, "post_ffw_norm.weight")?,
        };
        Ok(Self { attention, feed_forward, cfg: cfg.clone() })
    }
}

pub struct Llama {
    cfg: Arc<LlamaConfig>,
    token_embd: Table, // [vocab, hidden]
    blocks: Vec<Block>,
    output_norm: Tensor,
    output: Table, // [vocab, hidden]; the embedding itself when tied
    device: Device,
}

impl Llama {
    /// The network from its weights, float32 or partly quantized (see [`Weights`]).
    pub fn load(weights: Weights, mut cfg: LlamaConfig) -> Result<Self> {
        let token_embd = weights.table("token_embd.weight", cfg.vocab, cfg.hidden)?;
        let output = if weights.contains("output.weight") { weights.table("output.weight", cfg.vocab, cfg.hidden)? } else { token_embd.clone() };
        let vb = &weights.dense;
        // A GGUF carries Llama 3's rescaled frequencies as divisors.
        if vb.contains_tensor("rope_freqs.weight") {
            let divisors = vb.get(cfg.rotary_dims / 2, "rope_freqs.weight")?.to_dtype(DType::F32)?.to_vec1()?;
            cfg.rope_scaling = RopeScaling::Divisors(divisors);
        }
        let rotary = Arc::new(Rotary::new(cfg.rope_base, cfg.rotary_dims, cfg.rope_interleaved, &cfg.rope_scaling));
        // Gemma 3's windowed layers turn at their local base.
        let local_rotary = cfg.local_rope_base.map(|base| Arc::new(Rotary::new(base, cfg.rotary_dims, cfg.rope_interleaved, &RopeScaling::None)));
        let cfg = Arc::new(cfg);
        let blocks = (0..cfg.layers)
            .map(|i| {
                let window = cfg.layer_windows.get(i).copied().flatten();
                let rotary = match (&local_rotary, window) {
                    (Some(local), Some(_)) => local.clone(),
                    _ => rotary.clone(),
                };
                Block::load(weights.pp(&format!("blk.{i}")), &cfg, rotary, window)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { output_norm: vb.get(cfg.hidden, "output_norm.weight")?, device: vb.device().clone(), cfg, token_embd, blocks, output })
    }
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

impl Layer for Block {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let (cfg, a) = (&*self.cfg, &self.attention);
        let (cos, sin) = at.rotary_tables(&a.rotary)?; // [new, rotated / 2] each
                                                       // Queries or keys [heads, new, d]: normed per head where the model does (Qwen3, Gemma 3), then turned.
        let position = |x: Tensor, norm: &Option<Tensor>| -> candle_core::Result<Tensor> {
            let x = match norm {
                Some(w) => rms_norm(&x, w, cfg.rms_eps)?,
                None => x,
            };
            a.rotary.apply(&x, &cos, &sin)
        };
        let h = rms_norm(x, &a.attn_norm, cfg.rms_eps)?;
        let q = position(split_heads(&a.attn_q.forward(&h)?, cfg.heads)?, &a.q_norm)?; // [heads, new, d]
        let k = position(split_heads(&a.attn_k.forward(&h)?, cfg.kv_heads)?, &a.k_norm)?; // [kv_heads, new, d]
        let v = split_heads(&a.attn_v.forward(&h)?, cfg.kv_heads)?;
        let (k, v) = at.keys_values(k, v)?; // [kv_heads, t, d]
        let groups = cfg.heads / cfg.kv_heads;
        let (k, v) = (repeat_kv(&k, groups)?, repeat_kv(&v, groups)?);
        let mask = at.mask(a.window)?; // [new, t]
        let out = at.attend(&q, &k, &v, mask.as_ref(), cfg.scoring, || a.attn_output.weight())?; // [heads, new, d]
        add_sublayer(x, a.attn_output.forward(&merge_heads(&out)?)?, &a.post_attention_norm, cfg.rms_eps)
    }

    fn feed_forward(&self, _input: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
        let (cfg, f) = (&*self.cfg, &self.feed_forward);
        let h = rms_norm(x, &f.ffn_norm, cfg.rms_eps)?;
        let gate = f.ffn_gate.forward(&h)?;
        let gate = match cfg.activation {
            Activation::Silu => silu(&gate)?,
            Activation::GeluTanh => gelu_tanh(&gate)?,
        };
        let out = f.ffn_down.forward(&(gate * f.ffn_up.forward(&h)?)?)?;
        add_sublayer(x, out, &f.post_ffw_norm, cfg.rms_eps)
    }

    fn attention_post_norm(&self) -> Option<(&Tensor, f64)> {
        self.attention.post_attention_norm.as_ref().map(|w| (w, self.cfg.rms_eps))
    }
}

impl Network for Llama {
    /// One rotary set a base: every layer's, or Gemma 3's global and windowed layers apart.
    fn positions(&self, _shown: usize) -> Vec<crate::report::positions::PositionSet> {
        let mut sets: Vec<(Arc<Rotary>, bool, Vec<usize>)> = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            match sets.iter_mut().find(|(rotary, _, _)| Arc::ptr_eq(rotary, &block.attention.rotary)) {
                Some((_, _, layers)) => layers.push(i),
                None => sets.push((block.attention.rotary.clone(), block.attention.window.is_some(), vec![i])),
            }
        }
        let named = |windowed: bool| match (sets.len(), windowed) {
            (1, _) => "every layer",
            (_, true) => "windowed layers",
            (_, false) => "global layers",
        };
        let (head_dim, context) = (self.cfg.head_dim, self.cfg.max_positions);
        sets.iter().map(|(rotary, windowed, layers)| rotary.position_set(named(*windowed), layers.clone(), head_dim, context)).collect()
    }

    fn layers(&self) -> &dyn Stack {
        &self.blocks
    }

    fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        let x = self.token_embd.rows(&id_tensor(&ids[start..], &self.device)?)?; // [new, hidden]
        match self.cfg.embedding_scale {
            Some(scale) => x * scale as f64,
            None => Ok(x),
        }
    }

    fn logits(&self, last: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let last = rms_norm(last, &self.output_norm, self.cfg.rms_eps)?;
        let logits = self.output.times_transposed(&last)?.to_dtype(DType::F32)?; // [copies, vocab]
        Ok(Some(match self.cfg.final_softcap {
            Some(cap) => softcap(&logits, cap)?,
            None => logits,
        }))
    }

    fn device(&self) -> &Device {
        &self.device
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
