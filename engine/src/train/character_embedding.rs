//! The picture embedding a few-shot learner (SNAIL) reads Omniglot's characters through: a
//! small network trained, first, as a classifier of the background characters, then frozen
//! (docs/notes: a SNAIL this small trained from pixels stays at chance for thousands of steps).
//!
//! 784 pixels → 128 (ReLU) → 64 (ReLU): the embedding; → one logit per background character
//! for the pre-training. Every background character's first 16 drawings train it, its last 4
//! measure it; the one-shot runs (alphabets in neither background set) measure what it gives
//! a nearest-neighbour reader that has seen one drawing of each of 20 new characters.

use candle_core::{DType, Device, Tensor};

use super::omniglot::{Omniglot, SIDE};
use super::seeded::Seeded;
use super::{seeded_parameters, Learner};
use crate::error::{EngineError, Result};
use crate::rnn::seq2seq::{Getter, Linear};

/// Each character's drawings 0..16 train the classifier, 16..20 measure it.
pub const TRAINING_DRAWINGS: usize = 16;
/// Each training drawing is moved up to this many pixels each way, a fresh draw each time:
/// 16 drawings a character are few, and the classifier learns them by heart otherwise.
const SHIFT: usize = 2;

/// The picture embedding: what SNAIL keeps, frozen, of the classifier.
#[derive(Clone)]
pub struct CharacterEmbedding {
    pub hidden: Linear,    // [784] → [128]
    pub embedding: Linear, // [128] → [64]
}

/// The width of the embedding's hidden layer and of the embedding.
pub const HIDDEN: usize = 128;
pub const FEATURES: usize = 64;

impl CharacterEmbedding {
    /// Of `hidden` units and `features` out (the pre-training's: [`HIDDEN`], [`FEATURES`]).
    pub fn build(hidden: usize, features: usize, get: &mut Getter) -> Result<Self> {
        Ok(Self { hidden: Linear::build("hidden", SIDE * SIDE, hidden, true, get)?, embedding: Linear::build("embedding", hidden, features, true, get)? })
    }

    /// Pictures [B, 784] → embeddings [B, features].
    pub fn embed(&self, pictures: &Tensor) -> Result<Tensor> {
        Ok(self.embedding.forward(&self.hidden.forward(pictures)?.relu()?)?.relu()?)
    }

    /// Pictures [B, 784] → the embeddings layer-normalised (each to mean 0 and variance 1, no
    /// learned scale: the SNAIL's first products scale them as they need), which is what the
    /// SNAIL reads: [B, features].
    pub fn features(&self, pictures: &Tensor) -> Result<Tensor> {
        let embedded = self.embed(pictures)?;
        let centred = embedded.broadcast_sub(&embedded.mean_keepdim(1)?)?;
        let variance = centred.sqr()?.mean_keepdim(1)?;
        Ok(centred.broadcast_div(&(variance + 1e-5)?.sqrt()?)?)
    }
}

/// The embedding with a logit per background character after it: what is pre-trained.
pub struct CharacterClassifier {
    pub picture: CharacterEmbedding,
    pub classes: Linear, // [64] → [characters]
}

impl CharacterClassifier {
    pub fn build(characters: usize, get: &mut Getter) -> Result<Self> {
        Ok(Self { picture: CharacterEmbedding::build(HIDDEN, FEATURES, get)?, classes: Linear::build("classes", FEATURES, characters, true, get)? })
    }

    /// Pictures [B, 784] → logits over the background characters [B, characters].
    pub fn classify(&self, pictures: &Tensor) -> Result<Tensor> {
        self.classes.forward(&self.picture.embed(pictures)?)
    }
}

/// The background's distinct characters (the two small sets share Greek and Latin, drawing for
/// drawing: each is kept once), each its 20 drawings' indices.
pub fn background_characters(omniglot: &Omniglot) -> Vec<Vec<usize>> {
    let mut seen = std::collections::HashSet::new();
    let mut characters = Vec::new();
    for alphabet in &omniglot.background {
        for character in &alphabet.characters {
            if seen.insert((alphabet.alphabet.clone(), character.name.clone())) {
                characters.push((character.first..character.first + character.count).collect());
            }
        }
    }
    characters
}

/// Drawings as a batch of pictures [B, 784].
pub fn pictures(omniglot: &Omniglot, drawings: &[usize]) -> Result<Tensor> {
    let pixels: Vec<f32> = drawings.iter().flat_map(|&i| omniglot.pixels(i)).collect();
    Ok(Tensor::from_vec(pixels, (drawings.len(), SIDE * SIDE), &Device::Cpu)?)
}

/// The share of the one-shot runs' test drawings whose nearest training drawing (by cosine
/// similarity of `features`) is of their own character.
pub fn one_shot_accuracy(omniglot: &Omniglot, features: impl Fn(&[usize]) -> Result<Vec<Vec<f32>>>) -> Result<f64> {
    let (mut right, mut asked) = (0, 0);
    for run in &omniglot.runs {
        let (known, asking) = (features(&run.training)?, features(&run.test)?);
        for (query, &answer) in asking.iter().zip(&run.answers) {
            let similarities: Vec<f32> = known.iter().map(|k| cosine(query, k)).collect();
            right += usize::from(crate::rnn::first_highest(&similarities) as usize == answer);
            asked += 1;
        }
    }
    Ok(right as f64 / asked.max(1) as f64)
}

/// The cosine of the angle between two vectors (0 for a zero vector).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt()).max(1e-12)
}

pub struct EmbeddingTraining {
    pub network: CharacterClassifier,
    learner: Learner,
    characters: Vec<Vec<usize>>,
    rng: Seeded,
    batch: usize,
    pub steps: usize,
}

impl EmbeddingTraining {
    pub fn new(omniglot: &Omniglot, seed: u64) -> Result<Self> {
        let characters = background_characters(omniglot);
        if characters.iter().any(|c| c.len() <= TRAINING_DRAWINGS) {
            return Err(EngineError::BadData(format!("Omniglot: a character with {TRAINING_DRAWINGS} drawings or fewer")));
        }
        let (network, vars) = seeded_parameters(seed, DType::F32, |get| CharacterClassifier::build(characters.len(), get))?;
        let learner = Learner::new(vars, 0.001, 5.0)?;
        Ok(Self { network, learner, characters, rng: Seeded::new(seed ^ 0x5A17), batch: 64, steps: 0 })
    }

    /// The next batch's drawings, each with its move and its class: (drawing, dx, dy, class).
    pub fn draw_batch(&mut self) -> Vec<(usize, isize, isize, u32)> {
        (0..self.batch)
            .map(|_| {
                let class = self.rng.below(self.characters.len());
                let drawing = self.characters[class][self.rng.below(TRAINING_DRAWINGS)];
                let (dx, dy) = (self.rng.below(2 * SHIFT + 1) as isize - SHIFT as isize, self.rng.below(2 * SHIFT + 1) as isize - SHIFT as isize);
                (drawing, dx, dy, class as u32)
            })
            .collect()
    }

    /// Every parameter by name (the classes' layer too), as they are now.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.learner.vars.iter().map(|(name, var)| (name.clone(), var.as_tensor().clone())).collect()
    }

    /// One batch of training drawings: its loss before the step.
    pub fn step(&mut self, omniglot: &Omniglot) -> Result<f64> {
        let drawn = self.draw_batch();
        let pixels: Vec<f32> = drawn.iter().flat_map(|&(drawing, dx, dy, _)| omniglot.shifted(drawing, dx, dy)).collect();
        let labels: Vec<u32> = drawn.iter().map(|d| d.3).collect();
        let logits = self.network.classify(&Tensor::from_vec(pixels, (self.batch, SIDE * SIDE), &Device::Cpu)?)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &Tensor::new(labels, &Device::Cpu)?)?;
        self.learner.step(&loss)?;
        self.steps += 1;
        Ok(loss.to_scalar::<f32>()? as f64)
    }

    /// The share of the background characters' last 4 drawings (never trained on) classified
    /// right.
    pub fn held_out_accuracy(&self, omniglot: &Omniglot) -> Result<f64> {
        let (drawings, labels): (Vec<usize>, Vec<usize>) =
            self.characters.iter().enumerate().flat_map(|(class, d)| d[TRAINING_DRAWINGS..].iter().map(move |&i| (i, class))).unzip();
        let logits: Vec<Vec<f32>> = self.network.classify(&pictures(omniglot, &drawings)?)?.to_vec2()?;
        let right = logits.iter().zip(&labels).filter(|(l, &c)| crate::rnn::first_highest(l) as usize == c).count();
        Ok(right as f64 / labels.len().max(1) as f64)
    }

    /// The background characters, each its drawings' indices (the first 16 train).
    pub fn characters(&self) -> &[Vec<usize>] {
        &self.characters
    }

    /// The picture embedding's tensors by name, under `picture.` (the classes' layer left
    /// out), as a SNAIL's model.safetensors keeps them.
    pub fn picture_tensors(&self) -> Vec<(String, Tensor)> {
        self.learner
            .vars
            .iter()
            .filter(|(name, _)| !name.starts_with("classes."))
            .map(|(name, var)| (format!("picture.{name}"), var.as_tensor().clone()))
            .collect()
    }

    /// The embeddings of `drawings`.
    pub fn embeddings(&self, omniglot: &Omniglot, drawings: &[usize]) -> Result<Vec<Vec<f32>>> {
        Ok(self.network.picture.embed(&pictures(omniglot, drawings)?)?.to_vec2()?)
    }
}
