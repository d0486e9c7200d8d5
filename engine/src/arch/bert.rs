//! BERT: learned positions, post-norm layers, GELU (erf). Weight names follow
//! Hugging Face's `BertModel` (`encoder.layer.N.attention.self.query.weight`, ...),
//! with or without a `bert.` prefix.

use candle_core::{Device, IndexOp, Module, Tensor};
use candle_nn::{LayerNorm, LayerNormConfig, Linear, VarBuilder};
use serde::Deserialize;

use super::{id_tensor, position_tensor, Network};
use crate::attention::{additive_mask, merge_heads, split_heads, Recorder};
use crate::prefix::KvCache;
use crate::error::Result;
use crate::report::{Mask, Scoring};

/// The part of a BERT config.json the network needs.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

/// A projection with its weight kept column-major (see [`super::column_major`]).
fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> candle_core::Result<Linear> {
    let weight = super::column_major(&vb.get((out_dim, in_dim), "weight")?)?;
    Ok(Linear::new(weight, Some(vb.get(out_dim, "bias")?)))
}

fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(size, LayerNormConfig { eps, ..Default::default() }, vb)
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let attn = vb.pp("attention");
        Ok(Self {
            query: linear(h, h, attn.pp("self.query"))?,
            key: linear(h, h, attn.pp("self.key"))?,
            value: linear(h, h, attn.pp("self.value"))?,
            attention_output: linear(h, h, attn.pp("output.dense"))?,
            attention_norm: layer_norm(attn.pp("output.LayerNorm"), h, eps)?,
            intermediate: linear(h, i, vb.pp("intermediate.dense"))?,
            output: linear(i, h, vb.pp("output.dense"))?,
            output_norm: layer_norm(vb.pp("output.LayerNorm"), h, eps)?,
        })
    }
}

pub struct Bert {
    cfg: BertConfig,
    word_embeddings: Tensor,       // [vocab, hidden]
    position_embeddings: Tensor,   // [positions, hidden]
    token_type_embeddings: Tensor, // [types, hidden]
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    device: Device,
}

impl Bert {
    pub fn load(vb: VarBuilder, cfg: BertConfig) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let (h, emb) = (cfg.hidden_size, vb.pp("embeddings"));
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), &cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings: emb.get((cfg.vocab_size, h), "word_embeddings.weight")?,
            position_embeddings: emb.get((cfg.max_position_embeddings, h), "position_embeddings.weight")?,
            token_type_embeddings: emb.get((cfg.type_vocab_size, h), "token_type_embeddings.weight")?,
            embeddings_norm: layer_norm(emb.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            device: vb.device().clone(),
            layers,
            cfg,
        })
    }
}

impl Network for Bert {
    fn forward(&self, ids: &[u32], mask: Mask, recorder: &mut Recorder, _cache: Option<&mut KvCache>) -> Result<Option<Vec<f32>>> {
        let cfg = &self.cfg;
        let t = ids.len();
        let heads = cfg.num_attention_heads;
        let mask = additive_mask(mask, t, &self.device)?;

        // Every token is of segment 0: one sentence.
        let x = (self.word_embeddings.index_select(&id_tensor(ids, &self.device)?, 0)?
            + self.position_embeddings.index_select(&position_tensor(t, &self.device)?, 0)?)?
            .broadcast_add(&self.token_type_embeddings.i(0)?)?;
        let mut x = self.embeddings_norm.forward(&x)?; // [t, hidden]

        for layer in &self.layers {
            let q = split_heads(&layer.query.forward(&x)?, heads)?; // [heads, t, d]
            let k = split_heads(&layer.key.forward(&x)?, heads)?;
            let v = split_heads(&layer.value.forward(&x)?, heads)?;
            let out = recorder.attend(&q, &k, &v, mask.as_ref(), Scoring::standard(q.dim(2)?), layer.attention_output.weight())?;
            x = layer.attention_norm.forward(&(layer.attention_output.forward(&merge_heads(&out)?)? + &x)?)?;
            let inner = layer.intermediate.forward(&x)?;
            let inner = if cfg.hidden_act == "gelu_new" { inner.gelu()? } else { inner.gelu_erf()? };
            x = layer.output_norm.forward(&(layer.output.forward(&inner)? + &x)?)?;
        }
        // An encoder has no language-model head here: no next-token guess.
        Ok(None)
    }
}
