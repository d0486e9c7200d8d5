//! Dates models trained in the page: what the person asked, and what the worker says of
//! them as they learn.

use leptos::prelude::*;
use protocol::TrainingProgress;

/// What the Train panel asks the controller to send.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainAsk {
    /// Start fresh models, or go on with the stopped ones (`resume`).
    Start {
        resume: bool,
    },
    Stop,
}

/// One trained model's files, as its training left them.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedFiles {
    pub score: String,
    pub config: String,
    pub vocabulary: String,
    pub weights: Vec<u8>,
}

/// The Train panel's state.
#[derive(Clone, Copy)]
pub struct Training {
    /// The scores side by side (left, right).
    pub scores: [RwSignal<String>; 2],
    pub seed: RwSignal<u64>,
    /// The text whose alignment is redrawn as the models learn.
    pub example: RwSignal<String>,
    pub asked: RwSignal<Option<TrainAsk>>,
    /// The number of the training run last sent.
    pub run: RwSignal<u64>,
    pub going: RwSignal<bool>,
    /// Each model's progress, as the worker last told it.
    pub progress: RwSignal<Vec<TrainingProgress>>,
    /// Each model's (steps, mean loss) at every message so far.
    pub losses: RwSignal<Vec<Vec<(usize, f64)>>>,
    /// How long the run has gone on, in milliseconds.
    pub millis: RwSignal<f64>,
    pub failed: RwSignal<Option<String>>,
    /// Each model's files once a run stops.
    pub files: RwSignal<Vec<Option<TrainedFiles>>, LocalStorage>,
}

impl Training {
    pub fn new() -> Self {
        Self {
            scores: [RwSignal::new("additive".into()), RwSignal::new("dot".into())],
            seed: RwSignal::new(1),
            example: RwSignal::new("Saturday, December 5, 2026".into()),
            asked: RwSignal::new(None),
            run: RwSignal::new(0),
            going: RwSignal::new(false),
            progress: RwSignal::new(Vec::new()),
            losses: RwSignal::new(Vec::new()),
            millis: RwSignal::new(0.0),
            failed: RwSignal::new(None),
            files: RwSignal::new_local(Vec::new()),
        }
    }

    /// Takes a message of the worker's about run `run` (older runs' are dropped).
    pub fn told(&self, run: u64, models: Vec<TrainingProgress>, going: bool, millis: f64, failed: Option<String>) {
        if run != self.run.get_untracked() {
            return;
        }
        if !models.is_empty() {
            self.losses.update(|losses| {
                losses.resize(models.len(), Vec::new());
                for (history, model) in losses.iter_mut().zip(&models) {
                    if let Some(loss) = model.loss.filter(|l| l.is_finite() && history.last().is_none_or(|&(steps, _)| steps < model.steps)) {
                        history.push((model.steps, loss));
                    }
                }
            });
            self.progress.set(models);
        }
        self.going.set(going);
        self.millis.set(millis);
        if failed.is_some() {
            self.failed.set(failed);
        }
    }

    /// Takes a trained model's files.
    pub fn trained(&self, run: u64, index: usize, files: TrainedFiles) {
        if run != self.run.get_untracked() {
            return;
        }
        self.files.update(|all| {
            if all.len() <= index {
                all.resize(index + 1, None);
            }
            all[index] = Some(files);
        });
    }
}

impl Default for Training {
    fn default() -> Self {
        Self::new()
    }
}
