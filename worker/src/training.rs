//! Training in the worker: dates models, digits readers, memory networks or a SNAIL side by side (a batch of each in
//! turn), telling the page their progress a few times a second and yielding to the message
//! loop between batches, so Stop is heard at once and the models wait, whole, to be resumed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use engine::rnn::glimpse::Glimpse;
use engine::rnn::seq2seq::Score;
use engine::train::babi::Task;
use engine::train::dates_training::{DatesSettings, DatesTraining};
use engine::train::digits::Digits;
use engine::train::digits_training::{DigitsSettings, DigitsTraining};
use engine::train::memory_training::{MemorySettings, MemoryTraining};
use engine::train::omniglot::Omniglot;
use engine::train::snail_training::{SnailSettings, SnailTraining};
use engine::train::Learning;
use protocol::{encode_with_bytes, FromWorker, StripGlimpses, TrainingProgress, TrainingTask};

use super::{give_a_turn, now, post, scope};

/// How many held-out dates (or strips) the page's measure reads (the command line reads
/// 1,000): the share exact within about ±0.9% at 99%, in a fraction of a batch's time.
const HELD_OUT: usize = 500;
/// Where the page serves scikit-learn's digits (assets/datasets.json).
const DIGITS_URL: &str = "data/digits/digits.csv.gz";
/// Where the page serves Omniglot as the project keeps it (assets/data/omniglot).
const OMNIGLOT_URL: &str = "data/omniglot/";

/// A model learning one task or the other.
enum Learner {
    Dates(DatesTraining),
    Digits(DigitsTraining),
    Memory(MemoryTraining),
    Snail(Box<SnailTraining>),
}

impl Learner {
    fn learning(&self) -> &dyn Learning {
        match self {
            Learner::Dates(t) => t,
            Learner::Digits(t) => t,
            Learner::Memory(t) => t,
            Learner::Snail(t) => t.as_ref(),
        }
    }

    fn learning_mut(&mut self) -> &mut dyn Learning {
        match self {
            Learner::Dates(t) => t,
            Learner::Digits(t) => t,
            Learner::Memory(t) => t,
            Learner::Snail(t) => t.as_mut(),
        }
    }

    /// The example as the model reads it now: a date's alignment, or a held-out strip's
    /// glimpses (the strip numbered `example`; a hard reader's windows drawn from seed 1), or
    /// a network's hops over the held-out story numbered `example`, or a SNAIL's reading of
    /// the held-out episode numbered `example`.
    fn example(&self, example: &str, progress: &mut TrainingProgress) {
        let numbered = |count: usize| example.trim().parse::<usize>().ok().map(|n| n % count.max(1));
        match self {
            Learner::Dates(t) => progress.example = t.trained.align(example).ok(),
            Learner::Memory(t) => {
                let Some(story) = numbered(t.held_out().len()).and_then(|n| t.held_out().get(n)) else { return };
                progress.example = t.network.answer(&story.text()).ok();
                progress.supporting = story.supporting.clone();
            }
            Learner::Snail(t) => {
                let Some(n) = numbered(t.held_out().len()) else { return };
                progress.example = t.read_held_out(n).ok();
                progress.supporting = vec![t.held_out()[n].answer_example()];
            }
            Learner::Digits(t) => {
                let strips = t.held_out();
                let Some(strip) = numbered(strips.len()).and_then(|n| strips.get(n)) else { return };
                let config = &t.reader.config;
                progress.glimpses = t.glimpses(strip, 1).ok().map(|seen| StripGlimpses {
                    height: config.height,
                    width: config.width,
                    pixels: strip.pixels.clone(),
                    window: config.window,
                    stride: config.stride,
                    labels: strip.labels.to_vec(),
                    starts: strip.starts.to_vec(),
                    weights: seen.weights,
                    chosen: seen.chosen,
                    written: seen.written,
                });
            }
        }
    }
}
/// Batches between measures.
const MEASURE_EVERY: usize = 25;
/// How often the page hears of the training (and redraws the example's alignment).
const TELL_EVERY_MS: f64 = 250.0;

/// One model of a run, and what it has done.
struct Model {
    training: Learner,
    losses: Vec<f64>,
    measured: Vec<(usize, f64, f64)>,
    done: bool,
}

/// The training going on, and the models of the run last started.
#[derive(Default)]
pub(super) struct Trainings {
    going: Cell<Option<u64>>,
    /// The task of the models kept: a resume goes on with them only for the same task.
    task: Cell<TrainingTask>,
    models: RefCell<Vec<Model>>,
    /// scikit-learn's digits, fetched once.
    digits: RefCell<Option<Arc<Digits>>>,
    /// Omniglot, fetched once.
    omniglot: RefCell<Option<Arc<Omniglot>>>,
    /// The example the page shows (it may change while the models train, or after).
    example: RefCell<String>,
    /// The run last ended, and how long it went on.
    ended: Cell<Option<(u64, f64)>>,
}

impl Trainings {
    pub(super) fn stop(&self, run: u64) {
        if self.going.get() == Some(run) {
            self.going.set(None);
        }
    }
}

/// What a request asks: the scores side by side, the seed, the most batches, the share of
/// exact dates that ends a model's training, the example to redraw.
pub(super) struct Asked {
    pub task: TrainingTask,
    pub scores: Vec<String>,
    pub seed: u64,
    pub steps: usize,
    pub until: f64,
    pub example: String,
    pub resume: bool,
}

fn tell(trainings: &Trainings, run: u64, (going, started): (bool, f64), failed: Option<String>) {
    tell_after(trainings, run, going, now() - started, failed);
}

fn tell_after(trainings: &Trainings, run: u64, going: bool, millis: f64, failed: Option<String>) {
    let example = trainings.example.borrow().clone();
    let models = trainings.models.borrow_mut().iter_mut().map(|m| progress(m, &example)).collect();
    post(&FromWorker::Training { run, task: trainings.task.get(), models, going, millis, failed }, None);
}

/// The page shows another example: the models' reading of it, at once if they are stopped
/// (else with the next word of their progress).
pub(super) fn show_example(trainings: &Trainings, task: TrainingTask, example: String) {
    if trainings.task.get() != task {
        return;
    }
    *trainings.example.borrow_mut() = example;
    if let (None, Some((run, millis))) = (trainings.going.get(), trainings.ended.get()) {
        tell_after(trainings, run, false, millis, None);
    }
}

fn progress(model: &mut Model, example: &str) -> TrainingProgress {
    let loss = (!model.losses.is_empty()).then(|| model.losses.iter().sum::<f64>() / model.losses.len() as f64);
    model.losses.clear();
    let mut progress = TrainingProgress {
        score: model.training.learning().name().to_string(),
        steps: model.training.learning().steps(),
        loss,
        measured: model.measured.clone(),
        example: None,
        glimpses: None,
        supporting: Vec::new(),
        preparing: model.training.learning().is_preparing(),
    };
    model.training.example(example, &mut progress);
    progress
}

/// Each model's files, as its training left them.
fn send_files(trainings: &Trainings, run: u64) {
    let task = trainings.task.get();
    for (index, model) in trainings.models.borrow().iter().enumerate() {
        let score = model.training.learning().name().to_string();
        match model.training.learning().files() {
            Ok(files) => {
                // By name: a reader has no vocabulary.json (an empty one is left out by the page).
                let file = |name: &str| files.iter().find(|(n, _)| *n == name).map(|(_, b)| b.clone()).unwrap_or_default();
                let (config, vocabulary, weights) = (file("config.json"), file("vocabulary.json"), file("model.safetensors"));
                let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap_or_default();
                let message = FromWorker::TrainedModel { run, task, index, score, config: text(config), vocabulary: text(vocabulary), weights: Vec::new() };
                let (value, transfer) = encode_with_bytes(&message, &weights);
                let _ = scope().post_message_with_transfer(&value, &transfer);
            }
            Err(e) => post(&FromWorker::Training { run, task, models: Vec::new(), going: false, millis: 0.0, failed: Some(e.to_string()) }, None),
        }
    }
}

/// scikit-learn's digits, fetched from beside the page the first time.
async fn digits(trainings: &Trainings) -> Result<Arc<Digits>, String> {
    if let Some(digits) = trainings.digits.borrow().clone() {
        return Ok(digits);
    }
    let bytes = super::fetch("", DIGITS_URL).await?.to_vec();
    let digits = Arc::new(Digits::from_gzip(&bytes).map_err(|e| e.to_string())?);
    *trainings.digits.borrow_mut() = Some(digits.clone());
    Ok(digits)
}

/// Omniglot, fetched from beside the page the first time.
async fn omniglot(trainings: &Trainings) -> Result<Arc<Omniglot>, String> {
    if let Some(omniglot) = trainings.omniglot.borrow().clone() {
        return Ok(omniglot);
    }
    let index = super::fetch("", &format!("{OMNIGLOT_URL}index.json")).await?.to_vec();
    let images = super::fetch("", &format!("{OMNIGLOT_URL}images.bin.gz")).await?.to_vec();
    let omniglot = Arc::new(Omniglot::from_files(&index, &images).map_err(|e| e.to_string())?);
    *trainings.omniglot.borrow_mut() = Some(omniglot.clone());
    Ok(omniglot)
}

/// The models a request asks for, fresh.
async fn fresh(trainings: &Trainings, task: TrainingTask, scores: &[String], seed: u64) -> Result<Vec<Model>, String> {
    let model = |training| Model { training, losses: Vec::new(), measured: Vec::new(), done: false };
    match task {
        TrainingTask::Dates => scores
            .iter()
            .map(|name| {
                let score = Score::parse(name).ok_or_else(|| format!("`{name}` is not a score: additive, dot, general, concat or local"))?;
                Ok(model(Learner::Dates(DatesTraining::new(DatesSettings::new(score, seed), HELD_OUT).map_err(|e| e.to_string())?)))
            })
            .collect(),
        TrainingTask::Digits => {
            let digits = digits(trainings).await?;
            scores
                .iter()
                .map(|name| {
                    let attention = Glimpse::parse(name).ok_or_else(|| format!("`{name}` is no attention of a reader: soft or hard"))?;
                    let training = DigitsTraining::new(DigitsSettings::new(attention, seed), digits.clone(), HELD_OUT).map_err(|e| e.to_string())?;
                    Ok(model(Learner::Digits(training)))
                })
                .collect()
        }
        TrainingTask::Memory => scores
            .iter()
            .map(|name| {
                let task = Task::parse(name).ok_or_else(|| format!("`{name}` is no task of a memory network: babi-1 or babi-2"))?;
                Ok(model(Learner::Memory(MemoryTraining::new(MemorySettings::new(task, seed), HELD_OUT).map_err(|e| e.to_string())?)))
            })
            .collect(),
        TrainingTask::Snail => {
            let omniglot = omniglot(trainings).await?;
            let training = SnailTraining::new(SnailSettings::new(seed), omniglot).map_err(|e| e.to_string())?;
            Ok(vec![model(Learner::Snail(Box::new(training)))])
        }
    }
}

/// Starts (or resumes) the run `run`, a batch of each model in turn until each is done or
/// the run is stopped.
pub(super) fn train(trainings: Rc<Trainings>, run: u64, asked: Asked) {
    let Asked { task, scores, seed, steps, until, example, resume } = asked;
    trainings.going.set(Some(run));
    *trainings.example.borrow_mut() = example;
    wasm_bindgen_futures::spawn_local(async move {
        let go_on = resume && trainings.task.get() == task && !trainings.models.borrow().is_empty();
        if !go_on {
            trainings.task.set(task);
            match fresh(&trainings, task, &scores, seed).await {
                Ok(models) => *trainings.models.borrow_mut() = models,
                Err(message) => {
                    trainings.models.borrow_mut().clear();
                    trainings.stop(run);
                    return tell(&trainings, run, (false, now()), Some(message));
                }
            }
        }
        for model in trainings.models.borrow_mut().iter_mut() {
            let preparing = model.training.learning().is_preparing();
            model.done = model.training.learning().steps() >= steps || (!preparing && model.measured.last().is_some_and(|m| m.1 >= until));
        }
        let started = now();
        let mut told = started;
        let mut failed = None;
        while trainings.going.get() == Some(run) {
            let all_done = match batch_each(&trainings, steps, until) {
                Ok(all_done) => all_done,
                Err(message) => {
                    failed = Some(message);
                    true
                }
            };
            if all_done {
                break;
            }
            if now() - told >= TELL_EVERY_MS {
                tell(&trainings, run, (true, started), None);
                told = now();
            }
            // Stop, a new text or a new request is heard between batches.
            give_a_turn().await;
        }
        trainings.stop(run);
        trainings.ended.set(Some((run, now() - started)));
        tell(&trainings, run, (false, started), failed);
        send_files(&trainings, run);
    });
}

/// A batch of each model not yet done (and its measure, every few batches); whether all are.
fn batch_each(trainings: &Trainings, steps: usize, until: f64) -> Result<bool, String> {
    for model in trainings.models.borrow_mut().iter_mut().filter(|m| !m.done) {
        model.losses.push(model.training.learning_mut().step().map_err(|e| e.to_string())?);
        let at = model.training.learning().steps();
        if at.is_multiple_of(MEASURE_EVERY) || at >= steps {
            let (exact, placed) = model.training.learning().measure().map_err(|e| e.to_string())?;
            model.measured.push((at, exact, placed));
            model.done = (exact >= until && !model.training.learning().is_preparing()) || at >= steps;
        }
    }
    Ok(trainings.models.borrow().iter().all(|m| m.done))
}
