//! GPT-2: learned positions, pre-norm blocks, fused q/k/v projection, GELU (tanh).
//! Weight names follow Hugging Face's `GPT2Model` (`h.N.attn.c_attn.weight`, ...),
//! with or without a `transformer.` prefix. Its `Conv1D` weights are stored
//! [in, out], the transpose of a `Linear`'s.

use candle_core::{Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::{id_tensor, layer_norm, layer_norm_readout, position_tensor, Network};
use crate::intervention::attribution::Readout;
use crate::attention::{merge_heads, split_heads, Recorder};
use crate::prefix::KvCache;
use crate::error::Result;
use crate::report::{Mask, ModelInfo, Scoring};

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
            layer_windows: Vec::new(),
            weights: crate::report::WeightPath::Float32,
        }
    }
}

/// A `Conv1D` ([in, out] weight) loaded as a `Linear`: its storage is already what
/// [`super::column_major`] makes, so it is only viewed transposed.
fn conv1d(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Linear> {
    let weight = vb.get((in_dim, out_dim), "weight")?.t()?;
    Ok(Linear::new(weight, Some(vb.get(out_dim, "bias")?)))
}

struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    c_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &Gpt2Config) -> candle_core::Result<Self> {
        let (h, eps) = (cfg.n_embd, cfg.layer_norm_epsilon);
        let inner = cfg.n_inner.unwrap_or(4 * h);
        Ok(Self {
            ln_1: layer_norm(vb.pp("ln_1"), h, eps)?,
            c_attn: conv1d(vb.pp("attn.c_attn"), h, 3 * h)?,
            c_proj: conv1d(vb.pp("attn.c_proj"), h, h)?,
            ln_2: layer_norm(vb.pp("ln_2"), h, eps)?,
            c_fc: conv1d(vb.pp("mlp.c_fc"), h, inner)?,
            mlp_proj: conv1d(vb.pp("mlp.c_proj"), inner, h)?,
        })
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
        let blocks = (0..cfg.n_layer)
            .map(|i| Block::load(vb.pp(format!("h.{i}")), &cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
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
    fn forward(&self, ids: &[u32], mask: Mask, recorder: &mut Recorder, mut cache: Option<&mut KvCache>) -> Result<Option<Vec<f32>>> {
        let cfg = &self.cfg;
        let t = ids.len();
        // The positions already in the cache are not run again.
        let start = KvCache::resume(cache.as_deref_mut(), t)?;
        let new = t - start;
        let mask = recorder.mask(mask, None, start, t, &self.device)?; // [new, t]
        let positions = position_tensor(t, &self.device)?.narrow(0, start, new)?;
        let (first, mut x) = match recorder.take_resume() {
            Some(resumed) => resumed,
            None => (0, (self.wte.index_select(&id_tensor(&ids[start..], &self.device)?, 0)? + self.wpe.index_select(&positions, 0)?)?), // [new, hidden]
        };

        for (index, block) in self.blocks.iter().enumerate().skip(first) {
            recorder.entering_layer(&x)?;
            let qkv = block.c_attn.forward(&block.ln_1.forward(&x)?)?; // [new, 3 * hidden]
            let q = split_heads(&qkv.narrow(1, 0, cfg.n_embd)?, cfg.n_head)?; // [heads, new, d]
            let k = split_heads(&qkv.narrow(1, cfg.n_embd, cfg.n_embd)?, cfg.n_head)?;
            let v = split_heads(&qkv.narrow(1, 2 * cfg.n_embd, cfg.n_embd)?, cfg.n_head)?;
            let (k, v) = KvCache::join(cache.as_deref_mut(), index, k, v)?; // [heads, t, d]
            let out = recorder.attend(&q, &k, &v, mask.as_ref(), Scoring::standard(q.dim(2)?), || Ok(block.c_proj.weight().clone()))?;
            x = (&x + block.c_proj.forward(&merge_heads(&out)?)?)?;
            recorder.attention_added(&x, None, 0.0)?;
            let inner = block.c_fc.forward(&block.ln_2.forward(&x)?)?.gelu()?;
            x = (&x + block.mlp_proj.forward(&inner)?)?;
        }

        recorder.leaving(&x)?;
        let last = self.ln_f.forward(&recorder.last_rows(&x)?)?; // [copies, hidden]: one but in a batched run
        let logits = last.matmul(&self.wte.t()?)?; // [copies, vocab]
        Ok(Some(logits.flatten_all()?.to_vec1()?))
    }

    fn caches(&self) -> bool {
        true
    }

    fn readout(&self, ids: &[u32]) -> Result<Option<Readout>> {
        let rows = self.wte.index_select(&id_tensor(ids, &self.device)?, 0)?.to_vec2()?;
        Ok(Some(Readout { norm: layer_norm_readout(&self.ln_f, self.cfg.layer_norm_epsilon)?, rows, softcap: None }))
    }
}
