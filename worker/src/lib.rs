//! The engine behind a Web Worker: the page never runs the model itself, so a
//! forward pass of a second never freezes typing.
//!
//! The worker fetches a model's files (reporting progress), loads them with the
//! engine's byte loaders, and answers each run with a report.

use std::cell::RefCell;
use std::io::BufReader;
use std::rc::Rc;

use engine::analysis::probe::ProbeSpec;
use engine::{AnyModel, RunOptions, WeightChoice};
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, ReadableStreamDefaultReader, Response};

use crate::js_bytes::JsBytes;
use crate::js_file::{JsFile, ReadProgress};
use engine::load::files::{classify, FileSource, ModelFiles, ReadSeek};
use engine::EngineError;
use protocol::user_files::NO_TOKENIZER;
use protocol::{bytes_of, decode, encode, files_of, FromWorker, LoadStage, ToWorker, WholeRun};

mod growing;
mod interventions;
pub mod js_bytes;
pub mod js_file;
mod long;
mod training;

/// The worker's one piece of state: the loaded model, and which model the page wants.
#[derive(Default)]
struct State {
    loaded: Option<(String, AnyModel)>,
    wanted: Option<String>,
    /// The request the loaded model came from, when asking it again may answer at once:
    /// a built-in model on the same weight path (a person's files are read again: they
    /// may be other files under the same name).
    reusable: Option<(String, WeightChoice)>,
    /// The runs changed runs and sweeps start from (see [`interventions`]).
    traces: interventions::Traces,
    /// The long text's run going on, and the last one finished (see [`long`]).
    long: long::LongRuns,
    /// The dates models training in the page (see [`training`]).
    trainings: Rc<training::Trainings>,
}

pub(crate) fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub(crate) fn post(message: &FromWorker, attention: Option<&[f32]>) {
    let (value, transfer) = encode(message, attention);
    // A worker can always post to its page; if it could not, there is no one to tell.
    let _ = scope().post_message_with_transfer(&value, &transfer);
}

/// The thread pool's start, for the loader of a worker with threads (wasm-bindgen-rayon's).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Starts a worker with threads, once its loader has started the thread pool.
#[cfg(feature = "threads")]
#[wasm_bindgen(js_name = startWorker)]
pub fn start_worker() {
    start();
}

/// Starts the worker: installs the message handler and says it is ready.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        // A panic poisons the wasm instance: tell the page, which shows it.
        post(&FromWorker::Failed { model: String::new(), run: None, message: format!("the engine crashed: {info}") }, None);
    }));
    let state = Rc::new(RefCell::new(State::default()));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| match decode::<ToWorker>(&event.data()) {
        Ok((ToWorker::Open { model, names, weights }, _)) => open(state.clone(), model, names, weights, files_of(&event.data())),
        Ok((ToWorker::Transcribe { run, model, asked }, samples)) => transcribe(&state.borrow(), run, model, samples.unwrap_or_default(), &asked),
        Ok((ToWorker::Look { run, model, width, height, framing, asked }, _)) => {
            look(&state.borrow(), run, model, (width, height, framing), bytes_of(&event.data()), &asked)
        }
        Ok((ToWorker::Effects { run, model, text, max_tokens, method, answer, versus }, _)) => {
            interventions::effects(state.clone(), run, model, (text, max_tokens), method, (answer, versus))
        }
        Ok((ToWorker::StopEffects { run }, _)) => state.borrow().traces.stop(run),
        Ok((ToWorker::StopTraining { run }, _)) => state.borrow().trainings.stop(run),
        Ok((ToWorker::TrainingExample { task, example }, _)) => training::show_example(&state.borrow().trainings, task, example),
        Ok((ToWorker::Train { run, task, scores, seed, steps, until, example, resume }, _)) => {
            let trainings = state.borrow().trainings.clone();
            training::train(trainings, run, training::Asked { task, scores, seed, steps, until, example, resume })
        }
        Ok((request, _)) => handle(state.clone(), request),
        Err(message) => post(&FromWorker::Failed { model: String::new(), run: None, message }, None),
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget(); // lives as long as the worker
    post(&FromWorker::Ready { threads: threads() }, None);
}

/// Loads `model` with `load`, unless the same reusable request (`reusable`: the model's
/// weight path, for a built-in model) loaded it last. The model loaded before goes first, so
/// two never sit in memory at once; a newer request for another model wins over this one.
fn load_as<F>(state: Rc<RefCell<State>>, model: String, reusable: Option<WeightChoice>, load: impl FnOnce() -> F + 'static)
where
    F: std::future::Future<Output = Result<AnyModel, String>>,
{
    state.borrow_mut().wanted = Some(model.clone());
    let request = reusable.map(|weights| (model.clone(), weights));
    let already = {
        let state = state.borrow();
        let same = request.is_some() && state.reusable == request;
        state.loaded.as_ref().filter(|(name, _)| same && *name == model).map(|(_, m)| m.info())
    };
    if let Some(info) = already {
        post(&FromWorker::Loaded { model, info, millis: 0.0, memory_bytes: memory_bytes() }, None);
        return;
    }
    // The model loaded before goes first: two at once may not fit.
    state.borrow_mut().loaded = None;
    state.borrow().traces.clear();
    state.borrow().long.clear();
    state.borrow_mut().reusable = None;
    wasm_bindgen_futures::spawn_local(async move {
        let started = now();
        match load().await {
            Ok(loaded) => {
                if state.borrow().wanted.as_deref() != Some(model.as_str()) {
                    return;
                }
                let info = loaded.info();
                state.borrow_mut().loaded = Some((model.clone(), loaded));
                state.borrow_mut().reusable = request;
                post(&FromWorker::Loaded { model, info, millis: now() - started, memory_bytes: memory_bytes() }, None);
            }
            Err(message) => post(&FromWorker::Failed { model, run: None, message }, None),
        }
    });
}

/// A model from the person's own files, read from them a piece at a time.
fn open(state: Rc<RefCell<State>>, model: String, names: Vec<String>, weights: WeightChoice, files: Vec<web_sys::File>) {
    let name = model.clone();
    load_as(state, model, None, move || async move {
        if files.len() != names.len() {
            return Err("the files did not arrive in the engine's worker".to_string());
        }
        let which = classify(&names)?;
        let total = files.iter().map(|f| f.size() as u64).sum();
        let told = name.clone();
        let progress = ReadProgress::new(total, move |loaded, total| {
            post(&FromWorker::Progress { model: told.clone(), stage: LoadStage::Reading, loaded, total: Some(total) }, None);
        });
        let mut source = PersonsFiles { names, files, progress };
        // A text model's files without its tokenizer are refused before its weights are read.
        if let ModelFiles::HuggingFace { config, tokenizer: None, .. } = &which {
            if engine::load::files::kind_of(&source.read(*config).map_err(|e| e.to_string())?) == engine::ModelKind::Text {
                return Err(NO_TOKENIZER.to_string());
            }
        }
        let loaded = engine::load::files::open(&name, &which, &mut source, weights).map_err(|e| e.to_string())?;
        // The page reads a text model's text through its tokenizer.
        match &loaded {
            AnyModel::OneSequence(model) if !model.reads_text() => Err(NO_TOKENIZER.to_string()),
            _ => Ok(loaded),
        }
    });
}

/// The files a person picked or dropped, read from JavaScript's `File`s a piece at a time,
/// every read counted for the progress bar.
struct PersonsFiles {
    names: Vec<String>,
    files: Vec<web_sys::File>,
    progress: Rc<ReadProgress>,
}

impl PersonsFiles {
    fn file(&self, index: usize) -> engine::Result<JsFile> {
        JsFile::new(self.files[index].clone()).map(|f| f.counted(&self.progress)).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", self.names[index])))
    }
}

impl FileSource for PersonsFiles {
    fn name(&self, index: usize) -> String {
        self.names[index].clone()
    }

    fn read(&mut self, index: usize) -> engine::Result<Vec<u8>> {
        self.file(index)?.read_all().map_err(|e| EngineError::BadModelFile(format!("{}: {e}", self.names[index])))
    }

    fn reader(&mut self, index: usize) -> engine::Result<Box<dyn ReadSeek>> {
        // Buffered: a GGUF's metadata is read in many small pieces, each a call into JavaScript.
        Ok(Box::new(BufReader::with_capacity(1 << 16, self.file(index)?)))
    }
}

/// The catalogue's files, fetched whole into JavaScript's memory and read from there (a GGUF or
/// a safetensors file a tensor at a time).
struct Fetched {
    names: Vec<String>,
    contents: Vec<Uint8Array>,
}

impl FileSource for Fetched {
    fn name(&self, index: usize) -> String {
        self.names[index].clone()
    }

    fn read(&mut self, index: usize) -> engine::Result<Vec<u8>> {
        Ok(self.contents[index].to_vec())
    }

    fn reader(&mut self, index: usize) -> engine::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(BufReader::with_capacity(1 << 16, JsBytes::new(self.contents[index].clone()))))
    }
}

// The request handlers stay functions of their own (not inlined into the message closure or
// one another): V8 tiers WebAssembly up a function at a time, and with the vision handler
// inlined beside the translator's, the translator's warm runs took 29-31 ms against 22-25 ms
// (make bench, bisected to the commit that added the vision page).
#[inline(never)]
fn handle(state: Rc<RefCell<State>>, request: ToWorker) {
    match request {
        ToWorker::Load { model, files, weights } => {
            let name = model.clone();
            load_as(state, model, Some(weights), move || async move { load(&name, &files, weights).await });
        }
        ToWorker::Effects { run, .. } | ToWorker::StopEffects { run } | ToWorker::Train { run, .. } | ToWorker::StopTraining { run } => {
            post(&FromWorker::Failed { model: String::new(), run: Some(run), message: "a sweep the worker did not start".into() }, None)
        }
        ToWorker::Open { model, .. } => post(&FromWorker::Failed { model, run: None, message: "the files did not arrive".into() }, None),
        ToWorker::TrainingExample { .. } => {} // heard before it gets here
        ToWorker::Probe { run, model, length, seeds } => {
            let state_handle = state.clone();
            let state = state.borrow();
            let Some((name, loaded)) = state.loaded.as_ref().filter(|(name, _)| *name == model) else {
                let message = format!("the model {model} is not loaded yet");
                return post(&FromWorker::Failed { model, run: Some(run), message }, None);
            };
            let AnyModel::OneSequence(loaded) = loaded else {
                let message = "the induction probe is for language models, not translators".to_string();
                return post(&FromWorker::Failed { model, run: Some(run), message }, None);
            };
            let (before, after) = loaded.frame();
            let tokens = before.len() + 2 * length + after.len();
            if tokens > loaded.info().max_positions {
                let message =
                    format!("a probe of {length} random tokens twice is {tokens} tokens, more than the model's {} positions", loaded.info().max_positions);
                return post(&FromWorker::Failed { model, run: Some(run), message }, None);
            }
            if protocol::limits::probe_runs_pooled(length) {
                drop(state);
                return long::probe(state_handle, run, model, length, seeds);
            }
            let started = now();
            let spec = ProbeSpec { length, seeds };
            let progress = |done, total| post(&FromWorker::ProbeProgress { run, done, total }, None);
            match loaded.induction_probe(&spec, progress) {
                Ok((scores, mut report)) => {
                    let millis = now() - started;
                    let (shapes, data) = report.take_maps();
                    let offset = before.len();
                    post(&FromWorker::ProbeResult { run, scores, report, shapes, offset, length, millis }, Some(&data));
                }
                Err(e) => post(&FromWorker::Failed { model: name.clone(), run: Some(run), message: e.to_string() }, None),
            }
        }
        ToWorker::Transcribe { run, model, asked } => transcribe(&state.borrow(), run, model, Vec::new(), &asked),
        ToWorker::ReadEpisode { run, model, drawings } => read_episode(&state.borrow(), run, model, &drawings),
        ToWorker::Positions { model } => {
            let state = state.borrow();
            let read = match state.loaded.as_ref().filter(|(name, _)| *name == model) {
                Some((_, loaded)) => loaded.positions(engine::positions::SHOWN_ROWS).map_err(|e| e.to_string()),
                None => Err(format!("the model {model} is not loaded")),
            };
            let (positions, failed) = match read {
                Ok(positions) => (positions, None),
                Err(message) => (engine::report::positions::Positions { model, sets: Vec::new() }, Some(message)),
            };
            post(&FromWorker::Positions { positions, failed }, None);
        }
        ToWorker::Look { run, model, width, height, framing, asked } => look(&state.borrow(), run, model, (width, height, framing), Vec::new(), &asked),
        ToWorker::WholeMap { run, model, of, layer, head } => {
            let state = state.borrow();
            let started = now();
            // A transcription's encoder, or the last long text's self-attention: square maps.
            let whole = match state.loaded.as_ref().filter(|(name, _)| *name == model) {
                Some((_, AnyModel::Transcriber(transcriber))) => {
                    transcriber.encoder_map(layer, head).map_err(|e| e.to_string()).map(|v| ((v.len() as f64).sqrt() as usize, v))
                }
                Some(_) => state.long.head_map(of, layer, head),
                None => Err(format!("the model {model} is not loaded")),
            };
            match whole {
                Ok((side, values)) => {
                    let millis = now() - started;
                    post(&FromWorker::WholeMap { run, layer, head, queries: side, keys: side, millis, values: Vec::new() }, Some(&values));
                }
                Err(message) => post(&FromWorker::Failed { model, run: Some(run), message }, None),
            }
        }
        ToWorker::Run { run, model, text, mask, max_tokens, scores_of_layer, value_norms, reuse_prefix, intervention, unchanged } => {
            // A run of another text ends a long text's run going on.
            state.borrow().long.asked(&text);
            let changed = intervention.as_ref().is_some_and(|i| !i.is_empty());
            let long = match state.borrow().loaded.as_ref().filter(|(name, _)| *name == model) {
                Some((_, AnyModel::OneSequence(loaded))) if !changed => long::long_tokens(loaded, &text, max_tokens),
                _ => None,
            };
            if let Some(tokens) = long {
                return long::run(state, run, model, (text, tokens), mask, max_tokens);
            }
            // Heads are switched off in texts the page keeps whole (their runs are traced).
            let max_tokens = if changed { max_tokens.min(protocol::limits::WHOLE_MAX_TOKENS) } else { max_tokens };
            let state = state.borrow();
            let Some((name, loaded)) = state.loaded.as_ref().filter(|(name, _)| *name == model) else {
                let message = format!("the model {model} is not loaded yet");
                for run in std::iter::once(run).chain(unchanged) {
                    post(&FromWorker::Failed { model: model.clone(), run: Some(run), message: message.clone() }, None);
                }
                return;
            };
            let intervention = intervention.filter(|i| !i.is_empty());
            // A text model's heads change from its kept run (so the text runs once unchanged).
            if let (AnyModel::OneSequence(_), Some(intervention), Some(unchanged)) = (loaded, &intervention, unchanged) {
                return interventions::answer_changed(&state.traces, (name, loaded), (&text, max_tokens), intervention, (run, unchanged), now());
            }
            let options = RunOptions { max_tokens: Some(max_tokens), scores_of_layer, value_norms, reuse_prefix };
            let input = (engine::any_model::Input::Text(&text), mask, options);
            // A translator tells its target tokens as they come, once its run is slow enough to show.
            interventions::answer_whole((&state.traces, name, loaded), input, intervention.as_ref(), (run, unchanged), growing::telling(run));
        }
    }
}

/// Transcribes `samples` with the loaded speech model, telling each token as it is written.
fn transcribe(state: &State, run: u64, model: String, samples: Vec<f32>, asked: &WholeRun) {
    let Some((name, loaded @ AnyModel::Transcriber(_))) = state.loaded.as_ref().filter(|(name, _)| *name == model) else {
        let message = format!("the speech model {model} is not loaded yet");
        return post(&FromWorker::Failed { model, run: Some(run), message }, None);
    };
    let input = (engine::any_model::Input::Sound(&samples), engine::Mask::Causal, whole_options(asked));
    interventions::answer_whole((&state.traces, name, loaded), input, asked.intervention.as_ref(), (run, asked.unchanged), growing::telling(run));
}

/// What a sound's or a picture's run asks, as run options.
fn whole_options(asked: &WholeRun) -> RunOptions {
    RunOptions { value_norms: asked.value_norms, ..RunOptions::default() }
}

/// Posts a run's answer: its report (the maps transferred beside it), or why it failed.
#[inline(never)]
fn answer(run: u64, model: &str, started: f64, result: engine::Result<engine::AttentionReport>) {
    match result {
        Ok(mut report) => {
            let millis = now() - started;
            let (shapes, data) = report.take_maps();
            post(&FromWorker::Report { run, report, shapes, millis, memory_bytes: memory_bytes() }, Some(&data));
        }
        Err(e) => post(&FromWorker::Failed { model: model.to_string(), run: Some(run), message: e.to_string() }, None),
    }
}

/// Looks at a picture (8-bit RGBA, `width` × `height`) with the loaded vision model.
#[inline(never)]
fn look(state: &State, run: u64, model: String, (width, height, framing): (usize, usize, engine::Framing), rgba: Vec<u8>, asked: &WholeRun) {
    let Some((name, loaded @ AnyModel::Vision(_))) = state.loaded.as_ref().filter(|(name, _)| *name == model) else {
        let message = format!("the vision model {model} is not loaded yet");
        return post(&FromWorker::Failed { model, run: Some(run), message }, None);
    };
    match engine::image::Rgb::from_rgba(width, height, &rgba) {
        Ok(picture) => {
            let input = (engine::any_model::Input::Picture(&picture, framing), engine::Mask::None, whole_options(asked));
            interventions::answer_whole((&state.traces, name, loaded), input, asked.intervention.as_ref(), (run, asked.unchanged), |_, _, _| {});
        }
        Err(e) => answer(run, name, now(), Err(e.into())),
    }
}

/// Reads an episode (the labelled drawings class by class, the query last) with the loaded
/// few-shot learner.
fn read_episode(state: &State, run: u64, model: String, drawings: &[Vec<u8>]) {
    let Some((name, loaded @ AnyModel::FewShot(snail))) = state.loaded.as_ref().filter(|(name, _)| *name == model) else {
        let message = format!("the few-shot learner {model} is not loaded yet");
        return post(&FromWorker::Failed { model, run: Some(run), message }, None);
    };
    let pixels = |d: &Vec<u8>| d.iter().map(|&p| f32::from(p.min(1))).collect::<Vec<f32>>();
    let started = now();
    let Some((query, examples)) = drawings.split_last() else {
        return answer(run, name, started, Err(engine::EngineError::BadEpisode("the episode is empty".into())));
    };
    let shots = snail.config.shots.max(1);
    let examples: Vec<(Vec<f32>, usize)> = examples.iter().enumerate().map(|(i, d)| (pixels(d), i / shots)).collect();
    let input = engine::any_model::Input::Episode { examples: &examples, query: &pixels(query) };
    answer(run, name, started, loaded.run_input(input, engine::Mask::Causal, engine::RunOptions::default(), None, |_, _, _| {}));
}

/// Lets the worker's message loop take the messages waiting (a Stop, a new text's run):
/// a sweep or a long text's run awaits this between layers.
pub(crate) async fn give_a_turn() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        // A worker's timer cannot fail to be set; if it did, the sweep would wait forever,
        // so resolve at once instead.
        if scope().set_timeout_with_callback(&resolve).is_err() {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// How many threads the engine computes on.
fn threads() -> usize {
    #[cfg(feature = "threads")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "threads"))]
    1
}

/// The size of this worker's wasm memory, in bytes.
fn memory_bytes() -> u64 {
    wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as u64
}

pub(crate) fn now() -> f64 {
    scope().performance().map_or(0.0, |p| p.now())
}

/// Fetches every file (into JavaScript's memory), then hands them to the engine, which tells
/// the model's kind and format from their names as it does for a person's files.
async fn load(model: &str, files: &[String], weights: WeightChoice) -> Result<AnyModel, String> {
    let mut contents = Vec::with_capacity(files.len());
    for url in files {
        contents.push(fetch(model, url).await?);
    }
    post(&FromWorker::Progress { model: model.into(), stage: LoadStage::Parsing, loaded: 0, total: None }, None);
    let names: Vec<String> = files.iter().map(|url| url.rsplit('/').next().unwrap_or(url).to_string()).collect();
    let which = classify(&names)?;
    engine::load::files::open(model, &which, &mut Fetched { names, contents }, weights).map_err(|e| e.to_string())
}

fn js_error(context: &str, value: JsValue) -> String {
    let detail = value.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| value.as_string()).unwrap_or_else(|| format!("{value:?}"));
    format!("{context}: {detail}")
}

/// Where a worker with threads is served from, under the page (scripts/build_threads.sh):
/// the page's relative URLs are resolved from the folder above it.
#[cfg(feature = "threads")]
const PAGE_FROM_WORKER: &str = "../";
#[cfg(not(feature = "threads"))]
const PAGE_FROM_WORKER: &str = "./";

/// A URL relative to the page (the page's requests name files so), as this worker fetches it.
fn from_page(url: &str) -> String {
    let worker = scope().location().href();
    web_sys::Url::new_with_base(PAGE_FROM_WORKER, &worker)
        .and_then(|page| web_sys::Url::new_with_base(url, &page.href()))
        .map_or_else(|_| url.to_string(), |u| u.href())
}

/// Fetches one file into JavaScript's memory, posting progress as its bytes arrive.
pub(crate) async fn fetch(model: &str, url: &str) -> Result<Uint8Array, String> {
    let response: Response =
        JsFuture::from(scope().fetch_with_str(&from_page(url))).await.map_err(|e| js_error(&format!("cannot fetch {url}"), e))?.unchecked_into();
    if !response.ok() {
        return Err(format!("cannot fetch {url}: {} {} (are the models fetched? `make run` fetches them)", response.status(), response.status_text()));
    }
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
    let body = response.body().ok_or_else(|| format!("{url}: an empty response"))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut chunks = Vec::new();
    let (mut loaded, mut last_report) = (0u64, 0u64);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| js_error(&format!("reading {url}"), e))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|v| v.as_bool()).unwrap_or(true);
        if done {
            break;
        }
        let value = Uint8Array::new(&js_sys::Reflect::get(&chunk, &"value".into()).map_err(|e| js_error(url, e))?);
        loaded += value.length() as u64;
        chunks.push(value);
        // Progress every megabyte is plenty for a bar and cheap for the page.
        if loaded - last_report >= 1 << 20 {
            last_report = loaded;
            let progress = FromWorker::Progress { model: model.into(), stage: LoadStage::Fetching, loaded, total };
            post(&progress, None);
        }
    }
    // One array of the whole file, still in JavaScript's memory.
    let whole = Uint8Array::new_with_length(loaded as u32);
    let mut offset = 0;
    for chunk in chunks {
        whole.set(&chunk, offset);
        offset += chunk.length();
    }
    Ok(whole)
}
