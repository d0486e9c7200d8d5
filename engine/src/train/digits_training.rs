//! Training a glimpse reader (`rnn::glimpse`) on strips of handwritten digits, soft or hard.
//!
//! Both learn from the same batches by teacher forcing (each step reads the true previous
//! digit). **Soft**: the cross-entropy's gradient, through the expected glimpse. **Hard**, as
//! Xu et al. (2015) train it: each step's window s_t is drawn from its weights α_t, and the
//! loss is, averaged over the batch and the steps,
//!   −log p(y_t | s_1..s_t)                 (the digits, read through the windows drawn)
//!   − λ_r (r_t − b_t) log α_t[s_t]         (REINFORCE: where to look)
//!   − λ_e H(α_t)                           (an entropy bonus, so it keeps looking)
//! with the reward r_t = log p(y_t | s_1..s_t) and b_t its moving average (the baseline,
//! which lowers the estimate's variance); r_t − b_t is a number, not differentiated. Xu et
//! al. reward each choice with the whole caption's likelihood; here step t is rewarded by
//! the digit it writes, leaving out what its window does to later digits through the state
//! (a bias, for far less variance: with the strip's likelihood as the reward, the reader
//! still looked anywhere after 1,500 batches). Every glimpse is drawn: none is the expected
//! one (Xu et al. take it for half their pictures), so what the hard reader learns of where
//! to look, it learns from REINFORCE alone.
//!
//! Measured on strips of held-out pictures by greedy decoding; a hard reader looks, there, at
//! its most weighed window (a deterministic read of what it learned).

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::digits::{Digits, Strip, StripDraws, STRIP_DIGITS, STRIP_WIDTH};
use super::seeded::Seeded;
use super::{json_bytes, seeded_parameters, Learner};
use crate::error::Result;
use crate::rnn::glimpse::{log_softmax, one_hot, Glimpse, Reader, ReaderConfig, ARCHITECTURE, START};

/// The held-out strips are always the same, whatever the training's seed.
const HELD_OUT_SEED: u64 = 2015;

#[derive(Clone, Copy, Debug)]
pub struct DigitsSettings {
    pub attention: Glimpse,
    pub seed: u64,
    pub batch: usize,
    pub learning_rate: f64,
    pub clip: f64,
    /// λ_r: REINFORCE's weight.
    pub reinforce: f64,
    /// λ_e: the entropy bonus's.
    pub entropy: f64,
    /// How much of the baseline each batch keeps.
    pub baseline_decay: f64,
}

impl DigitsSettings {
    pub fn new(attention: Glimpse, seed: u64) -> Self {
        // Measured on seed 1 (docs/notes/rnn-attention.md): with λ_r = 1 or a reward of the
        // whole strip the hard reader still looked anywhere after 1,500 batches.
        Self { attention, seed, batch: 32, learning_rate: 0.01, clip: 5.0, reinforce: 3.0, entropy: 0.01, baseline_decay: 0.9 }
    }

    pub fn config(&self) -> ReaderConfig {
        ReaderConfig {
            architecture: ARCHITECTURE.into(),
            task: "digits".into(),
            attention: self.attention,
            height: super::digits::SIDE,
            width: STRIP_WIDTH,
            window: super::digits::SIDE,
            stride: 2,
            steps: STRIP_DIGITS,
            embedding: 8,
            glimpse_units: 32,
            decoder_units: 64,
            attention_units: 32,
        }
    }
}

/// How a pass chooses each step's glimpse.
pub enum Looks<'a> {
    /// The weights themselves (soft attention).
    Expected,
    /// A location drawn from the weights, by these uniforms in [0, 1) ([T][B]).
    Drawn(&'a [Vec<f64>]),
    /// The most weighed location.
    MostWeighed,
}

/// What a teacher-forced pass over a batch gives, every tensor in the graph.
pub struct Pass {
    pub likelihood: Tensor,        // [B, T]: log p(y_t | glimpses)
    pub chosen_log_weight: Tensor, // [B, T]: log α_t[s_t] (zero for soft)
    pub entropy: Tensor,           // []: the mean over the batch and steps of H(α_t)
    pub weights: Vec<Tensor>,      // [T] × [B, L]
    pub chosen: Vec<Vec<usize>>,   // [T][B]: the location each step looked at (soft: its most weighed)
}

/// One teacher-forced pass: `labels` [B][T] are the digits, read after the start symbol.
pub fn teacher_forced(reader: &Reader, windows: &Tensor, labels: &[[u8; STRIP_DIGITS]], looks: &Looks) -> Result<Pass> {
    let (batch, steps, locations) = (labels.len(), reader.config.steps, reader.config.locations());
    let device = windows.device();
    let mut reading = reader.encode(windows)?;
    let zeros = Tensor::zeros(batch, windows.dtype(), device)?;
    let (mut likelihood, mut chosen_log_weight, mut entropy) = (Vec::new(), Vec::new(), Vec::new());
    let (mut weights, mut chosen) = (Vec::new(), Vec::new());
    for t in 0..steps {
        let previous: Vec<u32> = labels.iter().map(|l| if t == 0 { START } else { u32::from(l[t - 1]) }).collect();
        let previous = Tensor::from_vec(previous, batch, device)?;
        let log_alpha = log_softmax(&reader.scores(&reading)?)?; // [B, L]
        let alpha = log_alpha.exp()?;
        entropy.push((alpha.mul(&log_alpha)?.sum(1)? * -1.0)?);
        let rows = alpha.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let picked: Vec<usize> = match looks {
            Looks::Drawn(uniforms) => rows.iter().zip(&uniforms[t]).map(|(row, &u)| drawn(row, u)).collect(),
            Looks::Expected | Looks::MostWeighed => rows.iter().map(|row| crate::rnn::first_highest(row) as usize).collect(),
        };
        let logits = match looks {
            Looks::Expected => {
                chosen_log_weight.push(zeros.clone());
                reader.read(&mut reading, &previous, &alpha)?
            }
            Looks::Drawn(_) | Looks::MostWeighed => {
                let hot = one_hot(&picked, locations, &alpha)?;
                chosen_log_weight.push(hot.mul(&log_alpha)?.sum(1)?);
                reader.read(&mut reading, &previous, &hot)?
            }
        };
        let truth: Vec<u32> = labels.iter().map(|l| u32::from(l[t])).collect();
        let truth = one_hot(&truth.iter().map(|&d| d as usize).collect::<Vec<_>>(), crate::rnn::glimpse::DIGITS, &logits)?;
        likelihood.push(log_softmax(&logits)?.mul(&truth)?.sum(1)?);
        weights.push(alpha);
        chosen.push(picked);
    }
    let entropy = Tensor::stack(&entropy, 0)?.mean_all()?;
    let (likelihood, chosen_log_weight) = (Tensor::stack(&likelihood, 1)?, Tensor::stack(&chosen_log_weight, 1)?);
    Ok(Pass { likelihood, chosen_log_weight, entropy, weights, chosen })
}

/// The location a uniform `u` in [0, 1) draws from the weights `row`.
fn drawn(row: &[f64], u: f64) -> usize {
    let mut total = 0.0;
    for (l, w) in row.iter().enumerate() {
        total += w;
        if u < total {
            return l;
        }
    }
    row.len().saturating_sub(1) // rounding left the sum a hair under u
}

/// How well a reader reads held-out strips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DigitsEvaluation {
    /// The share of strips read whole (four digits right).
    pub exact: f64,
    /// The share of digits read right.
    pub digits: f64,
    /// The share of steps whose most weighed window is centred on the digit being written.
    pub on_digit: f64,
    pub examples: usize,
}

/// Where one reader looked on one strip, step by step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Glimpses {
    pub weights: Vec<Vec<f32>>, // [T][L]
    /// The window each step read through: soft, its most weighed; hard, one drawn.
    pub chosen: Vec<usize>,
    pub written: Vec<u8>,
}

pub struct DigitsTraining {
    pub reader: Reader,
    learner: Learner,
    digits: Arc<Digits>,
    draws: StripDraws,
    /// Draws the hard reader's locations.
    looks: Seeded,
    held_out: Vec<Strip>,
    settings: DigitsSettings,
    baselines: Option<Vec<f64>>,
    pub steps: usize,
}

impl DigitsTraining {
    pub fn new(settings: DigitsSettings, digits: Arc<Digits>, held_out: usize) -> Result<Self> {
        let (reader, vars) = seeded_parameters(settings.seed, DType::F32, |get| Reader::build(settings.config(), get))?;
        let learner = Learner::new(vars, settings.learning_rate, settings.clip)?;
        let mut held_out_draws = StripDraws::new(&digits, HELD_OUT_SEED);
        let held_out = (0..held_out).map(|_| held_out_draws.draw(&digits, true)).collect();
        let draws = StripDraws::new(&digits, settings.seed);
        // The locations' draws follow the seed too, apart from the strips'.
        let looks = Seeded::new(settings.seed ^ 0x5EED_100C);
        Ok(Self { reader, learner, digits, draws, looks, held_out, settings, baselines: None, steps: 0 })
    }

    pub fn settings(&self) -> DigitsSettings {
        self.settings
    }

    pub fn held_out(&self) -> &[Strip] {
        &self.held_out
    }

    /// One batch: its mean cross-entropy per digit before the step.
    pub fn step(&mut self) -> Result<f64> {
        let strips: Vec<Strip> = (0..self.settings.batch).map(|_| self.draws.draw(&self.digits, false)).collect();
        let windows = self.reader.config.windows(&strips.iter().map(|s| s.pixels.as_slice()).collect::<Vec<_>>(), &Device::Cpu)?;
        let labels: Vec<[u8; STRIP_DIGITS]> = strips.iter().map(|s| s.labels).collect();
        let uniforms: Vec<Vec<f64>> = match self.settings.attention {
            Glimpse::Soft => Vec::new(),
            Glimpse::Hard => (0..self.reader.config.steps).map(|_| (0..labels.len()).map(|_| self.looks.unit()).collect()).collect(),
        };
        let looks = if uniforms.is_empty() { Looks::Expected } else { Looks::Drawn(&uniforms) };
        let pass = teacher_forced(&self.reader, &windows, &labels, &looks)?;
        let digits_loss = (pass.likelihood.mean_all()? * -1.0)?;
        // The digits' cross-entropy, for the curves (hard's loss holds REINFORCE's terms too,
        // and its glimpses are the ones drawn).
        let told = digits_loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let loss = match self.settings.attention {
            Glimpse::Soft => digits_loss,
            Glimpse::Hard => {
                let advantages = self.advantages(&pass)?;
                hard_loss(&pass, &advantages, &self.settings)?
            }
        };
        self.learner.step(&loss)?;
        self.steps += 1;
        Ok(told)
    }

    /// Each step's reward less its baseline, [B][T]: r_t = log p(y_t | s_1..s_t), the digit
    /// that step writes through the window it drew; b_t the moving average of r_t. The
    /// baselines move on.
    fn advantages(&mut self, pass: &Pass) -> Result<Vec<Vec<f64>>> {
        let rewards: Vec<Vec<f64>> = pass.likelihood.to_dtype(DType::F64)?.to_vec2()?;
        let steps = pass.weights.len();
        let means: Vec<f64> = (0..steps).map(|t| rewards.iter().map(|r| r[t]).sum::<f64>() / rewards.len().max(1) as f64).collect();
        let baselines = self.baselines.clone().unwrap_or_else(|| means.clone());
        let decay = self.settings.baseline_decay;
        self.baselines = Some(baselines.iter().zip(&means).map(|(b, m)| decay * b + (1.0 - decay) * m).collect());
        Ok(rewards.iter().map(|row| row.iter().zip(&baselines).map(|(r, b)| r - b).collect()).collect())
    }

    /// Greedy reading of the held-out strips.
    pub fn evaluate(&self) -> Result<DigitsEvaluation> {
        evaluate(&self.reader, &self.held_out)
    }

    /// Where the reader looks on `strip` as it reads it greedily; a hard reader's windows
    /// drawn by `seed`.
    pub fn glimpses(&self, strip: &Strip, seed: u64) -> Result<Glimpses> {
        glimpses(&self.reader, strip, seed)
    }

    /// The reader as config.json and model.safetensors.
    pub fn files(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        Ok((json_bytes(&self.reader.config)?, self.learner.safetensors()?))
    }
}

/// Hard attention's loss for a pass whose locations were drawn, with each step's advantage
/// [B][T] (its reward to go less its baseline: numbers, not differentiated).
pub fn hard_loss(pass: &Pass, advantages: &[Vec<f64>], settings: &DigitsSettings) -> Result<Tensor> {
    let like = &pass.likelihood;
    let advantages = Tensor::from_vec(advantages.concat(), like.shape(), like.device())?.to_dtype(like.dtype())?;
    let digits = (like.mean_all()? * -1.0)?;
    let reinforce = (advantages.mul(&pass.chosen_log_weight)?.mean_all()? * -settings.reinforce)?;
    Ok(((digits + reinforce)? - (&pass.entropy * settings.entropy)?)?)
}

/// How a hard reader's window is drawn from a step's weights.
type DrawWindow<'a> = &'a mut dyn FnMut(&[f64]) -> usize;

/// Greedy reading: each step's digit is the first highest logit, read after the digit
/// written before it; `draw` gives a hard reader's window from the weights of a row (none:
/// the most weighed; a soft reader reads the expected glimpse whatever it is).
fn greedy(reader: &Reader, strips: &[&Strip], mut draw: Option<DrawWindow>) -> Result<Vec<Glimpses>> {
    let windows = reader.config.windows(&strips.iter().map(|s| s.pixels.as_slice()).collect::<Vec<_>>(), &Device::Cpu)?;
    let (batch, locations) = (strips.len(), reader.config.locations());
    let mut reading = reader.encode(&windows)?;
    let mut previous = Tensor::from_vec(vec![START; batch], batch, &Device::Cpu)?;
    let mut seen = vec![Glimpses { weights: Vec::new(), chosen: Vec::new(), written: Vec::new() }; batch];
    for _ in 0..reader.config.steps {
        let alpha = candle_nn::ops::softmax_last_dim(&reader.scores(&reading)?)?;
        let rows = alpha.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let picked: Vec<usize> = match draw.as_mut() {
            Some(draw) => rows.iter().map(|row| draw(row)).collect(),
            None => rows.iter().map(|row| crate::rnn::first_highest(row) as usize).collect(),
        };
        let looked = match reader.config.attention {
            Glimpse::Soft => alpha.clone(),
            Glimpse::Hard => one_hot(&picked, locations, &alpha)?,
        };
        let logits = reader.read(&mut reading, &previous, &looked)?;
        previous = logits.argmax(candle_core::D::Minus1)?;
        for (b, digit) in previous.to_vec1::<u32>()?.into_iter().enumerate() {
            seen[b].written.push(digit as u8);
            seen[b].weights.push(rows[b].iter().map(|&w| w as f32).collect());
            seen[b].chosen.push(picked[b]);
        }
    }
    Ok(seen)
}

pub fn evaluate(reader: &Reader, strips: &[Strip]) -> Result<DigitsEvaluation> {
    if strips.is_empty() {
        return Ok(DigitsEvaluation::default());
    }
    let seen = greedy(reader, &strips.iter().collect::<Vec<_>>(), None)?;
    let (mut exact, mut digits, mut on_digit) = (0, 0, 0);
    for (strip, Glimpses { written, weights, .. }) in strips.iter().zip(&seen) {
        exact += usize::from(written[..] == strip.labels[..]);
        for (k, (digit, row)) in written.iter().zip(weights).enumerate() {
            digits += usize::from(*digit == strip.labels[k]);
            let columns = reader.config.columns(crate::rnn::first_highest(row) as usize);
            let centre = (columns.start + columns.end) / 2;
            on_digit += usize::from((strip.starts[k]..strip.starts[k] + super::digits::SIDE).contains(&centre));
        }
    }
    let steps = (strips.len() * reader.config.steps) as f64;
    Ok(DigitsEvaluation { exact: exact as f64 / strips.len() as f64, digits: digits as f64 / steps, on_digit: on_digit as f64 / steps, examples: strips.len() })
}

/// Where `reader` looks on `strip` as it reads it greedily; a hard reader's windows drawn by `seed`.
pub fn glimpses(reader: &Reader, strip: &Strip, seed: u64) -> Result<Glimpses> {
    let mut rng = Seeded::new(seed);
    let mut draw = |row: &[f64]| drawn(row, rng.unit());
    let draw: Option<DrawWindow> = match reader.config.attention {
        Glimpse::Soft => None,
        Glimpse::Hard => Some(&mut draw),
    };
    Ok(greedy(reader, &[strip], draw)?.remove(0))
}
