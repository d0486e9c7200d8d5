//! BERT and its kin: learned positions, post-norm layers, GELU (erf). Weight names
//! follow Hugging Face's `BertModel` (`encoder.layer.N.attention.self.query.weight`,
//! ...); RoBERTa's are the same (its positions count from the padding id + 1, and it has
//! one token type), DistilBERT's are renamed to them at load ([`bert_names`]; it has no
//! token types).

use std::collections::HashMap;

use candle_core::{Device, IndexOp, Module, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::family::{self, Builder, Family};
use super::nn::{gelu_erf, gelu_tanh, id_tensor, layer_norm, merge_heads, position_tensor, split_heads, LayerNorm, Linear};
use crate::error::{EngineError, Result};
use crate::forward::{Attending, Layer, Network, Stack};
use crate::report::{ModelInfo, ModelKind, Scoring};

/// A family this network runs: its name is its `model_type`.
const fn bert_family(name: &'static str, model_types: &'static [&'static str], gguf: Option<&'static str>) -> Family {
    Family { name, model_types, gguf, kind: ModelKind::Text, builder: Builder::Whole { facts, load } }
}

pub const BERT: Family = bert_family("bert", &["bert"], Some("bert"));
pub const ROBERTA: Family = bert_family("roberta", &["roberta"], None);
pub const DISTILBERT: Family = bert_family("distilbert", &["distilbert"], None);

fn facts(family: &str, name: &str, config: &[u8]) -> Result<(ModelInfo, usize)> {
    let cfg = BertConfig::from_hf(config, family)?;
    Ok((cfg.info(name), cfg.hidden_size / cfg.num_attention_heads))
}

fn load(family: &str, name: &str, config: &[u8], tensors: HashMap<String, Tensor>) -> Result<(ModelInfo, Box<dyn Network>)> {
    let cfg = BertConfig::from_hf(config, family)?;
    let tensors = bert_names(tensors, family);
    Ok((cfg.info(name), Box::new(Bert::load(family::weights(tensors), cfg)?)))
}

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
    /// The first position's row in the position table (RoBERTa: its padding id + 1).
    #[serde(skip)]
    pub position_offset: usize,
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// `bert`, `roberta` or `distilbert`.
    #[serde(skip)]
    pub family: String,
}

/// DistilBERT's config.json, in its own words.
#[derive(Deserialize)]
struct DistilBertConfig {
    vocab_size: usize,
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    hidden_dim: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_act")]
    activation: String,
    #[serde(default)]
    sinusoidal_pos_embds: bool,
}

impl BertConfig {
    /// From the config.json of a model of `family` (one of [`FAMILIES`]).
    pub fn from_hf(config: &[u8], family: &str) -> Result<Self> {
        let bad = |e: serde_json::Error| EngineError::BadModelFile(format!("config.json: {e}"));
        let mut cfg = if family == "distilbert" {
            let d: DistilBertConfig = serde_json::from_slice(config).map_err(bad)?;
            if d.sinusoidal_pos_embds {
                return Err(EngineError::BadModelFile("config.json: DistilBERT with sinusoidal positions is not supported".into()));
            }
            BertConfig {
                vocab_size: d.vocab_size,
                hidden_size: d.dim,
                num_hidden_layers: d.n_layers,
                num_attention_heads: d.n_heads,
                intermediate_size: d.hidden_dim,
                max_position_embeddings: d.max_position_embeddings,
                type_vocab_size: 0,
                layer_norm_eps: 1e-12,
                hidden_act: d.activation,
                position_offset: 0,
                pad_token_id: None,
                family: String::new(),
            }
        } else {
            serde_json::from_slice(config).map_err(bad)?
        };
        cfg.family = family.into();
        if family == "roberta" {
            cfg.position_offset = cfg.pad_token_id.unwrap_or(1) + 1;
        }
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        if heads == 0 || h % heads != 0 || cfg.num_hidden_layers == 0 || cfg.max_position_embeddings <= cfg.position_offset {
            return Err(EngineError::BadModelFile(format!("config.json: inconsistent sizes ({} layers, {heads} heads, width {h})", cfg.num_hidden_layers)));
        }
        Ok(cfg)
    }

    pub fn info(&self, name: &str) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            architecture: self.family.clone(),
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            kv_heads: self.num_attention_heads,
            causal: false,
            max_positions: self.max_position_embeddings - self.position_offset,
            vocab_size: self.vocab_size,
            ..ModelInfo::default()
        }
    }
}

/// The weights of a model of `family` under `BertModel`'s names, without a `bert.`,
/// `roberta.` or `distilbert.` prefix.
pub fn bert_names(tensors: HashMap<String, Tensor>, family: &str) -> HashMap<String, Tensor> {
    const DISTILBERT: [(&str, &str); 8] = [
        ("attention.q_lin", "attention.self.query"),
        ("attention.k_lin", "attention.self.key"),
        ("attention.v_lin", "attention.self.value"),
        ("attention.out_lin", "attention.output.dense"),
        ("sa_layer_norm", "attention.output.LayerNorm"),
        ("ffn.lin1", "intermediate.dense"),
        ("ffn.lin2", "output.dense"),
        ("output_layer_norm", "output.LayerNorm"),
    ];
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            let name = ["bert.", "roberta.", "distilbert."].iter().find_map(|p| name.strip_prefix(p)).unwrap_or(&name).to_string();
            let name = match name.strip_prefix("transformer.layer.") {
                Some(rest) if family == "distilbert" => {
                    let renamed = DISTILBERT.iter().fold(rest.to_string(), |n, (theirs, ours)| n.replacen(theirs, ours, 1));
                    format!("encoder.layer.{renamed}")
                }
                _ => name,
            };
            (name, tensor)
        })
        .collect()
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

/// A post-norm layer: x = LN(x + attn(x)); x = LN(x + W₂ GELU(W₁ x)).
struct Block {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    /// GELU with tanh's approximation (`gelu_new`), else the exact erf.
    tanh_gelu: bool,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let attn = vb.pp("attention");
        Ok(Self {
            query: Linear::load(attn.pp("self.query"), h, h)?,
            key: Linear::load(attn.pp("self.key"), h, h)?,
            value: Linear::load(attn.pp("self.value"), h, h)?,
            attention_output: Linear::load(attn.pp("output.dense"), h, h)?,
            attention_norm: layer_norm(attn.pp("output.LayerNorm"), h, eps)?,
            intermediate: Linear::load(vb.pp("intermediate.dense"), h, i)?,
            output: Linear::load(vb.pp("output.dense"), i, h)?,
            output_norm: layer_norm(vb.pp("output.LayerNorm"), h, eps)?,
            heads: cfg.num_attention_heads,
            tanh_gelu: cfg.hidden_act == "gelu_new",
        })
    }
}

impl Layer for Block {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let heads = |linear: &Linear| split_heads(&linear.forward(x)?, self.heads); // [heads, t, d]
        let (q, k, v) = (heads(&self.query)?, heads(&self.key)?, heads(&self.value)?);
        let mask = at.mask(None)?;
        let out = at.attend(&q, &k, &v, mask.as_ref(), Scoring::standard(q.dim(2)?), || self.attention_output.weight())?;
        self.attention_norm.forward(&(self.attention_output.forward(&merge_heads(&out)?)? + x)?)
    }

    fn feed_forward(&self, _input: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
        let inner = self.intermediate.forward(x)?;
        let inner = if self.tanh_gelu { gelu_tanh(&inner)? } else { gelu_erf(&inner)? };
        self.output_norm.forward(&(self.output.forward(&inner)? + x)?)
    }
}

pub struct Bert {
    cfg: BertConfig,
    word_embeddings: Tensor,               // [vocab, hidden]
    position_embeddings: Tensor,           // [positions, hidden]
    token_type_embeddings: Option<Tensor>, // [types, hidden]; DistilBERT has none
    embeddings_norm: LayerNorm,
    blocks: Vec<Block>,
    device: Device,
}

impl Bert {
    pub fn load(vb: VarBuilder, cfg: BertConfig) -> Result<Self> {
        let (h, emb) = (cfg.hidden_size, vb.pp("embeddings"));
        let blocks = (0..cfg.num_hidden_layers).map(|i| Block::load(vb.pp(format!("encoder.layer.{i}")), &cfg)).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings: emb.get((cfg.vocab_size, h), "word_embeddings.weight")?,
            position_embeddings: emb.get((cfg.max_position_embeddings, h), "position_embeddings.weight")?,
            token_type_embeddings: if cfg.type_vocab_size > 0 { Some(emb.get((cfg.type_vocab_size, h), "token_type_embeddings.weight")?) } else { None },
            embeddings_norm: layer_norm(emb.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            device: vb.device().clone(),
            blocks,
            cfg,
        })
    }
}

impl Network for Bert {
    fn layers(&self) -> &dyn Stack {
        &self.blocks
    }

    /// Its learned table as stored (BERT adds the token-type row 0 to every position too).
    fn positions(&self, shown: usize) -> Vec<crate::report::positions::PositionSet> {
        crate::positions::learned("input", &self.position_embeddings, self.cfg.position_offset, shown).into_iter().collect()
    }

    /// An encoder never continues from a cache: `start` is 0.
    fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        let offset = self.cfg.position_offset;
        let positions = position_tensor(offset + start, offset + ids.len(), &self.device)?;
        let x = (self.word_embeddings.index_select(&id_tensor(&ids[start..], &self.device)?, 0)? + self.position_embeddings.index_select(&positions, 0)?)?;
        // Every token is of segment 0: one sentence.
        let x = match &self.token_type_embeddings {
            Some(types) => x.broadcast_add(&types.i(0)?)?,
            None => x,
        };
        self.embeddings_norm.forward(&x) // [t, hidden]
    }

    /// An encoder has no language-model head here: no next-token guess.
    fn logits(&self, _last: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(None)
    }

    fn device(&self) -> &Device {
        &self.device
    }
}
