//! The worker's side of interventions: changed runs, sweeps and attributions.
//!
//! Each starts from a [`Trace`] of the unchanged run, kept for the last few texts (the
//! text in the box, the patch source, the text before), so switching a head off costs
//! the layers after it, and a sweep never runs the unchanged text again. A sweep runs a
//! layer at a time and gives the worker's message loop a turn between layers: the page's
//! runs of new texts are answered while it goes on, and a Stop (or a new sweep) ends it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use engine::any_model::Input;
use engine::{Answer, AnyModel, AttentionReport, EffectMethod, EngineError, Intervention, Mask, Model, RunOptions, Sweep, Token, Trace};

use super::{give_a_turn, now, post, State};
use protocol::FromWorker;

/// How many unchanged runs are kept: the text, the patch source, and one more.
const KEPT: usize = 3;

/// The kept unchanged runs, newest last, and the sweep that may go on.
#[derive(Default)]
pub(super) struct Traces {
    kept: RefCell<Vec<(String, usize, Rc<Trace>)>>,
    sweeping: Cell<Option<u64>>,
    /// The last unchanged run of an input with nothing traced (a translation, a sound, a
    /// picture), by [`input_key`]: switching another head off answers it again at once.
    unchanged_whole: RefCell<Option<(u64, AttentionReport)>>,
}

impl Traces {
    /// The unchanged run of `text` (at most `max_tokens`), from the kept ones or run now.
    fn of(&self, model: &Model, text: &str, max_tokens: usize) -> engine::Result<Rc<Trace>> {
        let mut kept = self.kept.borrow_mut();
        if let Some(i) = kept.iter().position(|(t, m, _)| t == text && *m == max_tokens) {
            let entry = kept.remove(i);
            let trace = entry.2.clone();
            kept.push(entry);
            return Ok(trace);
        }
        let trace = Rc::new(model.trace(text, Some(max_tokens))?);
        if kept.len() == KEPT {
            kept.remove(0);
        }
        kept.push((text.to_string(), max_tokens, trace.clone()));
        Ok(trace)
    }

    /// Forgets every run (another model is loading).
    pub(super) fn clear(&self) {
        self.kept.borrow_mut().clear();
        self.unchanged_whole.borrow_mut().take();
        self.sweeping.set(None);
    }

    /// Stops the sweep `run`, if it is the one going on.
    pub(super) fn stop(&self, run: u64) {
        if self.sweeping.get() == Some(run) {
            self.sweeping.set(None);
        }
    }
}

/// The loaded model as a one-sequence model, or why heads cannot be changed in it.
fn one_sequence(model: &AnyModel) -> engine::Result<&Model> {
    match model {
        AnyModel::OneSequence(model) => Ok(model),
        _ => Err(EngineError::Intervention("heads are switched off and swept in language models and encoders; this model is not one".into())),
    }
}

/// The run of `text` with `intervention` made, and the unchanged run it started from.
fn change(traces: &Traces, model: &AnyModel, (text, max_tokens): (&str, usize), intervention: &Intervention) -> engine::Result<(AttentionReport, Rc<Trace>)> {
    let model = one_sequence(model)?;
    model.change_text(text, intervention, |t| traces.of(model, t, max_tokens))
}

/// Answers the changed run (`run`) and the unchanged one (`unchanged`): the trace's own
/// report, so the text runs once unchanged, not once for the change and again for the page.
/// A failure answers both, so the page waits for neither.
pub(super) fn answer_changed(
    traces: &Traces,
    (name, model): (&str, &AnyModel),
    input: (&str, usize),
    intervention: &Intervention,
    (run, unchanged): (u64, u64),
    started: f64,
) {
    match change(traces, model, input, intervention) {
        Ok((report, trace)) => {
            super::answer(run, name, started, Ok(report));
            super::answer(unchanged, name, started, Ok(trace.report.clone()));
        }
        Err(error) => {
            let message = error.to_string();
            for run in [run, unchanged] {
                post(&FromWorker::Failed { model: name.to_string(), run: Some(run), message: message.clone() }, None);
            }
        }
    }
}

/// A run with nothing kept to start from (a translation, a sound, a picture; or any run with
/// no heads changed), answered under `run`; with heads changed and `unchanged` asked for, the
/// unchanged run then answers under that number (the page shows what the model wrote before
/// and after). `on_token` hears the tokens the changed run writes.
pub(super) fn answer_whole(
    (traces, name, model): (&Traces, &str, &AnyModel),
    (input, mask, options): (Input, Mask, RunOptions),
    intervention: Option<&Intervention>,
    (run, unchanged): (u64, Option<u64>),
    on_token: impl FnMut(usize, &Token, usize),
) {
    let started = now();
    super::answer(run, name, started, model.run_input(input, mask, options, intervention, on_token));
    if let (Some(unchanged), Some(_)) = (unchanged, intervention.filter(|i| !i.is_empty())) {
        let started = now();
        let options = RunOptions { scores_of_layer: None, ..options };
        let key = input_key(&input, mask, &options);
        let kept = traces.unchanged_whole.borrow().as_ref().filter(|(k, _)| *k == key).map(|(_, report)| report.clone());
        let report = match kept {
            Some(report) => Ok(report),
            None => model.run_input(input, mask, options, None, |_, _, _| {}),
        };
        if let Ok(report) = &report {
            *traces.unchanged_whole.borrow_mut() = Some((key, report.clone()));
        }
        super::answer(unchanged, name, started, report);
    }
}

/// One number for an input and what its run keeps, to tell the next run's from it without
/// keeping a sound or a picture twice over.
fn input_key(input: &Input, mask: Mask, options: &RunOptions) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match input {
        Input::Text(text) => (0u8, text).hash(&mut hasher),
        Input::Sound(samples) => (1u8, samples.iter().map(|s| s.to_bits()).collect::<Vec<u32>>()).hash(&mut hasher),
        Input::Picture(picture, framing) => (2u8, picture.width, picture.height, &picture.pixels, format!("{framing:?}")).hash(&mut hasher),
        Input::Episode { examples, query } => {
            let bits = |d: &Vec<f32>| d.iter().map(|p| p.to_bits()).collect::<Vec<u32>>();
            (3u8, examples.iter().map(|(d, label)| (bits(d), *label)).collect::<Vec<_>>(), bits(query)).hash(&mut hasher)
        }
    }
    (mask.name(), options.max_tokens, options.value_norms).hash(&mut hasher);
    hasher.finish()
}

/// Finds every head's effect on the answer in the run of `text` (see
/// [`protocol::ToWorker::Effects`]), posting progress after each layer.
pub(super) fn effects(
    state: Rc<RefCell<State>>,
    run: u64,
    model: String,
    (text, max_tokens): (String, usize),
    method: EffectMethod,
    (answer, versus): (Option<String>, Option<String>),
) {
    state.borrow().traces.sweeping.set(Some(run));
    wasm_bindgen_futures::spawn_local(async move {
        let started = now();
        let fail = |error: EngineError| {
            let message = match error {
                EngineError::Cancelled => "stopped".to_string(),
                other => other.to_string(),
            };
            post(&FromWorker::Failed { model: model.clone(), run: Some(run), message }, None);
        };
        match sweep(&state, run, &model, (&text, max_tokens), &method, (answer.as_deref(), versus.as_deref())).await {
            Ok(effects) => post(&FromWorker::Effects { run, effects, millis: now() - started }, None),
            Err(error) => fail(error),
        }
    });
}

/// The work of [`effects`]: `Err(Cancelled)` when stopped or overtaken.
async fn sweep(
    state: &Rc<RefCell<State>>,
    run: u64,
    name: &str,
    (text, max_tokens): (&str, usize),
    method: &EffectMethod,
    (answer, versus): (Option<&str>, Option<&str>),
) -> engine::Result<engine::HeadEffects> {
    // Borrowed afresh after every turn: while the sweep waits, another model may load.
    let with_model = |work: &mut dyn FnMut(&Model, &Traces) -> engine::Result<()>| -> engine::Result<()> {
        let state = state.borrow();
        if state.traces.sweeping.get() != Some(run) {
            return Err(EngineError::Cancelled);
        }
        let (_, loaded) =
            state.loaded.as_ref().filter(|(n, _)| n == name).ok_or_else(|| EngineError::Intervention(format!("the model {name} is no longer loaded")))?;
        work(one_sequence(loaded)?, &state.traces)
    };
    let mut setup = None;
    with_model(&mut |model, traces| {
        let trace = traces.of(model, text, max_tokens)?;
        let source = match method {
            EffectMethod::Patching { source } => Some(traces.of(model, source, max_tokens)?),
            _ => None,
        };
        let answer = model.answer_in(&trace, answer, versus)?;
        setup = Some((trace, source, answer));
        Ok(())
    })?;
    let (trace, source, answer): (Rc<Trace>, Option<Rc<Trace>>, Answer) = setup.ok_or(EngineError::Cancelled)?;
    let mut found = None;
    let how = match (method, source.as_deref()) {
        (EffectMethod::DirectAttribution, _) => {
            with_model(&mut |model, _| {
                found = Some(model.attribute(&trace, &answer)?);
                Ok(())
            })?;
            return found.ok_or(EngineError::Cancelled);
        }
        (EffectMethod::Ablation { ablation }, _) => Sweep::Ablation(*ablation),
        (EffectMethod::Patching { .. }, Some(source)) => Sweep::Patching(source),
        (EffectMethod::Patching { .. }, None) => return Err(EngineError::Intervention("patching needs a second text".into())),
    };
    let (layers, heads) = (trace.report.model.layers, trace.report.model.heads);
    let mut per_head = Vec::with_capacity(layers * heads);
    for layer in 0..layers {
        give_a_turn().await;
        with_model(&mut |model, _| {
            per_head.extend(model.sweep_layer(&trace, &how, &answer, layer)?);
            Ok(())
        })?;
        post(&FromWorker::EffectsProgress { run, done: per_head.len(), total: layers * heads }, None);
    }
    with_model(&mut |model, _| {
        found = Some(model.swept(&trace, &how, &answer, std::mem::take(&mut per_head))?);
        Ok(())
    })?;
    state.borrow().traces.stop(run);
    found.ok_or(EngineError::Cancelled)
}
