//! The Llama family: RMSNorm, rotary position embeddings, grouped-query attention,
//! SwiGLU. One network with switches covers its variants, each from GGUF or from
//! Hugging Face's safetensors:
//! - Llama 2 and 3 (3.1's rescaled rotary frequencies), Mistral;
//! - Qwen2 (biases on the query, key and value projections);
//! - Qwen3 (an RMSNorm over each head's queries and keys, a head size of its own).
//!
//! Weights go by llama.cpp's GGUF names (`blk.N.attn_q.weight`, ...); Hugging Face's are
//! renamed to them at load ([`gguf_name`]). llama.cpp's conversion of a Llama permutes
//! the rows of `attn_q` and `attn_k` so that the rotation turns adjacent pairs; its other
//! families, and every Hugging Face checkpoint, turn halves ([`Rotary`] does either).

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::Deserialize;

use super::rotary::{RopeScaling, Rotary};
use super::{column_major, id_tensor, Network};
use crate::attention::{additive_mask_from, merge_heads, repeat_kv, split_heads, Recorder};
use crate::error::{EngineError, Result};
use crate::prefix::KvCache;
use crate::report::{Mask, ModelInfo, Scoring};

/// The families this network runs, by their GGUF / Hugging Face names.
pub const FAMILIES: [&str; 4] = ["llama", "mistral", "qwen2", "qwen3"];

/// The settings a network of the family needs, from GGUF metadata or config.json.
#[derive(Clone, Debug)]
pub struct LlamaConfig {
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub hidden: usize,
    /// Each head's query, key and value size (hidden / heads unless the model says otherwise).
    pub head_dim: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub rope_base: f32,
    pub rope_scaling: RopeScaling,
    /// Adjacent pairs rotate (llama.cpp's permuted Llama weights); else halves.
    pub rope_interleaved: bool,
    pub rms_eps: f64,
    pub max_positions: usize,
}

/// The part of a Hugging Face config.json the family needs. Rotary settings come either
/// the older way (`rope_theta` + `rope_scaling`) or the newer (`rope_parameters`).
#[derive(Deserialize)]
struct HfConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    #[serde(default = "default_rms_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_max_positions")]
    max_position_embeddings: usize,
    rope_theta: Option<f32>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
}

fn default_rms_eps() -> f64 {
    1e-6
}
fn default_max_positions() -> usize {
    2048
}

impl LlamaConfig {
    /// From a Hugging Face config.json of the family.
    pub fn from_hf(config: &[u8]) -> Result<Self> {
        let hf: HfConfig = serde_json::from_slice(config).map_err(|e| EngineError::BadModelFile(format!("config.json: {e}")))?;
        let rope = hf.rope_parameters.as_ref().or(hf.rope_scaling.as_ref());
        let field = |key: &str| rope.and_then(|r| r.get(key)).and_then(serde_json::Value::as_f64).map(|v| v as f32);
        let rope_type = rope.and_then(|r| r.get("rope_type").or_else(|| r.get("type"))).and_then(|t| t.as_str()).unwrap_or("default");
        let rope_scaling = match rope_type {
            "default" => RopeScaling::None,
            "llama3" => {
                let need = |key: &str| field(key).ok_or_else(|| EngineError::MissingSetting { source_name: "config.json", key: format!("rope_scaling.{key}") });
                RopeScaling::Llama3 {
                    factor: need("factor")?,
                    low_freq_factor: need("low_freq_factor")?,
                    high_freq_factor: need("high_freq_factor")?,
                    original_max_positions: need("original_max_position_embeddings")?,
                }
            }
            other => return Err(EngineError::BadModelFile(format!("config.json: the rotary scaling `{other}` is not supported (supported: default, llama3)"))),
        };
        let heads = hf.num_attention_heads;
        let cfg = Self {
            layers: hf.num_hidden_layers,
            heads,
            kv_heads: hf.num_key_value_heads.unwrap_or(heads),
            hidden: hf.hidden_size,
            head_dim: hf.head_dim.unwrap_or(if heads == 0 { 0 } else { hf.hidden_size / heads }),
            intermediate: hf.intermediate_size,
            vocab: hf.vocab_size,
            rope_base: field("rope_theta").or(hf.rope_theta).unwrap_or(10_000.0),
            rope_scaling,
            rope_interleaved: false,
            rms_eps: hf.rms_norm_eps,
            max_positions: hf.max_position_embeddings,
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// Refuses sizes that cannot make a network (before any weight is read).
    pub fn check(&self) -> Result<()> {
        let (heads, kv_heads) = (self.heads, self.kv_heads);
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || self.head_dim == 0 || self.head_dim % 2 != 0 || self.layers == 0 {
            return Err(EngineError::BadModelFile(format!(
                "inconsistent sizes: {} layers, {heads} heads, {kv_heads} key/value heads, head size {}, hidden size {}",
                self.layers, self.head_dim, self.hidden
            )));
        }
        Ok(())
    }

    /// The facts a report gives about a model of this configuration.
    pub fn info(&self, name: &str, architecture: &str) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            architecture: architecture.into(),
            layers: self.layers,
            heads: self.heads,
            kv_heads: self.kv_heads,
            causal: true,
            max_positions: self.max_positions,
            vocab_size: self.vocab,
        }
    }
}

/// Matrices read a row at a time (by token id, and for the one last position's
/// logits), kept as they are; every other matrix is a projection (see [`column_major`]).
const EMBEDDINGS: [&str; 2] = ["token_embd.weight", "output.weight"];

/// Readies a loaded weight (by its GGUF name): a projection goes column-major. Called
/// tensor by tensor as they load, so only one extra copy ever lives at a time.
pub fn prepare(name: &str, tensor: Tensor) -> candle_core::Result<Tensor> {
    if tensor.rank() == 2 && !EMBEDDINGS.contains(&name) {
        column_major(&tensor)
    } else {
        Ok(tensor)
    }
}

/// The GGUF name of a Hugging Face weight of the family (`None`: not one it uses).
pub fn gguf_name(hf: &str) -> Option<String> {
    let hf = hf.strip_prefix("model.").unwrap_or(hf);
    let fixed = match hf {
        "embed_tokens.weight" => Some("token_embd.weight"),
        "norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Some(name.into());
    }
    let rest = hf.strip_prefix("layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = part.rsplit_once('.')?;
    let ours = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{ours}.{kind}"))
}

struct Block {
    attn_norm: Tensor,
    attn_q: Linear,
    attn_k: Linear,
    attn_v: Linear,
    attn_output: Linear,
    /// Qwen3's RMSNorm over each head's queries and keys, [head_dim] each.
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    ffn_norm: Tensor,
    ffn_gate: Linear,
    ffn_up: Linear,
    ffn_down: Linear,
}

/// A projection [out, in], with its bias where the model has one (Qwen2's q, k, v).
fn linear(vb: &VarBuilder, name: &str, in_dim: usize, out_dim: usize) -> candle_core::Result<Linear> {
    let weight = vb.get((out_dim, in_dim), &format!("{name}.weight"))?;
    let bias_name = format!("{name}.bias");
    let bias = if vb.contains_tensor(&bias_name) { Some(vb.get(out_dim, &bias_name)?) } else { None };
    Ok(Linear::new(weight, bias))
}

fn optional(vb: &VarBuilder, size: usize, name: &str) -> candle_core::Result<Option<Tensor>> {
    if vb.contains_tensor(name) {
        vb.get(size, name).map(Some)
    } else {
        Ok(None)
    }
}

impl Block {
    fn load(vb: VarBuilder, cfg: &LlamaConfig) -> candle_core::Result<Self> {
        let (h, q, kv) = (cfg.hidden, cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim);
        Ok(Self {
            attn_norm: vb.get(h, "attn_norm.weight")?,
            attn_q: linear(&vb, "attn_q", h, q)?,
            attn_k: linear(&vb, "attn_k", h, kv)?,
            attn_v: linear(&vb, "attn_v", h, kv)?,
            attn_output: linear(&vb, "attn_output", q, h)?,
            q_norm: optional(&vb, cfg.head_dim, "attn_q_norm.weight")?,
            k_norm: optional(&vb, cfg.head_dim, "attn_k_norm.weight")?,
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
    rotary: Rotary,
    device: Device,
}

impl Llama {
    pub fn load(vb: VarBuilder, mut cfg: LlamaConfig) -> Result<Self> {
        let token_embd = vb.get((cfg.vocab, cfg.hidden), "token_embd.weight")?;
        let output = if vb.contains_tensor("output.weight") {
            vb.get((cfg.vocab, cfg.hidden), "output.weight")?
        } else {
            token_embd.clone()
        };
        // A GGUF carries Llama 3's rescaled frequencies as divisors.
        if vb.contains_tensor("rope_freqs.weight") {
            let divisors = vb.get(cfg.head_dim / 2, "rope_freqs.weight")?.to_dtype(DType::F32)?.to_vec1()?;
            cfg.rope_scaling = RopeScaling::Divisors(divisors);
        }
        let blocks = (0..cfg.layers)
            .map(|i| Block::load(vb.pp(format!("blk.{i}")), &cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            output_norm: vb.get(cfg.hidden, "output_norm.weight")?,
            rotary: Rotary::new(cfg.rope_base, cfg.head_dim, cfg.rope_interleaved, &cfg.rope_scaling),
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

impl Network for Llama {
    fn forward(&self, ids: &[u32], mask: Mask, recorder: &mut Recorder, mut cache: Option<&mut KvCache>) -> Result<Option<Vec<f32>>> {
        let cfg = &self.cfg;
        let t = ids.len();
        // The positions already in the cache are not run again.
        let start = KvCache::resume(cache.as_deref_mut(), t)?;
        let new = t - start;
        let groups = cfg.heads / cfg.kv_heads;
        let (cos, sin) = self.rotary.tables(start, t, &self.device)?;
        let mask = additive_mask_from(mask, start, t, &self.device)?; // [new, t]
        let scoring = Scoring::standard(cfg.head_dim);
        // Queries or keys [heads, new, d]: normed per head where the model does (Qwen3), then turned.
        let position = |x: Tensor, norm: &Option<Tensor>| -> candle_core::Result<Tensor> {
            let x = match norm {
                Some(w) => rms_norm(&x, w, cfg.rms_eps)?,
                None => x,
            };
            self.rotary.apply(&x, &cos, &sin)
        };

        let mut x = self.token_embd.index_select(&id_tensor(&ids[start..], &self.device)?, 0)?; // [new, hidden]
        for (index, block) in self.blocks.iter().enumerate() {
            let h = rms_norm(&x, &block.attn_norm, cfg.rms_eps)?;
            let q = position(split_heads(&block.attn_q.forward(&h)?, cfg.heads)?, &block.q_norm)?; // [heads, new, d]
            let k = position(split_heads(&block.attn_k.forward(&h)?, cfg.kv_heads)?, &block.k_norm)?; // [kv_heads, new, d]
            let v = split_heads(&block.attn_v.forward(&h)?, cfg.kv_heads)?;
            let (k, v) = KvCache::join(cache.as_deref_mut(), index, k, v)?; // [kv_heads, t, d]
            let (k, v) = (repeat_kv(&k, groups)?, repeat_kv(&v, groups)?);
            let out = recorder.attend(&q, &k, &v, mask.as_ref(), scoring, block.attn_output.weight())?; // [heads, new, d]
            x = (x + block.attn_output.forward(&merge_heads(&out)?)?)?;

            let h = rms_norm(&x, &block.ffn_norm, cfg.rms_eps)?;
            let gated = (candle_nn::ops::silu(&block.ffn_gate.forward(&h)?)? * block.ffn_up.forward(&h)?)?;
            x = (x + block.ffn_down.forward(&gated)?)?;
        }

        let last = x.i(new - 1)?.unsqueeze(0)?; // [1, hidden]
        let last = rms_norm(&last, &self.output_norm, cfg.rms_eps)?;
        let logits = last.matmul(&self.output.t()?)?.squeeze(0)?.to_dtype(DType::F32)?;
        Ok(Some(logits.to_vec1()?))
    }

    fn caches(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::gguf_name;

    #[test]
    fn hugging_face_names_become_llama_cpp_names() {
        let cases = [
            ("model.embed_tokens.weight", Some("token_embd.weight")),
            ("lm_head.weight", Some("output.weight")),
            ("model.norm.weight", Some("output_norm.weight")),
            ("model.layers.3.self_attn.q_proj.bias", Some("blk.3.attn_q.bias")),
            ("model.layers.0.self_attn.k_norm.weight", Some("blk.0.attn_k_norm.weight")),
            ("model.layers.12.post_attention_layernorm.weight", Some("blk.12.ffn_norm.weight")),
            ("model.layers.1.mlp.down_proj.weight", Some("blk.1.ffn_down.weight")),
            ("model.layers.1.self_attn.rotary_emb.inv_freq", None),
            ("model.layers.x.mlp.up_proj.weight", None),
        ];
        for (hf, ours) in cases {
            assert_eq!(gguf_name(hf).as_deref(), ours, "{hf}");
        }
    }
}
