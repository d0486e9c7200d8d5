//! StableLM (Stability AI's StableLM 2 and Zephyr): Llama's layout with LayerNorms that have
//! biases, a part of each head rotating (a quarter by default, rotate-half style), optional
//! biases on the query, key and value projections, optional per-head LayerNorms on queries
//! and keys (a weight of its own for each head), and optionally attention and feed-forward
//! side by side from the same normed input: x + attn(ln(x)) + mlp(ln(x)).
//! Weight names follow Hugging Face's `StableLmForCausalLM` (`model.layers.N.self_attn.q_proj.weight`, ...).

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::family::{self, Builder, Family};
use super::nn::{id_tensor, layer_norm, layer_norm_readout, merge_heads, repeat_kv, silu, split_heads, LayerNorm, Linear};
use super::rotary::{RopeScaling, Rotary};
use crate::error::{EngineError, Result};
use crate::forward::{Attending, Layer, Network, Stack};
use crate::intervention::attribution::Readout;
use crate::report::{ModelInfo, ModelKind, Scoring};

pub const FAMILY: Family = Family {
    name: "stablelm",
    model_types: &["stablelm"],
    gguf: None,
    kind: ModelKind::Text,
    builder: Builder::Whole {
        facts: |_, name, config| facts(name, family::config(config)?),
        load: |_, name, config, tensors| load(name, family::config(config)?, tensors),
    },
};

fn facts(name: &str, cfg: StableLmConfig) -> Result<(ModelInfo, usize)> {
    cfg.check()?;
    Ok((cfg.info(name), cfg.head_dim()))
}

fn load(name: &str, cfg: StableLmConfig, tensors: HashMap<String, Tensor>) -> Result<(ModelInfo, Box<dyn Network>)> {
    cfg.check()?;
    Ok((cfg.info(name), Box::new(StableLm::load(family::weights(tensors), cfg)?)))
}

/// The part of a StableLM config.json the network needs.
#[derive(Clone, Debug, Deserialize)]
pub struct StableLmConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub use_qkv_bias: bool,
    #[serde(default)]
    pub qk_layernorm: bool,
    #[serde(default)]
    pub use_parallel_residual: bool,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// The rotary base and the share of each head that rotates (newer configs); older ones
    /// say them at the top level.
    #[serde(default)]
    pub rope_parameters: Option<serde_json::Value>,
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
}

fn default_eps() -> f64 {
    1e-5
}

fn default_act() -> String {
    "silu".into()
}

impl StableLmConfig {
    fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    fn rope(&self, key: &str) -> Option<f64> {
        self.rope_parameters.as_ref().and_then(|r| r.get(key)).and_then(serde_json::Value::as_f64)
    }

    /// How many leading dimensions of each head rotate, as transformers counts them.
    fn rotary_dims(&self) -> usize {
        let share = self.rope("partial_rotary_factor").or(self.partial_rotary_factor).unwrap_or(0.25).clamp(0.0, 1.0);
        (self.head_dim() as f64 * share) as usize
    }

    fn rope_base(&self) -> f32 {
        self.rope("rope_theta").or(self.rope_theta).unwrap_or(10_000.0) as f32
    }

    /// Sizes that make a network, or a message that says which do not.
    fn check(&self) -> Result<()> {
        let (h, heads, kv) = (self.hidden_size, self.num_attention_heads, self.kv_heads());
        if heads == 0
            || kv == 0
            || !h.is_multiple_of(heads)
            || !heads.is_multiple_of(kv)
            || self.num_hidden_layers == 0
            || !self.rotary_dims().is_multiple_of(2)
        {
            return Err(EngineError::BadModelFile(format!(
                "config.json: a width of {h} cannot be split into {heads} heads over {kv} key/value heads with an even rotary part"
            )));
        }
        if self.hidden_act != "silu" {
            return Err(EngineError::BadModelFile(format!("config.json: the activation `{}` is not supported (StableLM's is silu)", self.hidden_act)));
        }
        Ok(())
    }

    pub fn info(&self, name: &str) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            architecture: FAMILY.name.into(),
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            kv_heads: self.kv_heads(),
            causal: true,
            max_positions: self.max_position_embeddings,
            vocab_size: self.vocab_size,
            ..ModelInfo::default()
        }
    }
}

/// A LayerNorm over each head's vector with a weight of its own per head (no bias):
/// [heads, t, d] normed over d, times weight [heads, 1, d].
struct PerHeadNorm {
    weight: Tensor,
    eps: f64,
}

impl PerHeadNorm {
    fn load(vb: VarBuilder, heads: usize, d: usize, eps: f64) -> candle_core::Result<Self> {
        let weights = (0..heads).map(|h| vb.get(d, &format!("norms.{h}.weight"))).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { weight: Tensor::stack(&weights, 0)?.unsqueeze(1)?, eps })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let centred = x.broadcast_sub(&x.mean_keepdim(2)?)?;
        let scale = (centred.sqr()?.mean_keepdim(2)? + self.eps)?.sqrt()?;
        centred.broadcast_div(&scale)?.broadcast_mul(&self.weight)
    }
}

struct Block {
    input_layernorm: LayerNorm,
    /// Absent when attention and feed-forward read the same normed input.
    post_attention_layernorm: Option<LayerNorm>,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_layernorm: Option<PerHeadNorm>,
    k_layernorm: Option<PerHeadNorm>,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    /// Shared by every layer (the run makes its tables once).
    rotary: Arc<Rotary>,
    heads: usize,
    kv_heads: usize,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &StableLmConfig, rotary: Arc<Rotary>) -> candle_core::Result<Self> {
        let (h, d, eps) = (cfg.hidden_size, cfg.head_dim(), cfg.layer_norm_eps);
        let (heads, kv_heads) = (cfg.num_attention_heads, cfg.kv_heads());
        let attn = vb.pp("self_attn");
        let projection =
            |name: &str, out: usize| if cfg.use_qkv_bias { Linear::load(attn.pp(name), h, out) } else { Linear::load_without_bias(attn.pp(name), h, out) };
        let mlp = vb.pp("mlp");
        Ok(Self {
            input_layernorm: layer_norm(vb.pp("input_layernorm"), h, eps)?,
            post_attention_layernorm: (!cfg.use_parallel_residual).then(|| layer_norm(vb.pp("post_attention_layernorm"), h, eps)).transpose()?,
            q_proj: projection("q_proj", heads * d)?,
            k_proj: projection("k_proj", kv_heads * d)?,
            v_proj: projection("v_proj", kv_heads * d)?,
            o_proj: Linear::load_without_bias(attn.pp("o_proj"), h, h)?,
            q_layernorm: cfg.qk_layernorm.then(|| PerHeadNorm::load(attn.pp("q_layernorm"), heads, d, eps)).transpose()?,
            k_layernorm: cfg.qk_layernorm.then(|| PerHeadNorm::load(attn.pp("k_layernorm"), kv_heads, d, eps)).transpose()?,
            gate_proj: Linear::load_without_bias(mlp.pp("gate_proj"), h, cfg.intermediate_size)?,
            up_proj: Linear::load_without_bias(mlp.pp("up_proj"), h, cfg.intermediate_size)?,
            down_proj: Linear::load_without_bias(mlp.pp("down_proj"), cfg.intermediate_size, h)?,
            rotary,
            heads,
            kv_heads,
        })
    }

    /// down(SiLU(gate(x)) · up(x))
    fn mlp(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.down_proj.forward(&(silu(&self.gate_proj.forward(x)?)? * self.up_proj.forward(x)?)?)
    }
}

impl Layer for Block {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let h = self.input_layernorm.forward(x)?;
        let (cos, sin) = at.rotary_tables(&self.rotary)?; // [new, rotated / 2] each
                                                          // Normed per head where the model does, then the rotary part turned: [heads, new, d].
        let position = |x: Tensor, norm: &Option<PerHeadNorm>| -> candle_core::Result<Tensor> {
            let x = match norm {
                Some(norm) => norm.forward(&x)?,
                None => x,
            };
            self.rotary.apply(&x, &cos, &sin)
        };
        let q = position(split_heads(&self.q_proj.forward(&h)?, self.heads)?, &self.q_layernorm)?;
        let k = position(split_heads(&self.k_proj.forward(&h)?, self.kv_heads)?, &self.k_layernorm)?;
        let v = split_heads(&self.v_proj.forward(&h)?, self.kv_heads)?;
        let (k, v) = at.keys_values(k, v)?; // [kv_heads, t, d]
        let groups = self.heads / self.kv_heads;
        let (k, v) = (repeat_kv(&k, groups)?, repeat_kv(&v, groups)?);
        let mask = at.mask(None)?; // [new, t]
        let out = at.attend(&q, &k, &v, mask.as_ref(), Scoring::standard(q.dim(2)?), || self.o_proj.weight())?; // [heads, new, d]
        x + self.o_proj.forward(&merge_heads(&out)?)?
    }

    fn feed_forward(&self, input: &Tensor, attended: &Tensor) -> candle_core::Result<Tensor> {
        match &self.post_attention_layernorm {
            // x + mlp(ln₂(x + attn))
            Some(norm) => attended + self.mlp(&norm.forward(attended)?)?,
            // Side by side: x + attn(ln(x)) + mlp(ln(x)).
            None => attended + self.mlp(&self.input_layernorm.forward(input)?)?,
        }
    }
}

pub struct StableLm {
    cfg: StableLmConfig,
    embed_tokens: Tensor, // [vocab, hidden]
    lm_head: Tensor,      // [vocab, hidden]; the embedding itself when tied
    blocks: Vec<Block>,
    norm: LayerNorm,
    device: Device,
}

impl StableLm {
    pub fn load(vb: VarBuilder, cfg: StableLmConfig) -> Result<Self> {
        let (h, model) = (cfg.hidden_size, vb.pp("model"));
        // The embeddings first: their shape proves the width before anything is sized by it.
        let embed_tokens = model.get((cfg.vocab_size, h), "embed_tokens.weight")?;
        let lm_head = if cfg.tie_word_embeddings && !vb.contains_tensor("lm_head.weight") {
            embed_tokens.clone()
        } else {
            vb.get((cfg.vocab_size, h), "lm_head.weight")?
        };
        let rotary = Arc::new(Rotary::new(cfg.rope_base(), cfg.rotary_dims(), false, &RopeScaling::None));
        let blocks =
            (0..cfg.num_hidden_layers).map(|i| Block::load(model.pp(format!("layers.{i}")), &cfg, rotary.clone())).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { norm: layer_norm(model.pp("norm"), h, cfg.layer_norm_eps)?, device: vb.device().clone(), embed_tokens, lm_head, blocks, cfg })
    }
}

impl Network for StableLm {
    fn layers(&self) -> &dyn Stack {
        &self.blocks
    }

    /// One rotary set, on a part of each head.
    fn positions(&self, _shown: usize) -> Vec<crate::report::positions::PositionSet> {
        let layers = (0..self.blocks.len()).collect();
        self.blocks.first().map(|b| b.rotary.position_set("every layer", layers, self.cfg.head_dim(), self.cfg.max_position_embeddings)).into_iter().collect()
    }

    fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        self.embed_tokens.index_select(&id_tensor(&ids[start..], &self.device)?, 0)
        // [new, hidden]
    }

    fn logits(&self, last: &Tensor) -> candle_core::Result<Option<Tensor>> {
        self.norm.forward(last)?.matmul(&self.lm_head.t()?)?.to_dtype(DType::F32).map(Some)
        // [copies, vocab]
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn caches(&self) -> bool {
        true
    }

    fn readout(&self, ids: &[u32]) -> Result<Option<Readout>> {
        let rows = self.lm_head.index_select(&id_tensor(ids, &self.device)?, 0)?.to_dtype(DType::F32)?.to_vec2()?;
        Ok(Some(Readout { norm: layer_norm_readout(&self.norm, self.cfg.layer_norm_eps)?, rows, softcap: None }))
    }
}
