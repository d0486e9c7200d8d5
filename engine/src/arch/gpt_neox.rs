//! GPT-NeoX (EleutherAI's Pythia): LayerNorm with biases, one fused query|key|value
//! projection laid out head by head, rotary embeddings on a part of each head, and
//! (with `use_parallel_residual`) attention and feed-forward side by side from the same
//! input: x + attn(ln₁(x)) + mlp(ln₂(x)). Weight names follow Hugging Face's
//! `GPTNeoXForCausalLM` (`gpt_neox.layers.N.attention.query_key_value.weight`, ...).

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::family::{self, Builder, Family};
use super::nn::{gelu_erf, gelu_tanh, id_tensor, layer_norm, layer_norm_readout, merge_heads, LayerNorm, Linear};
use super::rotary::{RopeScaling, Rotary};
use crate::error::{EngineError, Result};
use crate::forward::{Attending, Layer, Network, Stack};
use crate::intervention::attribution::Readout;
use crate::report::{ModelInfo, ModelKind, Scoring};

pub const FAMILY: Family = Family {
    name: "gpt_neox",
    model_types: &["gpt_neox"],
    gguf: Some("gptneox"),
    kind: ModelKind::Text,
    builder: Builder::Whole {
        facts: |_, name, config| facts(name, family::config(config)?),
        load: |_, name, config, tensors| load(name, family::config(config)?, tensors),
    },
};

fn facts(name: &str, cfg: GptNeoXConfig) -> Result<(ModelInfo, usize)> {
    Ok((cfg.info(name), cfg.head_dim()))
}

fn load(name: &str, cfg: GptNeoXConfig, tensors: HashMap<String, Tensor>) -> Result<(ModelInfo, Box<dyn Network>)> {
    Ok((cfg.info(name), Box::new(GptNeoX::load(family::weights(tensors), cfg)?)))
}

/// The part of a GPT-NeoX config.json the network needs.
#[derive(Clone, Debug, Deserialize)]
pub struct GptNeoXConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// The share of each head that rotates (older configs: `rotary_pct`; newer: in `rope_parameters`).
    #[serde(default)]
    pub rotary_pct: Option<f64>,
    #[serde(default)]
    pub rotary_emb_base: Option<f32>,
    #[serde(default)]
    pub rope_parameters: Option<serde_json::Value>,
    #[serde(default = "default_parallel")]
    pub use_parallel_residual: bool,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_parallel() -> bool {
    true
}
fn default_act() -> String {
    "gelu".into()
}

impl GptNeoXConfig {
    fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    fn rope(&self, key: &str) -> Option<f64> {
        self.rope_parameters.as_ref().and_then(|r| r.get(key)).and_then(serde_json::Value::as_f64)
    }

    /// How many leading dimensions of each head rotate (even).
    fn rotary_dims(&self) -> usize {
        let share = self.rope("partial_rotary_factor").or(self.rotary_pct).unwrap_or(0.25);
        ((self.head_dim() as f64 * share) as usize) / 2 * 2
    }

    pub fn info(&self, name: &str) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            architecture: "gpt_neox".into(),
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            kv_heads: self.num_attention_heads,
            causal: true,
            max_positions: self.max_position_embeddings,
            vocab_size: self.vocab_size,
            ..ModelInfo::default()
        }
    }
}

struct Block {
    input_layernorm: LayerNorm,
    post_attention_layernorm: LayerNorm,
    query_key_value: Linear,
    dense: Linear,
    dense_h_to_4h: Linear,
    dense_4h_to_h: Linear,
    /// Shared by every layer (the run makes its tables once).
    rotary: Arc<Rotary>,
    heads: usize,
    /// The feed-forward reads the layer's input (beside attention) rather than attention's output.
    parallel: bool,
    /// GELU with the exact erf (`gelu`), else tanh's.
    exact_gelu: bool,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &GptNeoXConfig, rotary: Arc<Rotary>) -> candle_core::Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            input_layernorm: layer_norm(vb.pp("input_layernorm"), h, eps)?,
            post_attention_layernorm: layer_norm(vb.pp("post_attention_layernorm"), h, eps)?,
            query_key_value: Linear::load(vb.pp("attention.query_key_value"), h, 3 * h)?,
            dense: Linear::load(vb.pp("attention.dense"), h, h)?,
            dense_h_to_4h: Linear::load(vb.pp("mlp.dense_h_to_4h"), h, cfg.intermediate_size)?,
            dense_4h_to_h: Linear::load(vb.pp("mlp.dense_4h_to_h"), cfg.intermediate_size, h)?,
            rotary,
            heads: cfg.num_attention_heads,
            parallel: cfg.use_parallel_residual,
            exact_gelu: cfg.hidden_act == "gelu",
        })
    }

    /// dense_4h_to_h(GELU(dense_h_to_4h(LN₂ x)))
    fn mlp(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let inner = self.dense_h_to_4h.forward(&self.post_attention_layernorm.forward(x)?)?;
        let inner = if self.exact_gelu { gelu_erf(&inner)? } else { gelu_tanh(&inner)? };
        self.dense_4h_to_h.forward(&inner)
    }
}

impl Layer for Block {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let (new, width) = x.dims2()?;
        let d = width / self.heads;
        let (cos, sin) = at.rotary_tables(&self.rotary)?; // [new, rotated / 2] each
                                                          // The fused projection is laid out head by head: [new, heads, (q | k | v) of d each].
        let qkv = self.query_key_value.forward(&self.input_layernorm.forward(x)?)?.reshape((new, self.heads, 3 * d))?.transpose(0, 1)?; // [heads, new, 3d]
        let part = |i: usize| qkv.narrow(2, i * d, d)?.contiguous();
        let q = self.rotary.apply(&part(0)?, &cos, &sin)?;
        let k = self.rotary.apply(&part(1)?, &cos, &sin)?;
        let (k, v) = at.keys_values(k, part(2)?)?; // [heads, t, d]
        let mask = at.mask(None)?; // [new, t]
        let out = at.attend(&q, &k, &v, mask.as_ref(), Scoring::standard(d), || self.dense.weight())?; // [heads, new, d]
        x + self.dense.forward(&merge_heads(&out)?)?
    }

    fn feed_forward(&self, input: &Tensor, attended: &Tensor) -> candle_core::Result<Tensor> {
        // Parallel: x + attn(ln₁(x)) + mlp(ln₂(x)); else the MLP reads attention's output.
        attended + self.mlp(if self.parallel { input } else { attended })?
    }
}

pub struct GptNeoX {
    cfg: GptNeoXConfig,
    embed_in: Tensor,  // [vocab, hidden]
    embed_out: Tensor, // [vocab, hidden]
    blocks: Vec<Block>,
    final_layer_norm: LayerNorm,
    device: Device,
}

impl GptNeoX {
    pub fn load(vb: VarBuilder, cfg: GptNeoXConfig) -> Result<Self> {
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        if heads == 0 || h % heads != 0 || !cfg.head_dim().is_multiple_of(2) {
            return Err(EngineError::BadModelFile(format!("a width of {h} cannot be split into {heads} heads")));
        }
        let model = vb.pp("gpt_neox");
        // The embeddings first: their shape proves the width before anything is sized by it.
        let embed_in = model.get((cfg.vocab_size, h), "embed_in.weight")?;
        let base = cfg.rope("rope_theta").map(|b| b as f32).or(cfg.rotary_emb_base).unwrap_or(10_000.0);
        let rotary = Arc::new(Rotary::new(base, cfg.rotary_dims(), false, &RopeScaling::None));
        let blocks =
            (0..cfg.num_hidden_layers).map(|i| Block::load(model.pp(format!("layers.{i}")), &cfg, rotary.clone())).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            embed_in,
            embed_out: vb.get((cfg.vocab_size, h), "embed_out.weight")?,
            final_layer_norm: layer_norm(model.pp("final_layer_norm"), h, cfg.layer_norm_eps)?,
            device: vb.device().clone(),
            blocks,
            cfg,
        })
    }
}

impl Network for GptNeoX {
    fn layers(&self) -> &dyn Stack {
        &self.blocks
    }

    /// One rotary set, on a part of each head.
    fn positions(&self, _shown: usize) -> Vec<crate::report::positions::PositionSet> {
        let layers = (0..self.blocks.len()).collect();
        self.blocks.first().map(|b| b.rotary.position_set("every layer", layers, self.cfg.head_dim(), self.cfg.max_position_embeddings)).into_iter().collect()
    }

    fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        self.embed_in.index_select(&id_tensor(&ids[start..], &self.device)?, 0) // [new, hidden]
    }

    fn logits(&self, last: &Tensor) -> candle_core::Result<Option<Tensor>> {
        self.final_layer_norm.forward(last)?.matmul(&self.embed_out.t()?)?.to_dtype(DType::F32).map(Some)
        // [copies, vocab]
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn caches(&self) -> bool {
        true
    }

    fn readout(&self, ids: &[u32]) -> Result<Option<Readout>> {
        let rows = self.embed_out.index_select(&id_tensor(ids, &self.device)?, 0)?.to_dtype(DType::F32)?.to_vec2()?;
        Ok(Some(Readout { norm: layer_norm_readout(&self.final_layer_norm, self.cfg.layer_norm_eps)?, rows, softcap: None }))
    }
}
