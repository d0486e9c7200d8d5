//! SNAIL, the simple neural attentive meta-learner (Mishra, Rohaninejad, Chen and Abbeel 2018),
//! small: it reads an episode of labelled drawings and a query, one step each, and names the
//! query's class by attending over the examples it has just been shown.
//!
//! Each step's input is a drawing's features (the picture embedding, pre-trained as a
//! classifier of other characters, frozen and layer-normalised: see
//! `train::character_embedding`) beside its label, one-hot (all zeros for the query). Then,
//! as the paper's Omniglot model, attention blocks with temporal-convolution blocks between
//! them, each block's output concatenated to its input:
//!
//! - attention block: keys, queries and values are affine maps of every step; each step
//!   reads the steps up to itself (causal), softmax(q kᵀ/√d_k) v, one read a head;
//! - TC block: ⌈log₂ T⌉ dense blocks with dilations 1, 2, 4, …; a dense block is a causal
//!   convolution of kernel 2, y_t = W_now x_t + W_before x_{t−R} + b (x before the episode is
//!   zero), gated: tanh(y_f) ⊙ σ(y_g). The convolution is two products and a shift in time.
//!   The paper's pseudo-code starts the dilations at 2 (2, 4, 8 for T = 6): the 8 would read
//!   only the zeros before the episode, and no step would read the one just before it;
//!   1, 2, 4 reach every earlier step (1 + 1 + 2 + 4 = 8 ≥ T) and waste no tap.
//!
//! The last step's features, through an affine map, are the query's logits over the classes.

use candle_core::{DType, Device, Tensor, D};
use serde::{Deserialize, Serialize};

use super::seq2seq::{Getter, Init, Linear};
use super::weights::Weights;
use crate::error::{EngineError, Result};
use crate::report::{AttentionMaps, AttentionReport, Episode, Mask, ModelInfo, ModelKind, Sequence, Site, Token};
use crate::train::character_embedding::CharacterEmbedding;
use crate::train::omniglot::SIDE;

pub const ARCHITECTURE: &str = "snail";
/// The most classes, shots, heads, units and blocks a config.json may ask for: far beyond a
/// few-shot episode's, far below what would make a lying file allocate much.
const MOST_WAYS: usize = 64;
const MOST_SHOTS: usize = 16;
const MOST_UNITS: usize = 1024;
const MOST_BLOCKS: usize = 8;

/// A SNAIL's config.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnailConfig {
    pub architecture: String, // "snail"
    /// The picture embedding's hidden units and features (128 and 64 as trained here).
    pub hidden: usize,
    pub features: usize,
    /// Classes an episode tells apart (N), and labelled drawings of each (K).
    pub ways: usize,
    pub shots: usize,
    /// Heads of each attention block, and each head's key (and query) width.
    pub heads: usize,
    pub key: usize,
    /// Each attention block's value width a head, in order; a TC block sits between each two.
    pub values: Vec<usize>,
    /// Each dense block's filters.
    pub filters: usize,
}

impl SnailConfig {
    /// The steps of an episode: N·K examples and the query.
    pub fn steps(&self) -> usize {
        self.ways * self.shots + 1
    }

    /// Each TC block's dilations: 1, 2, 4, … for ⌈log₂ T⌉ dense blocks.
    pub fn dilations(&self) -> Vec<usize> {
        let steps = self.steps();
        let blocks = usize::BITS - (steps - 1).leading_zeros(); // ⌈log₂ T⌉
        (0..blocks).map(|i| 1 << i).collect()
    }
}

/// Causal attention of several heads, its reads concatenated to its input.
pub struct AttentionBlock {
    pub query: Linear, // [C] → [H·d_k]
    pub key: Linear,   // [C] → [H·d_k]
    pub value: Linear, // [C] → [H·d_v]
    heads: usize,
    key_width: usize,
    value_width: usize,
}

impl AttentionBlock {
    fn build(prefix: &str, inputs: usize, heads: usize, (key, value): (usize, usize), get: &mut Getter) -> Result<Self> {
        Ok(Self {
            query: Linear::build(&format!("{prefix}.query"), inputs, heads * key, true, get)?,
            key: Linear::build(&format!("{prefix}.key"), inputs, heads * key, true, get)?,
            value: Linear::build(&format!("{prefix}.value"), inputs, heads * value, true, get)?,
            heads,
            key_width: key,
            value_width: value,
        })
    }

    /// x [B, T, C] → ([B, T, C + H·d_v], each head's weights [B, H, T, T]).
    fn forward(&self, x: &Tensor, causal: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let by_head = |y: Tensor, width: usize| -> Result<Tensor> { Ok(y.reshape((b, t, self.heads, width))?.transpose(1, 2)?.contiguous()?) };
        let q = by_head(self.query.forward(x)?, self.key_width)?; // [B, H, T, d_k]
        let k = by_head(self.key.forward(x)?, self.key_width)?;
        let v = by_head(self.value.forward(x)?, self.value_width)?; // [B, H, T, d_v]
        let scores = (q.matmul(&k.t()?)? / (self.key_width as f64).sqrt())?.broadcast_add(causal)?;
        let weights = candle_nn::ops::softmax(&scores, D::Minus1)?; // [B, H, T, T]
        let read = weights.matmul(&v)?.transpose(1, 2)?.reshape((b, t, self.heads * self.value_width))?;
        Ok((Tensor::cat(&[x, &read], 2)?, weights))
    }
}

/// A gated causal convolution of kernel 2, its output concatenated to its input.
pub struct DenseBlock {
    pub now: Linear,    // [C] → [2F]: the filter's and the gate's taps on x_t, and the bias
    pub before: Linear, // [C] → [2F]: their taps on x_{t−R}
    dilation: usize,
    filters: usize,
}

impl DenseBlock {
    fn build(prefix: &str, inputs: usize, filters: usize, dilation: usize, get: &mut Getter) -> Result<Self> {
        // One convolution's two taps share the fan-in PyTorch's Conv1d would give them (2C).
        let now = Linear::build_with_fan(&format!("{prefix}.now"), inputs, 2 * filters, true, 2 * inputs, get)?;
        let before = Linear::build_with_fan(&format!("{prefix}.before"), inputs, 2 * filters, false, 2 * inputs, get)?;
        Ok(Self { now, before, dilation, filters })
    }

    /// x [B, T, C] → [B, T, C + F].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let shift = self.dilation.min(t);
        let zeros = Tensor::zeros((b, shift, c), x.dtype(), x.device())?;
        let earlier = Tensor::cat(&[&zeros, &x.narrow(1, 0, t - shift)?], 1)?; // x_{t−R}, zero before the start
        let y = (self.now.forward(x)? + self.before.forward(&earlier)?)?; // [B, T, 2F]
        let gated = (y.narrow(2, 0, self.filters)?.tanh()? * candle_nn::ops::sigmoid(&y.narrow(2, self.filters, self.filters)?)?)?;
        Ok(Tensor::cat(&[x, &gated], 2)?)
    }
}

pub struct Snail {
    pub name: String,
    pub config: SnailConfig,
    /// Frozen: trained before the SNAIL, never by it.
    pub picture: CharacterEmbedding,
    pub attention: Vec<AttentionBlock>,
    pub convolutions: Vec<Vec<DenseBlock>>, // the TC blocks: after each attention block but the last
    pub output: Linear,                     // [C] → [N]
}

/// What a batch of episodes gives.
pub struct SnailRead {
    pub logits: Tensor,         // [B, N]: the query's
    pub attention: Vec<Tensor>, // a block's weights [B, H, T, T] each
}

/// A drawing as the SNAIL reads it: 28 × 28 pixels, row by row, 1.0 for ink.
pub type Drawing = Vec<f32>;

impl Snail {
    /// The SNAIL's own parameters (the picture embedding is given).
    pub fn build(name: &str, config: SnailConfig, picture: CharacterEmbedding, get: &mut Getter) -> Result<Self> {
        let mut width = config.features + config.ways;
        let (mut attention, mut convolutions) = (Vec::new(), Vec::new());
        for (i, &value) in config.values.iter().enumerate() {
            attention.push(AttentionBlock::build(&format!("attention.{i}"), width, config.heads, (config.key, value), get)?);
            width += config.heads * value;
            if i + 1 < config.values.len() {
                let mut block = Vec::new();
                for (j, dilation) in config.dilations().into_iter().enumerate() {
                    block.push(DenseBlock::build(&format!("convolution.{i}.{j}"), width, config.filters, dilation, get)?);
                    width += config.filters;
                }
                convolutions.push(block);
            }
        }
        let output = Linear::build("output", width, config.ways, true, get)?;
        Ok(Self { name: name.to_string(), config, picture, attention, convolutions, output })
    }

    /// A trained SNAIL from its config.json and model.safetensors (the picture embedding's
    /// tensors under `picture.`), every tensor checked against the shape the config asks for.
    pub fn from_bytes(name: &str, config: &[u8], weights: &[u8]) -> Result<Self> {
        let config: SnailConfig = serde_json::from_slice(config).map_err(|e| EngineError::BadModelFile(format!("config.json: {e}")))?;
        let c = &config;
        super::no_zero_sizes(&[
            ("hidden", c.hidden),
            ("features", c.features),
            ("ways", c.ways),
            ("shots", c.shots),
            ("heads", c.heads),
            ("key", c.key),
            ("filters", c.filters),
            ("values", c.values.len()),
        ])?;
        if c.values.contains(&0) {
            return Err(EngineError::BadModelFile("config.json: an attention block with no values".into()));
        }
        let units = [c.hidden, c.features, c.heads * c.key, c.filters].into_iter().chain(c.values.iter().map(|v| c.heads * v));
        if c.ways > MOST_WAYS || c.shots > MOST_SHOTS || c.values.len() > MOST_BLOCKS || units.into_iter().any(|u| u > MOST_UNITS) {
            return Err(EngineError::BadModelFile(format!(
                "config.json asks for {}-way {}-shot episodes, {} attention blocks, {} heads of {} keys and {} filters; a SNAIL here takes at most {MOST_WAYS} ways, {MOST_SHOTS} shots, {MOST_BLOCKS} blocks and {MOST_UNITS} units a block",
                c.ways, c.shots, c.values.len(), c.heads, c.key, c.filters
            )));
        }
        let weights = Weights::from_safetensors(weights)?;
        let picture =
            CharacterEmbedding::build(c.hidden, c.features, &mut |name: &str, dims: &[usize], _: Init| weights.tensor(&format!("picture.{name}"), dims))?;
        Self::build(name, config, picture, &mut |name: &str, dims: &[usize], _: Init| weights.tensor(name, dims))
    }

    fn dtype(&self) -> DType {
        self.output.weight.dtype()
    }

    /// Episodes as the blocks read them: each step's features [B, T, F] beside its label,
    /// one-hot (`None`: zeros), [B, T, F + N].
    pub fn inputs(&self, features: &Tensor, labels: &[Vec<Option<usize>>]) -> Result<Tensor> {
        let (b, t, _) = features.dims3()?;
        let n = self.config.ways;
        let mut one_hot = vec![0.0f64; b * t * n];
        for (e, episode) in labels.iter().enumerate() {
            for (s, label) in episode.iter().enumerate().take(t) {
                if let Some(class) = label.filter(|&c| c < n) {
                    one_hot[(e * t + s) * n + class] = 1.0;
                }
            }
        }
        let one_hot = Tensor::from_vec(one_hot, (b, t, n), &Device::Cpu)?.to_dtype(features.dtype())?;
        Ok(Tensor::cat(&[features, &one_hot], 2)?)
    }

    /// The blocks over a batch of episodes' inputs [B, T, F + N].
    pub fn forward(&self, inputs: &Tensor) -> Result<SnailRead> {
        let t = inputs.dim(1)?;
        // 0 where a step may read, −1e9 after it (every row keeps its own step, so no row is
        // all blocked).
        let causal: Vec<f64> = (0..t * t).map(|i| if i % t > i / t { -1e9 } else { 0.0 }).collect();
        let causal = Tensor::from_vec(causal, (t, t), &Device::Cpu)?.to_dtype(inputs.dtype())?;
        let mut x = inputs.clone();
        let mut attention = Vec::with_capacity(self.attention.len());
        for (i, block) in self.attention.iter().enumerate() {
            let (read, weights) = block.forward(&x, &causal)?;
            attention.push(weights);
            x = read;
            for dense in self.convolutions.get(i).into_iter().flatten() {
                x = dense.forward(&x)?;
            }
        }
        let last = x.narrow(1, t - 1, 1)?.squeeze(1)?; // [B, C]: the query's step
        Ok(SnailRead { logits: self.output.forward(&last)?, attention })
    }

    /// An episode a person gives: labelled drawings and a query, checked, then read: the
    /// report of its `episode` sequence, the `self` site (a layer an attention block), and
    /// the episode with the query's class.
    pub fn read_episode(&self, examples: &[(Drawing, usize)], query: &Drawing) -> Result<AttentionReport> {
        let (n, k) = (self.config.ways, self.config.shots);
        if examples.is_empty() {
            return Err(EngineError::BadEpisode(format!("the episode is empty: give {} labelled drawings ({k} of each of {n} classes) and a query", n * k)));
        }
        if let Some((_, label)) = examples.iter().find(|(_, label)| *label >= n) {
            return Err(EngineError::BadEpisode(format!(
                "class {} is not one of this SNAIL's {n} ({} to {})",
                Episode::class_name(*label),
                Episode::class_name(0),
                Episode::class_name(n - 1)
            )));
        }
        let counts: Vec<usize> = (0..n).map(|c| examples.iter().filter(|(_, l)| *l == c).count()).collect();
        if counts.iter().any(|&count| count != k) {
            let told: Vec<String> = counts.iter().enumerate().map(|(c, count)| format!("{}: {count}", Episode::class_name(c))).collect();
            return Err(EngineError::BadEpisode(format!(
                "this SNAIL reads {k} drawing of each of {n} classes before the query; this episode has {}",
                told.join(", ")
            )));
        }
        let drawings: Vec<&Drawing> = examples.iter().map(|(d, _)| d).chain([query]).collect();
        for (i, drawing) in drawings.iter().enumerate() {
            let which = if i == examples.len() { "the query".to_string() } else { format!("drawing {}", i + 1) };
            if drawing.len() != SIDE * SIDE {
                return Err(EngineError::BadEpisode(format!("{which} has {} pixels; a drawing here is {SIDE} × {SIDE}", drawing.len())));
            }
            if !drawing.iter().any(|&p| p > 0.5) {
                return Err(EngineError::BadEpisode(format!("{which} has no ink: draw a character")));
            }
        }
        let pixels: Vec<f32> = drawings.iter().flat_map(|d| d.iter().copied()).collect();
        let t = drawings.len();
        let pictures = Tensor::from_vec(pixels, (t, SIDE * SIDE), &Device::Cpu)?.to_dtype(self.dtype())?;
        let features = self.picture.features(&pictures)?.unsqueeze(0)?; // [1, T, F]
        let labels: Vec<Option<usize>> = examples.iter().map(|(_, l)| Some(*l)).chain([None]).collect();
        let read = self.forward(&self.inputs(&features, std::slice::from_ref(&labels))?)?;
        let probabilities: Vec<f32> = candle_nn::ops::softmax(&read.logits.squeeze(0)?, 0)?.to_dtype(DType::F32)?.to_vec1()?;
        let answer = super::first_highest(&probabilities) as usize;
        let heads = self.config.heads;
        let mut weights = Vec::with_capacity(read.attention.len() * heads * t * t);
        for block in &read.attention {
            weights.extend(block.squeeze(0)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
        }
        let maps = AttentionMaps::from_shape([read.attention.len(), heads, t, t], weights)
            .ok_or_else(|| EngineError::BadModelFile("the attention's shape does not add up".into()))?;
        let tokens = labels
            .iter()
            .enumerate()
            .map(|(i, label)| Token { id: i as u32, text: label.map_or("query".to_string(), Episode::class_name), span: None })
            .collect();
        let sequences = vec![Sequence::text("episode", tokens)];
        let sites = vec![Site::whole("self", "episode", "episode", Mask::Causal, maps)];
        let drawings = drawings.iter().map(|d| d.iter().map(|&p| u8::from(p > 0.5)).collect()).collect();
        let episode = Episode { side: SIDE, drawings, labels, ways: n, probabilities, answer };
        Ok(AttentionReport { episode: Some(episode), ..AttentionReport::of(self.info(), Mask::Causal, sequences, sites) })
    }

    pub fn info(&self) -> ModelInfo {
        let c = &self.config;
        ModelInfo {
            name: self.name.clone(),
            architecture: format!("{ARCHITECTURE} ({}-way {}-shot, {} attention blocks of {} heads)", c.ways, c.shots, c.values.len(), c.heads),
            layers: c.values.len(),
            heads: c.heads,
            kv_heads: c.heads,
            causal: true,
            max_positions: c.steps(),
            vocab_size: c.ways,
            kind: ModelKind::FewShot,
            ..ModelInfo::default()
        }
    }
}
