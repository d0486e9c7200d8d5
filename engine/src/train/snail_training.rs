//! Training a SNAIL on Omniglot from a seed, in two phases. First the picture embedding learns
//! to classify the background characters (`character_embedding`); then it is frozen, every
//! drawing's features are computed once, and the SNAIL learns from 5-way 1-shot episodes of
//! background characters (their first 16 drawings; labels drawn afresh each episode, so that
//! only the episode says which class is which). A SNAIL this small trained from pixels stays at
//! chance for thousands of steps (the finding, docs/notes/snail.md).
//!
//! Measured on the one-shot runs, alphabets neither phase ever sees: 400 episodes, each a test
//! drawing of a run beside its character's one training drawing and four others of the run.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use super::character_embedding::{cosine, pictures, EmbeddingTraining, FEATURES, HIDDEN, TRAINING_DRAWINGS};
use super::omniglot::Omniglot;
use super::seeded::Seeded;
use super::{json_bytes, safetensors_bytes, seeded_parameters, Learner};
use crate::error::{EngineError, Result};
use crate::rnn::first_highest;
use crate::rnn::snail::{Snail, SnailConfig, ARCHITECTURE};

/// The held-out episodes are always the same, whatever the training's seed: runs compare.
const EPISODES_SEED: u64 = 2018;

/// How a run trains.
#[derive(Clone, Copy, Debug)]
pub struct SnailSettings {
    pub seed: u64,
    /// Batches of 64 drawings that pre-train the picture embedding.
    pub embedding_batches: usize,
    /// Episodes a batch of the SNAIL's training.
    pub batch: usize,
    pub learning_rate: f64,
    pub clip: f64,
}

impl SnailSettings {
    pub fn new(seed: u64) -> Self {
        Self { seed, embedding_batches: 3000, batch: 32, learning_rate: 0.001, clip: 5.0 }
    }

    pub fn config(&self) -> SnailConfig {
        SnailConfig {
            architecture: ARCHITECTURE.into(),
            hidden: HIDDEN,
            features: FEATURES,
            ways: 5,
            shots: 1,
            heads: 2,
            key: 16,
            values: vec![16, 32],
            filters: 16,
        }
    }
}

/// An episode as drawings' indices: the labelled examples in order, the query last.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeDraw {
    pub drawings: Vec<usize>,
    /// The examples' classes, then `None` for the query.
    pub labels: Vec<Option<usize>>,
    /// The query's class.
    pub answer: usize,
}

impl EpisodeDraw {
    /// The first example of the query's class (what its attention should find).
    pub fn answer_example(&self) -> usize {
        self.labels.iter().position(|&l| l == Some(self.answer)).unwrap_or(0)
    }
}

/// `count` distinct numbers below `n`, in the order drawn.
fn distinct(rng: &mut Seeded, count: usize, n: usize) -> Vec<usize> {
    let mut chosen = Vec::with_capacity(count);
    while chosen.len() < count.min(n) {
        let pick = rng.below(n);
        if !chosen.contains(&pick) {
            chosen.push(pick);
        }
    }
    chosen
}

/// An episode of `ways` characters, each with `shots` examples from its `drawings` and labels
/// in a fresh random order, the examples shuffled, and a query: another drawing of one of them.
pub fn draw_episode(rng: &mut Seeded, characters: &[Vec<usize>], ways: usize, shots: usize) -> EpisodeDraw {
    let chosen = distinct(rng, ways, characters.len());
    let labels = distinct(rng, ways, ways);
    let asked = rng.below(ways);
    let mut examples = Vec::with_capacity(ways * shots);
    let mut query = 0;
    for (k, &character) in chosen.iter().enumerate() {
        let drawings = &characters[character];
        let picked = distinct(rng, shots + usize::from(k == asked), drawings.len());
        examples.extend(picked[..shots].iter().map(|&d| (drawings[d], labels[k])));
        if k == asked {
            query = drawings[picked[shots]];
        }
    }
    for i in (1..examples.len()).rev() {
        examples.swap(i, rng.below(i + 1));
    }
    let (mut drawings, mut classes): (Vec<usize>, Vec<Option<usize>>) = examples.into_iter().map(|(d, l)| (d, Some(l))).unzip();
    drawings.push(query);
    classes.push(None);
    EpisodeDraw { drawings, labels: classes, answer: labels[asked] }
}

/// The 5-way 1-shot episodes of the one-shot runs: each test drawing of each run, beside its
/// character's training drawing and `ways` − 1 other characters' of the same run, in a drawn
/// order, labelled A, B, C, … in that order (as a person's pads are: any order of labels is
/// one the training draws).
pub fn held_out_episodes(omniglot: &Omniglot, ways: usize, seed: u64) -> Vec<EpisodeDraw> {
    let mut rng = Seeded::new(seed);
    let mut episodes = Vec::new();
    for run in &omniglot.runs {
        for (&test, &asked) in run.test.iter().zip(&run.answers) {
            let mut characters: Vec<usize> = distinct(&mut rng, ways, run.training.len()).into_iter().filter(|&c| c != asked).take(ways - 1).collect();
            characters.push(asked);
            let order = distinct(&mut rng, characters.len(), characters.len());
            let mut drawings: Vec<usize> = order.iter().map(|&i| run.training[characters[i]]).collect();
            let mut labels: Vec<Option<usize>> = (0..order.len()).map(Some).collect();
            let answer = order.iter().position(|&i| characters[i] == asked).unwrap_or(0);
            drawings.push(test);
            labels.push(None);
            episodes.push(EpisodeDraw { drawings, labels, answer });
        }
    }
    episodes
}

/// How well a SNAIL reads held-out episodes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SnailEvaluation {
    /// The share of queries classed right.
    pub answered: f64,
    /// The share whose attention in the last block (its heads' mean) weighs the example of
    /// the query's own class most.
    pub looked_right: f64,
    pub episodes: usize,
}

enum Phase {
    /// The picture embedding learns to classify the background characters.
    Embedding,
    /// Frozen: every drawing's features [drawings, 64], and the SNAIL's learner.
    Snail { features: Tensor, learner: Learner },
}

pub struct SnailTraining {
    omniglot: Arc<Omniglot>,
    settings: SnailSettings,
    embedding: EmbeddingTraining,
    pub snail: Snail,
    /// The SNAIL's parameters, drawn at the start; they learn once the embedding is frozen.
    snail_vars: Option<Vec<(String, candle_core::Var)>>,
    phase: Phase,
    characters: Vec<Vec<usize>>,
    held_out: Vec<EpisodeDraw>,
    rng: Seeded,
    /// Batches taken so far, both phases.
    pub steps: usize,
}

impl SnailTraining {
    pub fn new(settings: SnailSettings, omniglot: Arc<Omniglot>) -> Result<Self> {
        let embedding = EmbeddingTraining::new(&omniglot, settings.seed)?;
        let picture = embedding.network.picture.clone(); // shares the variables: it learns with them
        let name = format!("snail-omniglot-{}way-{}shot", settings.config().ways, settings.config().shots);
        let (snail, vars) = seeded_parameters(settings.seed ^ 0x5EED, DType::F32, |get| Snail::build(&name, settings.config(), picture, get))?;
        let characters = embedding.characters().iter().map(|c| c[..TRAINING_DRAWINGS].to_vec()).collect();
        let held_out = held_out_episodes(&omniglot, settings.config().ways, EPISODES_SEED);
        if held_out.is_empty() {
            return Err(EngineError::BadData("Omniglot: no one-shot runs to measure on".into()));
        }
        Ok(Self {
            omniglot,
            settings,
            embedding,
            snail,
            snail_vars: Some(vars),
            phase: Phase::Embedding,
            characters,
            held_out,
            rng: Seeded::new(settings.seed ^ 0xE915),
            steps: 0,
        })
    }

    pub fn settings(&self) -> SnailSettings {
        self.settings
    }

    /// Whether the picture embedding is still learning (the SNAIL waits for it).
    pub fn is_pretraining(&self) -> bool {
        matches!(self.phase, Phase::Embedding)
    }

    pub fn held_out(&self) -> &[EpisodeDraw] {
        &self.held_out
    }

    /// Held-out episode `n` (of [`Self::held_out`]) read by the SNAIL as it is, as a person's
    /// episode is read: the report with its drawings and the query's attention.
    pub fn read_held_out(&self, n: usize) -> Result<crate::report::AttentionReport> {
        let episode = self.held_out.get(n).ok_or_else(|| EngineError::BadEpisode(format!("there are {} held-out episodes", self.held_out.len())))?;
        let t = episode.drawings.len();
        let examples: Vec<(Vec<f32>, usize)> = (0..t - 1).map(|i| (self.omniglot.pixels(episode.drawings[i]), episode.labels[i].unwrap_or(0))).collect();
        self.snail.read_episode(&examples, &self.omniglot.pixels(episode.drawings[t - 1]))
    }

    /// One batch: its loss before the step (the classifier's while the embedding learns).
    pub fn step(&mut self) -> Result<f64> {
        if let Phase::Embedding = self.phase {
            let loss = self.embedding.step(&self.omniglot)?;
            self.steps += 1;
            if self.embedding.steps >= self.settings.embedding_batches {
                self.freeze()?;
            }
            return Ok(loss);
        }
        let episodes = self.draw_episodes();
        let Phase::Snail { features, learner } = &mut self.phase else { unreachable!("the embedding's phase returned above") };
        let logits = read(&self.snail, features, &episodes)?.logits;
        let answers = Tensor::new(episodes.iter().map(|e| e.answer as u32).collect::<Vec<_>>(), &Device::Cpu)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &answers)?;
        learner.step(&loss)?;
        self.steps += 1;
        Ok(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?)
    }

    /// The next batch of the SNAIL's episodes.
    pub fn draw_episodes(&mut self) -> Vec<EpisodeDraw> {
        let config = &self.snail.config;
        (0..self.settings.batch).map(|_| draw_episode(&mut self.rng, &self.characters, config.ways, config.shots)).collect()
    }

    /// The next batch of the picture embedding's drawings: (drawing, dx, dy, class).
    pub fn draw_embedding_batch(&mut self) -> Vec<(usize, isize, isize, u32)> {
        self.embedding.draw_batch()
    }

    /// Every parameter as it is now, by name: the classifier's under `classifier.`, the
    /// SNAIL's as its files name them (what a benchmark hands another framework).
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        let snail = match (&self.phase, &self.snail_vars) {
            (Phase::Snail { learner, .. }, _) => learner.vars.clone(),
            (Phase::Embedding, vars) => vars.clone().unwrap_or_default(),
        };
        let classifier = self.embedding.tensors().into_iter().map(|(name, t)| (format!("classifier.{name}"), t));
        classifier.chain(snail.into_iter().map(|(name, var)| (name, var.as_tensor().clone()))).collect()
    }

    /// Ends the embedding's phase: every drawing's features, computed once, cut from the
    /// graph (the SNAIL's gradients stop there).
    fn freeze(&mut self) -> Result<()> {
        let all: Vec<usize> = (0..self.omniglot.len()).collect();
        let features = self.snail.picture.features(&pictures(&self.omniglot, &all)?)?.detach();
        let vars = self.snail_vars.take().unwrap_or_default();
        let learner = Learner::new(vars, self.settings.learning_rate, self.settings.clip)?;
        self.phase = Phase::Snail { features, learner };
        Ok(())
    }

    /// On the held-out episodes. While the embedding learns: (a nearest neighbour's share in
    /// its features, by cosine, the share of the background's held-out drawings it
    /// classifies); after: (the SNAIL's share answered, the share its attention finds).
    pub fn measure(&self) -> Result<(f64, f64)> {
        match &self.phase {
            Phase::Embedding => {
                let all = self.snail.picture.features(&pictures(&self.omniglot, &episode_drawings(&self.held_out))?)?;
                Ok((nearest_neighbour(&all, &self.held_out)?, self.embedding.held_out_accuracy(&self.omniglot)?))
            }
            Phase::Snail { features, .. } => {
                let measured = evaluate(&self.snail, features, &self.held_out)?;
                Ok((measured.answered, measured.looked_right))
            }
        }
    }

    /// config.json and model.safetensors (the picture embedding under `picture.`).
    pub fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let snail = self.tensors().into_iter().filter(|(name, _)| !name.starts_with("classifier."));
        let tensors = self.embedding.picture_tensors().into_iter().chain(snail);
        Ok(vec![("config.json", json_bytes(&self.snail.config)?), ("model.safetensors", safetensors_bytes(tensors)?)])
    }
}

/// Every episode's drawings, one after another.
fn episode_drawings(episodes: &[EpisodeDraw]) -> Vec<usize> {
    episodes.iter().flat_map(|e| e.drawings.iter().copied()).collect()
}

/// Episodes read by `snail` from precomputed `features` [drawings, 64].
fn read(snail: &Snail, features: &Tensor, episodes: &[EpisodeDraw]) -> Result<crate::rnn::snail::SnailRead> {
    let t = snail.config.steps();
    let ids = Tensor::new(episode_drawings(episodes).iter().map(|&d| d as u32).collect::<Vec<_>>(), &Device::Cpu)?;
    let steps = features.index_select(&ids, 0)?.reshape((episodes.len(), t, ()))?;
    let labels: Vec<Vec<Option<usize>>> = episodes.iter().map(|e| e.labels.clone()).collect();
    snail.forward(&snail.inputs(&steps, &labels)?)
}

/// How well `snail` reads `episodes`, its drawings' `features` given.
pub fn evaluate(snail: &Snail, features: &Tensor, episodes: &[EpisodeDraw]) -> Result<SnailEvaluation> {
    let read = read(snail, features, episodes)?;
    let logits: Vec<Vec<f32>> = read.logits.to_dtype(DType::F32)?.to_vec2()?;
    let t = snail.config.steps();
    // The last block's heads' mean, the query's row: [B, T].
    let last = read.attention.last().ok_or_else(|| EngineError::BadModelFile("a SNAIL with no attention block".into()))?;
    let query_rows: Vec<Vec<f32>> = last.mean(1)?.narrow(1, t - 1, 1)?.squeeze(1)?.to_dtype(DType::F32)?.to_vec2()?;
    let (mut answered, mut looked) = (0, 0);
    for ((episode, logits), row) in episodes.iter().zip(&logits).zip(&query_rows) {
        answered += usize::from(first_highest(logits) as usize == episode.answer);
        looked += usize::from(first_highest(&row[..t - 1]) as usize == episode.answer_example());
    }
    let share = |n: usize| n as f64 / episodes.len().max(1) as f64;
    Ok(SnailEvaluation { answered: share(answered), looked_right: share(looked), episodes: episodes.len() })
}

/// The share of `episodes` whose query's nearest example, by the cosine of `features` [all
/// the episodes' drawings in order, 64], is of its class.
fn nearest_neighbour(features: &Tensor, episodes: &[EpisodeDraw]) -> Result<f64> {
    let rows: Vec<Vec<f32>> = features.to_dtype(DType::F32)?.to_vec2()?;
    let mut right = 0;
    let mut at = 0;
    for episode in episodes {
        let t = episode.drawings.len();
        let (examples, query) = (&rows[at..at + t - 1], &rows[at + t - 1]);
        let similarities: Vec<f32> = examples.iter().map(|e| cosine(query, e)).collect();
        right += usize::from(episode.labels[first_highest(&similarities) as usize] == Some(episode.answer));
        at += t;
    }
    Ok(right as f64 / episodes.len().max(1) as f64)
}
