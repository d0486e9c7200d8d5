//! GPT-2: learned positions, pre-norm blocks, fused q/k/v projection, GELU (tanh).
//! Weight names follow Hugging Face's `GPT2Model` (`h.N.attn.c_attn.weight`, ...),
//! with or without a `transformer.` prefix. Its `Conv1D` weights are stored
//! [in, out], the transpose of a `Linear`'s.

use std::collections::HashMap;

use candle_core::{Device, Module, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::family::{self, Builder, Family};
use super::nn::{gelu_tanh, id_tensor, layer_norm, layer_norm_readout, merge_heads, position_tensor, split_heads, LayerNorm, Linear};
use crate::error::Result;
use crate::forward::{Attending, Layer, Network, Stack};
use crate::intervention::attribution::Readout;
use crate::report::{ModelInfo, ModelKind, Scoring};

pub const FAMILY: Family = Family {
    name: "gpt2",
    model_types: &["gpt2"],
    gguf: Some("gpt2"),
    kind: ModelKind::Text,
    builder: Builder::Whole {
        facts: |_, name, config| facts(name, family::config(config)?),
        load: |_, name, config, tensors| load(name, family::config(config)?, tensors),
    },
};

fn facts(name: &str, cfg: Gpt2Config) -> Result<(ModelInfo, usize)> {
    Ok((cfg.info(name), cfg.n_embd / cfg.n_head.max(1)))
}

fn load(name: &str, cfg: Gpt2Config, tensors: HashMap<String, Tensor>) -> Result<(ModelInfo, Box<dyn Network>)> {
    Ok((cfg.info(name), Box::new(Gpt2::load(family::weights(tensors), cfg)?)))
}

/// The part of a GPT-2 config.json the network needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_positions: usize,
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
}

fn default_eps() -> f64 {
    1e-5
}

impl Gpt2Config {
    pub fn info(&self, name: &str) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            architecture: "gpt2".into(),
            layers: self.n_layer,
            heads: self.n_head,
            kv_heads: self.n_head,
            causal: true,
            max_positions: self.n_positions,
            vocab_size: self.vocab_size,
            ..ModelInfo::default()
        }
    }
}

struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    c_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
    heads: usize,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &Gpt2Config) -> candle_core::Result<Self> {
        let (h, eps) = (cfg.n_embd, cfg.layer_norm_epsilon);
        let inner = cfg.n_inner.unwrap_or(4 * h);
        Ok(Self {
            ln_1: layer_norm(vb.pp("ln_1"), h, eps)?,
            c_attn: Linear::load_conv1d(vb.pp("attn.c_attn"), h, 3 * h)?,
            c_proj: Linear::load_conv1d(vb.pp("attn.c_proj"), h, h)?,
            ln_2: layer_norm(vb.pp("ln_2"), h, eps)?,
            c_fc: Linear::load_conv1d(vb.pp("mlp.c_fc"), h, inner)?,
            mlp_proj: Linear::load_conv1d(vb.pp("mlp.c_proj"), inner, h)?,
            heads: cfg.n_head,
        })
    }
}

impl Layer for Block {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let qkv = self.c_attn.forward(&self.ln_1.forward(x)?)?; // [new, 3 * hidden]
        let width = qkv.dim(1)? / 3;
        let part = |i: usize| split_heads(&qkv.narrow(1, i * width, width)?, self.heads); // [heads, new, d]
        let q = part(0)?;
        let (k, v) = at.keys_values(part(1)?, part(2)?)?; // [heads, t, d]
        let mask = at.mask(None)?; // [new, t]
        let out = at.attend(&q, &k, &v, mask.as_ref(), Scoring::standard(q.dim(2)?), || self.c_proj.weight())?;
        x + self.c_proj.forward(&merge_heads(&out)?)?
    }

    fn feed_forward(&self, _input: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
        let inner = gelu_tanh(&self.c_fc.forward(&self.ln_2.forward(x)?)?)?;
        x + self.mlp_proj.forward(&inner)?
    }
}

pub struct Gpt2 {
    cfg: Gpt2Config,
    wte: Tensor, // [vocab, hidden], also the language-model head
    wpe: Tensor, // [positions, hidden]
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    device: Device,
}

impl Gpt2 {
    pub fn load(vb: VarBuilder, cfg: Gpt2Config) -> Result<Self> {
        let vb = if vb.contains_tensor("transformer.wte.weight") { vb.pp("transformer") } else { vb };
        let blocks = (0..cfg.n_layer).map(|i| Block::load(vb.pp(format!("h.{i}")), &cfg)).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            wte: vb.get((cfg.vocab_size, cfg.n_embd), "wte.weight")?,
            wpe: vb.get((cfg.n_positions, cfg.n_embd), "wpe.weight")?,
            ln_f: layer_norm(vb.pp("ln_f"), cfg.n_embd, cfg.layer_norm_epsilon)?,
            device: vb.device().clone(),
            blocks,
            cfg,
        })
    }
}

impl Network for Gpt2 {
    fn layers(&self) -> &dyn Stack {
        &self.blocks
    }

    fn positions(&self, shown: usize) -> Vec<crate::report::positions::PositionSet> {
        crate::positions::learned("input", &self.wpe, 0, shown).into_iter().collect()
    }

    fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        let positions = position_tensor(start, ids.len(), &self.device)?;
        self.wte.index_select(&id_tensor(&ids[start..], &self.device)?, 0)? + self.wpe.index_select(&positions, 0)?
        // [new, hidden]
    }

    fn logits(&self, last: &Tensor) -> candle_core::Result<Option<Tensor>> {
        self.ln_f.forward(last)?.matmul(&self.wte.t()?).map(Some) // [copies, vocab]
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn caches(&self) -> bool {
        true
    }

    fn readout(&self, ids: &[u32]) -> Result<Option<Readout>> {
        let rows = self.wte.index_select(&id_tensor(ids, &self.device)?, 0)?.to_vec2()?;
        Ok(Some(Readout { norm: layer_norm_readout(&self.ln_f, self.cfg.layer_norm_epsilon)?, rows, softcap: None }))
    }
}
