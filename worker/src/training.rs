//! Training in the worker: dates models side by side (a batch of each in turn), telling the
//! page their progress a few times a second and yielding to the message loop between
//! batches, so Stop is heard at once and the models wait, whole, to be resumed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use engine::rnn::seq2seq::Score;
use engine::train::dates_training::{DatesSettings, DatesTraining};
use protocol::{encode_with_bytes, FromWorker, TrainingProgress};

use super::{give_a_turn, now, post, scope};

/// How many held-out dates the page's measure decodes (the command line decodes 1,000): the
/// share exact within about ±0.9% at 99%, in a fraction of a batch's time.
const HELD_OUT: usize = 500;
/// Batches between measures.
const MEASURE_EVERY: usize = 25;
/// How often the page hears of the training (and redraws the example's alignment).
const TELL_EVERY_MS: f64 = 250.0;

/// One model of a run, and what it has done.
struct Model {
    training: DatesTraining,
    losses: Vec<f64>,
    measured: Vec<(usize, f64, f64)>,
    done: bool,
}

/// The training going on, and the models of the run last started.
#[derive(Default)]
pub(super) struct Trainings {
    going: Cell<Option<u64>>,
    models: RefCell<Vec<Model>>,
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
    pub scores: Vec<String>,
    pub seed: u64,
    pub steps: usize,
    pub until: f64,
    pub example: String,
    pub resume: bool,
}

fn tell(trainings: &Trainings, run: u64, example: &str, (going, started): (bool, f64), failed: Option<String>) {
    let models = trainings.models.borrow_mut().iter_mut().map(|m| progress(m, example)).collect();
    post(&FromWorker::Training { run, models, going, millis: now() - started, failed }, None);
}

fn progress(model: &mut Model, example: &str) -> TrainingProgress {
    let loss = (!model.losses.is_empty()).then(|| model.losses.iter().sum::<f64>() / model.losses.len() as f64);
    model.losses.clear();
    TrainingProgress {
        score: model.training.settings().score.name().to_string(),
        steps: model.training.steps,
        loss,
        measured: model.measured.clone(),
        example: model.training.trained.align(example).ok(),
    }
}

/// Each model's files, as its training left them.
fn send_files(trainings: &Trainings, run: u64) {
    for (index, model) in trainings.models.borrow().iter().enumerate() {
        let score = model.training.settings().score.name().to_string();
        match model.training.files() {
            Ok(files) => {
                let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap_or_default();
                let message =
                    FromWorker::TrainedModel { run, index, score, config: text(files.config), vocabulary: text(files.vocabulary), weights: Vec::new() };
                let (value, transfer) = encode_with_bytes(&message, &files.weights);
                let _ = scope().post_message_with_transfer(&value, &transfer);
            }
            Err(e) => post(&FromWorker::Training { run, models: Vec::new(), going: false, millis: 0.0, failed: Some(e.to_string()) }, None),
        }
    }
}

/// Starts (or resumes) the run `run`, a batch of each model in turn until each is done or
/// the run is stopped.
pub(super) fn train(trainings: Rc<Trainings>, run: u64, asked: Asked) {
    let Asked { scores, seed, steps, until, example, resume } = asked;
    let go_on = resume && !trainings.models.borrow().is_empty();
    if !go_on {
        let made: Result<Vec<Model>, String> = scores
            .iter()
            .map(|name| {
                let score = Score::parse(name).ok_or_else(|| format!("`{name}` is not a score: additive, dot, general, concat or local"))?;
                let training = DatesTraining::new(DatesSettings::new(score, seed), HELD_OUT).map_err(|e| e.to_string())?;
                Ok(Model { training, losses: Vec::new(), measured: Vec::new(), done: false })
            })
            .collect();
        match made {
            Ok(models) => *trainings.models.borrow_mut() = models,
            Err(message) => return tell(&trainings, run, &example, (false, now()), Some(message)),
        }
    }
    for model in trainings.models.borrow_mut().iter_mut() {
        model.done = model.training.steps >= steps || model.measured.last().is_some_and(|m| m.1 >= until);
    }
    trainings.going.set(Some(run));
    wasm_bindgen_futures::spawn_local(async move {
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
                tell(&trainings, run, &example, (true, started), None);
                told = now();
            }
            // Stop, a new text or a new request is heard between batches.
            give_a_turn().await;
        }
        trainings.stop(run);
        tell(&trainings, run, &example, (false, started), failed);
        send_files(&trainings, run);
    });
}

/// A batch of each model not yet done (and its measure, every few batches); whether all are.
fn batch_each(trainings: &Trainings, steps: usize, until: f64) -> Result<bool, String> {
    for model in trainings.models.borrow_mut().iter_mut().filter(|m| !m.done) {
        model.losses.push(model.training.step().map_err(|e| e.to_string())?);
        let at = model.training.steps;
        if at.is_multiple_of(MEASURE_EVERY) || at >= steps {
            let measured = model.training.evaluate().map_err(|e| e.to_string())?;
            model.measured.push((at, measured.exact, measured.digits_in_field));
            model.done = measured.exact >= until || at >= steps;
        }
    }
    Ok(trainings.models.borrow().iter().all(|m| m.done))
}
