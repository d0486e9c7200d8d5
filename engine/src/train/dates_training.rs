//! Training a dates model (Bahdanau's or Luong's, one score) from a seed: batches of
//! generated dates, teacher forcing, cross-entropy, Adam with the gradient's global norm
//! clipped; measured on held-out days (dates the training never draws) by greedy decoding.
//!
//! A run is a value that steps one batch at a time, so the page's worker can stop between
//! batches, tell the page, and go on (resume is the next `step`).

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::dates::{iso_field, DateDraws, Example};
use super::{json_bytes, seeded_model, Learner};
use crate::error::{EngineError, Result};
use crate::rnn::seq2seq::{padded, Greedy, Score, Seq2Seq, Seq2SeqConfig, ARCHITECTURE};
use crate::rnn::Trained;

/// The target's symbols: the start and end symbols, then what ISO dates are written with.
pub const TARGET_SYMBOLS: [&str; 13] = ["<start>", "<end>", "-", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
pub const START: u32 = 0;
pub const END: u32 = 1;
/// An ISO date's ten characters and the end symbol.
pub const TARGET_STEPS: usize = 11;
/// The source's first two symbols: padding and a character the model never saw.
pub const PAD: &str = "<pad>";
pub const UNKNOWN: &str = "<unk>";
/// The held-out examples are always the same, whatever the training's seed: runs compare.
const HELD_OUT_SEED: u64 = 2015;

/// A dates model's vocabulary.json: the symbols of the source and the target by id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SymbolLists {
    pub source: Vec<String>,
    pub target: Vec<String>,
}

/// How a run trains.
#[derive(Clone, Copy, Debug)]
pub struct DatesSettings {
    pub score: Score,
    pub seed: u64,
    pub batch: usize,
    pub learning_rate: f64,
    /// The largest global norm of the gradient a step takes; larger ones are scaled down.
    pub clip: f64,
}

impl DatesSettings {
    /// The sizes measured to reach 99% in a few hundred batches (docs/notes/rnn-attention.md).
    pub fn new(score: Score, seed: u64) -> Self {
        Self { score, seed, batch: 64, learning_rate: 0.01, clip: 5.0 }
    }

    pub fn config(&self) -> Seq2SeqConfig {
        Seq2SeqConfig {
            architecture: ARCHITECTURE.into(),
            task: "dates".into(),
            score: self.score,
            source_slots: 40,
            target_limit: TARGET_STEPS,
            embedding: 16,
            encoder_units: 32,
            decoder_units: 64,
            attention_units: 32,
            window: 10,
        }
    }
}

/// How well a model writes held-out dates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The share of dates written exactly (ten characters, then the end).
    pub exact: f64,
    /// The share of output digits whose highest weight is on the field (year, month, day)
    /// of the source that writes it.
    pub digits_in_field: f64,
    pub examples: usize,
}

/// A model's files, as bytes.
pub struct TrainedFiles {
    pub config: Vec<u8>,
    pub vocabulary: Vec<u8>,
    pub weights: Vec<u8>,
}

pub struct DatesTraining {
    /// The model as it learns, with its symbols: runs like any trained model.
    pub trained: Trained,
    learner: Learner,
    draws: DateDraws,
    held_out: Vec<Example>,
    settings: DatesSettings,
    /// Batches taken so far.
    pub steps: usize,
}

impl DatesTraining {
    pub fn new(settings: DatesSettings, held_out: usize) -> Result<Self> {
        let draws = DateDraws::new(settings.seed);
        let source: Vec<String> = [PAD.to_string(), UNKNOWN.to_string()].into_iter().chain(draws.names().alphabet().into_iter().map(String::from)).collect();
        let symbols = SymbolLists { source, target: TARGET_SYMBOLS.iter().map(|s| s.to_string()).collect() };
        let (model, vars) = seeded_model(settings.config(), (symbols.source.len(), symbols.target.len()), settings.seed, DType::F32)?;
        let learner = Learner::new(vars, settings.learning_rate, settings.clip)?;
        let mut held_out_draws = DateDraws::new(HELD_OUT_SEED);
        let held_out = (0..held_out).map(|_| held_out_draws.draw(true)).collect();
        let trained = Trained::new(&format!("dates-{}", settings.score.name()), model, symbols);
        Ok(Self { trained, learner, draws, held_out, settings, steps: 0 })
    }

    pub fn settings(&self) -> DatesSettings {
        self.settings
    }

    /// The source ids of `text`: each character's, the unknown symbol for one never seen.
    pub fn source_ids(&self, text: &str) -> Vec<u32> {
        source_ids(&self.trained.symbols().source, text)
    }

    /// One batch: its loss before the step.
    pub fn step(&mut self) -> Result<f64> {
        let examples: Vec<Example> = (0..self.settings.batch).map(|_| self.draws.draw(false)).collect();
        let sources: Vec<Vec<u32>> = examples.iter().map(|e| self.source_ids(&e.text)).collect();
        let (ids, lengths) = padded(&sources, &Device::Cpu)?;
        let targets: Vec<Vec<u32>> = examples.iter().map(|e| target_ids(&e.iso)).collect::<Result<_>>()?;
        // Teacher forcing: step t reads the target's symbol t − 1 (the start symbol first).
        let previous: Vec<u32> = targets.iter().flat_map(|t| std::iter::once(START).chain(t[..TARGET_STEPS - 1].iter().copied())).collect();
        let previous = Tensor::from_vec(previous, (examples.len(), TARGET_STEPS), &Device::Cpu)?;
        let targets = Tensor::from_vec(targets.concat(), examples.len() * TARGET_STEPS, &Device::Cpu)?;
        let (logits, _) = self.trained.model.teacher_forced(&ids, &lengths, &previous)?;
        let loss = candle_nn::loss::cross_entropy(&logits.flatten_to(1)?, &targets)?;
        self.learner.step(&loss)?;
        self.steps += 1;
        Ok(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?)
    }

    /// Greedy decoding of the held-out dates.
    pub fn evaluate(&self) -> Result<Evaluation> {
        evaluate(&self.trained.model, self.trained.symbols(), &self.held_out)
    }

    /// The model as config.json, vocabulary.json and model.safetensors.
    pub fn files(&self) -> Result<TrainedFiles> {
        Ok(TrainedFiles {
            config: json_bytes(&self.trained.model.config)?,
            vocabulary: json_bytes(self.trained.symbols())?,
            weights: self.learner.safetensors()?,
        })
    }
}

/// The ids of `text`'s characters in `source` (the unknown symbol's, 1, for one not there).
pub fn source_ids(source: &[String], text: &str) -> Vec<u32> {
    text.chars().map(|c| source.iter().position(|s| s.chars().eq(std::iter::once(c))).map_or(1, |i| i as u32)).collect()
}

/// The target ids of an ISO date, the end symbol last.
pub fn target_ids(iso: &str) -> Result<Vec<u32>> {
    let ids: Option<Vec<u32>> =
        iso.chars().map(|c| TARGET_SYMBOLS.iter().position(|s| s.chars().eq(std::iter::once(c))).map(|i| i as u32)).chain(std::iter::once(Some(END))).collect();
    ids.filter(|ids| ids.len() == TARGET_STEPS).ok_or_else(|| EngineError::BadModelFile(format!("`{iso}` is no ISO date")))
}

/// Greedy decoding of `examples` by `model`: the share written exactly, and of digits read
/// from their own field.
pub fn evaluate(model: &Seq2Seq, symbols: &SymbolLists, examples: &[Example]) -> Result<Evaluation> {
    if examples.is_empty() {
        return Ok(Evaluation::default());
    }
    let sources: Vec<Vec<u32>> = examples.iter().map(|e| source_ids(&symbols.source, &e.text)).collect();
    let (ids, lengths) = padded(&sources, &Device::Cpu)?;
    let Greedy { symbols: written, weights } = model.greedy(&ids, &lengths, START, TARGET_STEPS)?;
    let (mut exact, mut digits, mut in_field) = (0, 0, 0);
    for ((example, written), weights) in examples.iter().zip(&written).zip(&weights) {
        exact += usize::from(target_ids(&example.iso)? == *written);
        for (i, row) in weights.iter().enumerate().take(TARGET_STEPS - 1) {
            let Some(field) = iso_field(i) else { continue };
            let looked = crate::rnn::first_highest(row) as usize; // the slot weighed most
            digits += 1;
            in_field += usize::from(example.fields[field].contains(&looked));
        }
    }
    Ok(Evaluation { exact: exact as f64 / examples.len() as f64, digits_in_field: in_field as f64 / digits.max(1) as f64, examples: examples.len() })
}
