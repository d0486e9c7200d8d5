//! The worker's side of long texts: a text of more tokens than the page keeps whole runs
//! pooled (every map kept as block means, each layer's queries and keys kept to compute any
//! head's whole map when asked), a layer at a time. Between layers the worker's message
//! loop takes its turn, so a head's map, a probe or a run of another text is answered while
//! a long text computes; a run of another text ends the long one.

use std::cell::RefCell;
use std::rc::Rc;

use engine::{AnyModel, Mask, Model, PooledRun};

use super::{answer, give_a_turn, now, post, State};
use protocol::limits::{POOLED_ACROSS, WHOLE_MAX_TOKENS};
use protocol::FromWorker;

/// The long run going on, and the last one finished.
#[derive(Default)]
pub(super) struct LongRuns {
    /// The number and text of the run going on.
    going: RefCell<Option<(u64, String)>>,
    /// The last finished run, by number: what computes its heads' whole maps.
    finished: RefCell<Option<(u64, Rc<PooledRun>)>>,
}

impl LongRuns {
    /// A run of `text` is asked for: the long run of another text ends (its layers so far
    /// are dropped at its next turn).
    pub(super) fn asked(&self, text: &str) {
        let mut going = self.going.borrow_mut();
        if going.as_ref().is_some_and(|(_, t)| t != text) {
            *going = None;
        }
    }

    /// Forgets every run (another model is loading).
    pub(super) fn clear(&self) {
        self.going.take();
        self.finished.take();
    }

    fn is_going(&self, run: u64) -> bool {
        self.going.borrow().as_ref().is_some_and(|(r, _)| *r == run)
    }

    /// Head `head` of `layer`'s whole map in the finished run `of`.
    pub(super) fn head_map(&self, of: u64, layer: usize, head: usize) -> Result<(usize, Vec<f32>), String> {
        let finished = self.finished.borrow();
        let Some((_, run)) = finished.as_ref().filter(|(r, _)| *r == of) else {
            return Err("that long text's run is no longer kept: a newer long text has started since".into());
        };
        let tokens = run.report.tokens().len();
        run.head_map(layer, head).map(|values| (tokens, values)).map_err(|e| e.to_string())
    }
}

/// More than any tokenizer here adds around a text.
const FRAMING_TOKENS: usize = 4;

/// How many tokens `text` gives (at most `max_tokens`, as a run cuts it), when it gives
/// more than the page keeps whole: then it runs long.
pub(super) fn long_tokens(model: &Model, text: &str, max_tokens: usize) -> Option<usize> {
    // A token holds at least one byte of the text, plus a few framing tokens (BOS, CLS, SEP):
    // a short text is not tokenized twice on every keystroke to find it is not long.
    if text.len() + FRAMING_TOKENS <= WHOLE_MAX_TOKENS {
        return None;
    }
    let tokens = model.tokenize(text).ok()?.len().min(max_tokens).min(model.info().max_positions);
    (tokens > WHOLE_MAX_TOKENS).then_some(tokens)
}

/// Runs `text` pooled, a layer at a time, telling each layer, and answers its report.
pub(super) fn run(state: Rc<RefCell<State>>, run: u64, name: String, (text, tokens): (String, usize), mask: Mask, max_tokens: usize) {
    let started = now();
    let block = tokens.div_ceil(POOLED_ACROSS).max(1);
    let begun = with_model(&state, &name, |model| model.start_pooled(&text, mask, block, Some(max_tokens)));
    let mut long = match begun {
        Ok(long) => long,
        Err(message) => return post(&FromWorker::Failed { model: name, run: Some(run), message }, None),
    };
    // The run before goes: two long runs' queries and keys would not fit beside each other at
    // 4,096 tokens (its report stays in view, and its heads' whole maps are no longer asked of it).
    state.borrow().long.finished.take();
    *state.borrow().long.going.borrow_mut() = Some((run, text));
    wasm_bindgen_futures::spawn_local(async move {
        loop {
            let total = state.borrow().loaded.as_ref().map_or(0, |(_, m)| m.info().layers);
            let done = long.layers_done();
            let attending = FromWorker::Attending {
                run,
                done,
                total,
                tokens: long.tokens(),
                cut: long.truncated().cloned(),
                blocks: long.blocks(),
                layer_maps: Vec::new(),
            };
            post(&attending, done.checked_sub(1).and_then(|layer| long.pooled_layer(layer)));
            give_a_turn().await;
            if !state.borrow().long.is_going(run) {
                return; // a newer text, or another model: nobody waits for this one
            }
            let step = with_model(&state, &name, |model| model.go_on(&mut long, 1));
            match step {
                Ok(None) => continue,
                Ok(Some(finished)) => {
                    let runs = &state.borrow().long;
                    runs.going.take();
                    let report = finished.report.clone();
                    *runs.finished.borrow_mut() = Some((run, Rc::new(finished)));
                    return answer(run, &name, started, Ok(report));
                }
                Err(message) => {
                    state.borrow().long.going.take();
                    return post(&FromWorker::Failed { model: name, run: Some(run), message }, None);
                }
            }
        }
    });
}

/// The induction probe of `length` random tokens a copy, pooled (see [`crate::probe_runs_pooled`]):
/// each seed's run goes a layer at a time, telling each layer, with the message loop's turn
/// between layers as a long text's run has; the seeds' mean scores and the first run's report.
pub(super) fn probe(state: Rc<RefCell<State>>, run: u64, name: String, length: usize, seeds: Vec<u64>) {
    use engine::analysis::probe::{mean_scores, score_pooled_probe};
    let started = now();
    wasm_bindgen_futures::spawn_local(async move {
        let layers = state.borrow().loaded.as_ref().map_or(0, |(_, m)| m.info().layers);
        let total = seeds.len() * layers;
        let (mut runs, mut first, mut offset) = (Vec::with_capacity(seeds.len()), None, 0);
        for (i, &seed) in seeds.iter().enumerate() {
            let begun = with_model(&state, &name, |model| {
                let (before, after) = model.frame();
                offset = before.len();
                model.start_probe(length, seed, (before.len() + 2 * length + after.len()).div_ceil(POOLED_ACROSS))
            });
            let mut long = match begun {
                Ok(long) => long,
                Err(message) => return post(&FromWorker::Failed { model: name, run: Some(run), message }, None),
            };
            let finished = loop {
                post(&FromWorker::ProbeProgress { run, done: i * layers + long.layers_done(), total }, None);
                give_a_turn().await;
                match with_model(&state, &name, |model| model.go_on(&mut long, 1)) {
                    Ok(None) => continue,
                    Ok(Some(finished)) => break finished,
                    Err(message) => return post(&FromWorker::Failed { model: name, run: Some(run), message }, None),
                }
            };
            runs.push(score_pooled_probe(&finished.report, finished.head_sums(), length));
            // Only the first run's report is shown: the others' maps go as soon as scored.
            first.get_or_insert(finished.report);
        }
        let Some(mut report) = first else {
            return post(&FromWorker::Failed { model: name, run: Some(run), message: "the probe has no seeds".into() }, None);
        };
        let millis = now() - started;
        let (shapes, data) = report.take_maps();
        post(&FromWorker::ProbeResult { run, scores: mean_scores(&runs), report, shapes, offset, length, millis }, Some(&data));
    });
}

/// `work` on the loaded model named `name`, a language model or an encoder.
fn with_model<T>(state: &Rc<RefCell<State>>, name: &str, work: impl FnOnce(&Model) -> engine::Result<T>) -> Result<T, String> {
    let state = state.borrow();
    match state.loaded.as_ref().filter(|(n, _)| n == name) {
        Some((_, AnyModel::OneSequence(model))) => work(model).map_err(|e| e.to_string()),
        Some(_) => Err("long texts are for language models and encoders".into()),
        None => Err(format!("the model {name} is no longer loaded")),
    }
}
