//! "Show, attend and read": a decoder that reads a strip of handwritten digits through
//! glimpses, with soft or hard attention, as Xu et al. (2015) caption a picture. It stands in
//! for image captioning, for which no trained model or caption data is reachable here.
//!
//! The picture [8, 40] is seen through L = 17 windows 8 pixels wide, 2 apart. Each window's
//! 64 pixels make an annotation a_l = tanh(x_l W_g + b_g + p_l) (p_l: where the window is, a
//! learned vector; the same W_g everywhere, as a convolution's). The decoder starts from
//! s_0 = tanh(mean_l a_l W_s + b_s) and, for each digit, as Bahdanau's model does:
//! - scores e_l = vᵀ tanh(s_{t−1} W_q + a_l W_k), weights α = softmax(e);
//! - a glimpse z: **soft**, the expected annotation Σ α_l a_l (deterministic, trained by
//!   backpropagation); **hard**, one annotation a_s with s drawn from α (trained with
//!   REINFORCE: see `train::digits_training`);
//! - s_t = GRU([E y_{t−1}; z], s_{t−1}), and the digit's logits [s_t; z] W_o + b_o.
//!
//! Weights are x·W ([inputs, outputs]), as in `seq2seq`, whose GRU and linear layers these are.

use candle_core::{Device, Tensor, D};
use serde::{Deserialize, Serialize};

use super::seq2seq::{Getter, GruWeights, Init, Linear};
use crate::error::{EngineError, Result};

/// How a step's glimpse is taken from its weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Glimpse {
    /// The expected annotation under the weights.
    Soft,
    /// One annotation, drawn from the weights.
    Hard,
}

impl Glimpse {
    pub const BOTH: [Glimpse; 2] = [Glimpse::Soft, Glimpse::Hard];

    pub fn name(self) -> &'static str {
        match self {
            Glimpse::Soft => "soft",
            Glimpse::Hard => "hard",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::BOTH.into_iter().find(|g| g.name() == name)
    }
}

pub const ARCHITECTURE: &str = "glimpse-reader";
/// The digits 0–9 are written; the decoder's first input is a start symbol, 10.
pub const DIGITS: usize = 10;
pub const START: u32 = 10;

/// The largest picture and the most steps a reader's config.json may ask for: far beyond a
/// strip of digits, far below what would make a lying file allocate much.
const MOST_PIXELS: usize = 1 << 16;
const MOST_STEPS: usize = 64;

/// A reader's config.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReaderConfig {
    pub architecture: String, // "glimpse-reader"
    pub task: String,         // "digits"
    pub attention: Glimpse,
    pub height: usize,
    pub width: usize,
    pub window: usize, // a glimpse's width in pixels (its height is the picture's)
    pub stride: usize, // between windows
    pub steps: usize,  // digits written
    pub embedding: usize,
    pub glimpse_units: usize,
    pub decoder_units: usize,
    pub attention_units: usize,
}

impl ReaderConfig {
    /// How many windows the picture is seen through.
    pub fn locations(&self) -> usize {
        (self.width.saturating_sub(self.window)) / self.stride.max(1) + 1
    }

    /// The columns window `l` sees.
    pub fn columns(&self, l: usize) -> std::ops::Range<usize> {
        l * self.stride..l * self.stride + self.window
    }

    /// The pictures [B][height × width] as each window's pixels [B, L, height × window].
    pub fn windows(&self, pictures: &[&[f32]], device: &Device) -> Result<Tensor> {
        let (h, w, l) = (self.height, self.width, self.locations());
        let mut flat = Vec::with_capacity(pictures.len() * l * h * self.window);
        for picture in pictures {
            if picture.len() != h * w {
                return Err(EngineError::BadData(format!("a picture of {} pixels, where the reader sees {h} × {w}", picture.len())));
            }
            for location in 0..l {
                for row in 0..h {
                    flat.extend(self.columns(location).map(|column| picture[row * w + column]));
                }
            }
        }
        Ok(Tensor::from_vec(flat, (pictures.len(), l, h * self.window), device)?)
    }
}

pub struct Reader {
    pub config: ReaderConfig,
    pub glimpse: Linear,     // a window's pixels [h × window] → [G]
    pub positions: Tensor,   // [L, G]
    pub start: Linear,       // mean annotation [G] → s_0 [D]
    pub embedding: Tensor,   // [11, e]
    pub decoder: GruWeights, // [e + G] → [D]
    pub query: Linear,       // [D] → [A]
    pub key: Linear,         // [G] → [A]
    pub v: Tensor,           // [A]
    pub output: Linear,      // [D + G] → [10]
}

/// A batch's annotations, and the decoder's state as it reads.
pub struct Reading {
    pub annotations: Tensor, // [B, L, G]
    keys: Tensor,            // [B, L, A]: a_l W_k
    pub state: Tensor,       // [B, D]
    every: Tensor,           // [B, 1] ones: every row steps
}

impl Reader {
    pub fn build(config: ReaderConfig, get: &mut Getter) -> Result<Self> {
        let (e, g, d, a) = (config.embedding, config.glimpse_units, config.decoder_units, config.attention_units);
        let pixels = config.height * config.window;
        Ok(Self {
            glimpse: Linear::build("glimpse", pixels, g, true, get)?,
            positions: get("positions", &[config.locations(), g], Init::Uniform { fan: g })?,
            start: Linear::build("start", g, d, true, get)?,
            embedding: get("embedding", &[DIGITS + 1, e], Init::Normal { std: 1.0 })?,
            decoder: GruWeights::build("decoder", e + g, d, get)?,
            query: Linear::build("attention.query", d, a, false, get)?,
            key: Linear::build("attention.key", g, a, false, get)?,
            v: get("attention.v", &[a], Init::Uniform { fan: a })?,
            output: Linear::build("output", d + g, DIGITS, true, get)?,
            config,
        })
    }

    /// A trained reader from its config.json and model.safetensors, every tensor checked
    /// against the shape the config asks for.
    pub fn from_files(config: &[u8], weights: &[u8]) -> Result<Self> {
        let config: ReaderConfig = serde_json::from_slice(config).map_err(|e| EngineError::BadModelFile(format!("config.json: {e}")))?;
        if config.architecture != ARCHITECTURE {
            return Err(EngineError::BadModelFile(format!("config.json's architecture is `{}`, not a glimpse reader's `{ARCHITECTURE}`", config.architecture)));
        }
        super::no_zero_sizes(&[
            ("height", config.height),
            ("window", config.window),
            ("stride", config.stride),
            ("steps", config.steps),
            ("embedding", config.embedding),
            ("glimpse_units", config.glimpse_units),
            ("decoder_units", config.decoder_units),
            ("attention_units", config.attention_units),
        ])?;
        if config.window > config.width || config.height * config.width > MOST_PIXELS || config.steps > MOST_STEPS {
            return Err(EngineError::BadModelFile(format!(
                "config.json's picture ({} × {}, windows {} wide) or its {} steps are no reader's (at most {MOST_PIXELS} pixels, {MOST_STEPS} steps)",
                config.height, config.width, config.window, config.steps
            )));
        }
        let weights = super::weights::Weights::from_safetensors(weights)?;
        Self::build(config, &mut |name: &str, dims: &[usize], _: Init| weights.tensor(name, dims))
    }

    /// Annotates the windows [B, L, h × window] and starts the decoder.
    pub fn encode(&self, windows: &Tensor) -> Result<Reading> {
        let windows = &windows.to_dtype(self.positions.dtype())?;
        let batch = windows.dim(0)?;
        let annotations = self.glimpse.forward(windows)?.broadcast_add(&self.positions)?.tanh()?; // [B, L, G]
        let keys = self.key.forward(&annotations)?;
        let state = self.start.forward(&annotations.mean(1)?)?.tanh()?;
        let every = Tensor::ones((batch, 1), windows.dtype(), windows.device())?;
        Ok(Reading { annotations, keys, state, every })
    }

    /// The scores [B, L] of the decoder's state over the windows (their softmax is the weights).
    pub fn scores(&self, reading: &Reading) -> Result<Tensor> {
        let query = self.query.forward(&reading.state)?; // [B, A]
        Ok(super::additive_op::additive_scores(&reading.keys, &query, &self.v)?)
    }

    /// One digit after the digits `previous` [B] (u32), through the glimpse `looked` [B, L]
    /// (the weights, or a one-hot row): its logits [B, 10], the decoder moved on.
    pub fn read(&self, reading: &mut Reading, previous: &Tensor, looked: &Tensor) -> Result<Tensor> {
        let glimpse = looked.unsqueeze(1)?.matmul(&reading.annotations)?.squeeze(1)?; // [B, G]
        let embedded = self.embedding.index_select(previous, 0)?; // [B, e]
        let gates = self.decoder.input_gates(&Tensor::cat(&[&embedded, &glimpse], 1)?)?;
        reading.state = self.decoder.step(&gates, &reading.state, &reading.every)?;
        self.output.forward(&Tensor::cat(&[&reading.state, &glimpse], 1)?)
    }
}

/// Rows of one-hot [B, L] at `chosen`, in `like`'s dtype and device.
pub fn one_hot(chosen: &[usize], locations: usize, like: &Tensor) -> Result<Tensor> {
    let flat: Vec<f32> = chosen.iter().flat_map(|&c| (0..locations).map(move |l| if l == c { 1.0 } else { 0.0 })).collect();
    Ok(Tensor::from_vec(flat, (chosen.len(), locations), like.device())?.to_dtype(like.dtype())?)
}

/// The log-softmax of the last dimension.
pub fn log_softmax(x: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::ops::log_softmax(x, D::Minus1)?)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use super::*;

    #[test]
    fn a_reader_of_zeros_looks_everywhere_alike_and_guesses_evenly() {
        // Every parameter zero: every score vᵀ tanh(…) is 0, so each of the 3 windows of a
        // 2 × 4 picture (2 wide, 1 apart) gets a third; the logits are 0, each digit a tenth.
        let config = ReaderConfig {
            architecture: ARCHITECTURE.into(),
            task: "test".into(),
            attention: Glimpse::Soft,
            height: 2,
            width: 4,
            window: 2,
            stride: 1,
            steps: 2,
            embedding: 2,
            glimpse_units: 3,
            decoder_units: 4,
            attention_units: 3,
        };
        assert_eq!(config.locations(), 3);
        let zeros = &mut |_: &str, dims: &[usize], _: Init| Ok(Tensor::zeros(dims, DType::F64, &Device::Cpu)?);
        let reader = Reader::build(config.clone(), zeros).unwrap();
        let picture: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let windows = config.windows(&[&picture], &Device::Cpu).unwrap();
        // Window 1 sees columns 1 and 2 of both rows.
        assert_eq!(windows.to_dtype(DType::F32).unwrap().to_vec3::<f32>().unwrap()[0][1], vec![1.0, 2.0, 5.0, 6.0]);
        let mut reading = reader.encode(&windows).unwrap();
        let weights = candle_nn::ops::softmax_last_dim(&reader.scores(&reading).unwrap()).unwrap();
        assert_eq!(weights.to_vec2::<f64>().unwrap(), vec![vec![1.0 / 3.0; 3]]);
        let logits = reader.read(&mut reading, &Tensor::new(&[START], &Device::Cpu).unwrap(), &weights).unwrap();
        assert_eq!(logits.to_vec2::<f64>().unwrap(), vec![vec![0.0; DIGITS]]);
        let short = config.windows(&[&picture[..7]], &Device::Cpu).unwrap_err().to_string();
        assert!(short.contains("a picture of 7 pixels, where the reader sees 2 × 4"), "{short}");
    }
}
