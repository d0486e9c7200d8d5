//! GPT-NeoX (EleutherAI's Pythia): LayerNorm with biases, one fused query|key|value
//! projection laid out head by head, rotary embeddings on a part of each head, and
//! (with `use_parallel_residual`) attention and feed-forward side by side from the same
//! input: x + attn(ln₁(x)) + mlp(ln₂(x)). Weight names follow Hugging Face's
//! `GPTNeoXForCausalLM` (`gpt_neox.layers.N.attention.query_key_value.weight`, ...).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::rotary::{RopeScaling, Rotary};
use super::{id_tensor, layer_norm, layer_norm_readout, linear_with_bias, Network};
use crate::intervention::attribution::Readout;
use crate::attention::{merge_heads, Recorder};
use crate::error::{EngineError, Result};
use crate::prefix::KvCache;
use crate::report::{Mask, ModelInfo, Scoring};

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
            layer_windows: Vec::new(),
            weights: crate::report::WeightPath::Float32,
        }
    }
}


struct Layer {
    input_layernorm: LayerNorm,
    post_attention_layernorm: LayerNorm,
    query_key_value: Linear,
    dense: Linear,
    dense_h_to_4h: Linear,
    dense_4h_to_h: Linear,
}

pub struct GptNeoX {
    cfg: GptNeoXConfig,
    embed_in: Tensor,  // [vocab, hidden]
    embed_out: Tensor, // [vocab, hidden]
    layers: Vec<Layer>,
    final_layer_norm: LayerNorm,
    rotary: Rotary,
    device: Device,
}

impl GptNeoX {
    pub fn load(vb: VarBuilder, cfg: GptNeoXConfig) -> Result<Self> {
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        if heads == 0 || h % heads != 0 || cfg.head_dim() % 2 != 0 {
            return Err(EngineError::BadModelFile(format!("a width of {h} cannot be split into {heads} heads")));
        }
        let model = vb.pp("gpt_neox");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let vb = model.pp(format!("layers.{i}"));
                Ok(Layer {
                    input_layernorm: layer_norm(vb.pp("input_layernorm"), h, cfg.layer_norm_eps)?,
                    post_attention_layernorm: layer_norm(vb.pp("post_attention_layernorm"), h, cfg.layer_norm_eps)?,
                    query_key_value: linear_with_bias(vb.pp("attention.query_key_value"), h, 3 * h)?,
                    dense: linear_with_bias(vb.pp("attention.dense"), h, h)?,
                    dense_h_to_4h: linear_with_bias(vb.pp("mlp.dense_h_to_4h"), h, cfg.intermediate_size)?,
                    dense_4h_to_h: linear_with_bias(vb.pp("mlp.dense_4h_to_h"), cfg.intermediate_size, h)?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let base = cfg.rope("rope_theta").map(|b| b as f32).or(cfg.rotary_emb_base).unwrap_or(10_000.0);
        Ok(Self {
            embed_in: model.get((cfg.vocab_size, h), "embed_in.weight")?,
            embed_out: vb.get((cfg.vocab_size, h), "embed_out.weight")?,
            final_layer_norm: layer_norm(model.pp("final_layer_norm"), h, cfg.layer_norm_eps)?,
            rotary: Rotary::new(base, cfg.rotary_dims(), false, &RopeScaling::None),
            device: vb.device().clone(),
            layers,
            cfg,
        })
    }

    fn feed_forward(&self, layer: &Layer, x: &Tensor) -> candle_core::Result<Tensor> {
        let inner = layer.dense_h_to_4h.forward(x)?;
        let inner = if self.cfg.hidden_act == "gelu" { inner.gelu_erf()? } else { inner.gelu()? };
        layer.dense_4h_to_h.forward(&inner)
    }
}

impl Network for GptNeoX {
    fn forward(&self, ids: &[u32], mask: Mask, recorder: &mut Recorder, mut cache: Option<&mut KvCache>) -> Result<Option<Vec<f32>>> {
        let cfg = &self.cfg;
        let (t, heads, d) = (ids.len(), cfg.num_attention_heads, cfg.head_dim());
        let start = KvCache::resume(cache.as_deref_mut(), t)?;
        let (cos, sin) = self.rotary.tables(start, t, &self.device)?; // [new, d / 2] each
        let (cos, sin) = (recorder.for_each_copy(cos)?, recorder.for_each_copy(sin)?);
        let mask = recorder.mask(mask, None, start, t, &self.device)?; // [new, t]
        let scoring = Scoring::standard(d);

        let (first, mut x) = match recorder.take_resume() {
            Some(resumed) => resumed,
            None => (0, self.embed_in.index_select(&id_tensor(&ids[start..], &self.device)?, 0)?), // [new, hidden]
        };
        for (index, layer) in self.layers.iter().enumerate().skip(first) {
            recorder.entering_layer(&x)?;
            // The fused projection is laid out head by head: [new, heads, (q | k | v) of d each].
            let qkv = layer.query_key_value.forward(&layer.input_layernorm.forward(&x)?)?.reshape((x.dim(0)?, heads, 3 * d))?.transpose(0, 1)?; // [heads, new, 3d]
            let part = |i: usize| qkv.narrow(2, i * d, d)?.contiguous();
            let q = self.rotary.apply(&part(0)?, &cos, &sin)?;
            let k = self.rotary.apply(&part(1)?, &cos, &sin)?;
            let (k, v) = KvCache::join(cache.as_deref_mut(), index, k, part(2)?)?; // [heads, t, d]
            let out = recorder.attend(&q, &k, &v, mask.as_ref(), scoring, || Ok(layer.dense.weight().clone()))?; // [heads, new, d]
            let attended = layer.dense.forward(&merge_heads(&out)?)?;
            x = if cfg.use_parallel_residual {
                let beside = self.feed_forward(layer, &layer.post_attention_layernorm.forward(&x)?)?;
                let with_attention = (&x + attended)?;
                recorder.attention_added(&with_attention, None, 0.0)?;
                (with_attention + beside)?
            } else {
                let x = (&x + attended)?;
                recorder.attention_added(&x, None, 0.0)?;
                (&x + self.feed_forward(layer, &layer.post_attention_layernorm.forward(&x)?)?)?
            };
        }
        recorder.leaving(&x)?;
        let last = self.final_layer_norm.forward(&recorder.last_rows(&x)?)?; // [copies, hidden]: one but in a batched run
        let logits = last.matmul(&self.embed_out.t()?)?.to_dtype(DType::F32)?; // [copies, vocab]
        Ok(Some(logits.flatten_all()?.to_vec1()?))
    }

    fn caches(&self) -> bool {
        true
    }

    fn readout(&self, ids: &[u32]) -> Result<Option<Readout>> {
        let rows = self.embed_out.index_select(&id_tensor(ids, &self.device)?, 0)?.to_dtype(DType::F32)?.to_vec2()?;
        Ok(Some(Readout { norm: layer_norm_readout(&self.final_layer_norm, self.cfg.layer_norm_eps)?, rows, softcap: None }))
    }
}
