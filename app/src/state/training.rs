//! Models trained in the page (dates models, digits readers, memory networks, a SNAIL): what the person asked, and
//! what the worker says of them as they learn.

use leptos::prelude::*;
use protocol::{TrainingProgress, TrainingTask};

/// What the Train panel asks the controller to send.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainAsk {
    /// Start fresh models, or go on with the stopped ones (`resume`).
    Start {
        resume: bool,
    },
    Stop,
}

/// The dates models' scores: Bahdanau's, then Luong's.
pub const DATES_SCORES: [&str; 5] = ["additive", "dot", "general", "concat", "local"];

impl Training {
    /// The scores a Train asks for: every one, or the two chosen.
    pub fn scores_asked(&self) -> Vec<String> {
        if self.task == TrainingTask::Snail {
            vec!["snail".into()]
        } else if self.task == TrainingTask::Dates && self.all_scores.get_untracked() {
            DATES_SCORES.iter().map(|s| s.to_string()).collect()
        } else {
            self.scores.iter().map(|s| s.get_untracked()).collect()
        }
    }
}

/// One trained model's files, as its training left them.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedFiles {
    pub score: String,
    pub config: String,
    pub vocabulary: String,
    pub weights: Vec<u8>,
}

/// A Train panel's state.
#[derive(Clone, Copy)]
pub struct Training {
    pub task: TrainingTask,
    /// Every score at once, side by side (dates), in place of the two chosen.
    pub all_scores: RwSignal<bool>,
    /// The scores (or a reader's attentions) side by side (left, right).
    pub scores: [RwSignal<String>; 2],
    pub seed: RwSignal<u64>,
    /// The text whose alignment is redrawn as the models learn (digits: the number of the
    /// held-out strip whose glimpses are).
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
    pub fn new(task: TrainingTask) -> Self {
        let (left, right, example) = match task {
            TrainingTask::Dates => ("additive", "dot", "Saturday, December 5, 2026"),
            TrainingTask::Digits => ("soft", "hard", "0"),
            TrainingTask::Memory => ("babi-1", "babi-2", "0"),
            TrainingTask::Snail => ("snail", "snail", "0"),
        };
        Self {
            task,
            all_scores: RwSignal::new(false),
            scores: [RwSignal::new(left.into()), RwSignal::new(right.into())],
            seed: RwSignal::new(1),
            example: RwSignal::new(example.into()),
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
        Self::new(TrainingTask::Dates)
    }
}

/// Both Train panels.
#[derive(Clone, Copy)]
pub struct Trainings {
    pub dates: Training,
    pub digits: Training,
    pub memory: Training,
    pub snail: Training,
}

impl Trainings {
    pub fn new() -> Self {
        Self {
            dates: Training::new(TrainingTask::Dates),
            digits: Training::new(TrainingTask::Digits),
            memory: Training::new(TrainingTask::Memory),
            snail: Training::new(TrainingTask::Snail),
        }
    }

    pub fn of(&self, task: TrainingTask) -> Training {
        match task {
            TrainingTask::Dates => self.dates,
            TrainingTask::Digits => self.digits,
            TrainingTask::Memory => self.memory,
            TrainingTask::Snail => self.snail,
        }
    }
}

impl Default for Trainings {
    fn default() -> Self {
        Self::new()
    }
}
