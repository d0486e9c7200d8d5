//! The messages between the page and the engine's Web Worker.
//!
//! Each message is a JS object `{ json, attention? }`: `json` holds the message as
//! serde JSON; a report's attention travels beside it as a transferred
//! `Float32Array` (flat [layer, head, query, key]), so that 270 heads of maps
//! cross the thread boundary without being turned into text and back. Sound to
//! transcribe, and an encoder map asked for, travel in the same place.

pub mod limits;
pub mod user_files;

use js_sys::{Array, Float32Array, Object, Reflect};
use report::analysis::probe::ProbeScores;
use report::{AttentionReport, EffectMethod, Framing, HeadEffects, Intervention, Mask, ModelInfo, Truncation, WeightChoice};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

/// What the page asks of the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// Fetch a model's files (URLs relative to the page) and load it.
    /// `weights`: the path a GGUF's weights load on (float32, quantized, or what fits).
    Load {
        model: String,
        files: Vec<String>,
        #[serde(default)]
        weights: WeightChoice,
    },
    /// Load a model from files the person picked or dropped: the `File` objects travel
    /// beside the message (see [`encode_with_files`]), `names` are theirs in order.
    Open {
        model: String,
        names: Vec<String>,
        #[serde(default)]
        weights: WeightChoice,
    },
    /// Run a text through the loaded model. `run` numbers requests so the page
    /// can drop answers to texts it no longer shows; `scores_of_layer` asks for
    /// that layer's raw scores (the arithmetic view), `value_norms` every head's value
    /// norms (the value-weighted map); `reuse_prefix` lets a causal run reuse the
    /// beginning it shares with the previous one.
    Run {
        run: u64,
        model: String,
        text: String,
        mask: Mask,
        max_tokens: usize,
        scores_of_layer: Option<usize>,
        value_norms: bool,
        reuse_prefix: bool,
        /// Heads to change in the run (a causal language model or an encoder, under its own
        /// mask; a translator's encoder heads): the report is the changed run's, and says what
        /// was changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intervention: Option<Intervention>,
        /// With an intervention: the number to answer the unchanged run of the same text
        /// under (the run the changed one starts from, so the text runs once unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unchanged: Option<u64>,
    },
    /// Every head's effect on an answer in the run of `text`: each ablated or patched from
    /// the run of another text in turn (a sweep, a layer at a time, stopped by
    /// [`ToWorker::StopEffects`]), or each one's direct logit attribution. `answer`: the
    /// token's text (the likeliest next token when `None`); `versus`: a token to subtract.
    Effects { run: u64, model: String, text: String, max_tokens: usize, method: EffectMethod, answer: Option<String>, versus: Option<String> },
    /// Stop the sweep numbered `run` (a new text, or the person's Stop).
    StopEffects { run: u64 },
    /// Run the induction probe (`length` random tokens twice, one run per seed).
    Probe { run: u64, model: String, length: usize, seeds: Vec<u64> },
    /// Transcribe sound with the loaded speech model: the samples (16 kHz mono) travel
    /// beside the message as a transferred `Float32Array`.
    Transcribe {
        run: u64,
        model: String,
        #[serde(default)]
        asked: WholeRun,
    },
    /// Look at a picture with the loaded vision model: its pixels (8-bit RGBA, `width` ×
    /// `height`) travel beside the message as a transferred `Uint8Array`.
    Look {
        run: u64,
        model: String,
        width: usize,
        height: usize,
        framing: Framing,
        #[serde(default)]
        asked: WholeRun,
    },
    /// The loaded model's positions (its rotary frequencies, tables, grid), asked when the
    /// page's Positions panel opens.
    Positions { model: String },
    /// Read an episode with the loaded few-shot learner (a SNAIL): its drawings in order, the
    /// labelled examples class by class (A's, then B's, …) and the query last, each 28 × 28
    /// pixels row by row, 1 for ink.
    ReadEpisode { run: u64, model: String, drawings: Vec<Vec<u8>> },
    /// One head's whole map where a report holds its maps pooled: the encoder's
    /// self-attention of the last transcription, or the self-attention of the long text
    /// whose run was numbered `of` (the worker keeps the last long run's queries and keys).
    WholeMap { run: u64, model: String, of: u64, layer: usize, head: usize },
    /// Train dates models in the worker, one per score side by side (a batch of each in
    /// turn), from `seed`, until `until` of the held-out dates are exact or `steps` batches;
    /// `example` is the text whose alignment is redrawn as they learn. `resume`: go on with
    /// the models of the run stopped last (their steps, optimiser and data where they were).
    /// `task` digits: glimpse readers of handwritten digits, `scores` soft and hard, `until`
    /// the share of held-out strips read whole, `example` the number of the held-out strip
    /// whose glimpses are redrawn. `task` memory: memory networks, `scores` babi-1 and babi-2,
    /// `until` the share of held-out stories answered, `example` a held-out story's number.
    Train {
        run: u64,
        #[serde(default)]
        task: TrainingTask,
        scores: Vec<String>,
        seed: u64,
        steps: usize,
        until: f64,
        example: String,
        resume: bool,
    },
    /// Stop the training numbered `run` after the batch going on (it can be resumed).
    StopTraining { run: u64 },
    /// The example a training's models show (a date, or a held-out strip's number) changed:
    /// their reading of it, at once if they are stopped.
    TrainingExample {
        #[serde(default)]
        task: TrainingTask,
        example: String,
    },
}

/// What a run of a sound or a picture keeps or changes beyond its maps, as a text's run
/// asks in [`ToWorker::Run`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WholeRun {
    /// Every head's value norms (the value-weighted map).
    #[serde(default)]
    pub value_norms: bool,
    /// Heads to change (a speech model's decoder heads, zeroed while it writes; a picture's
    /// heads, zeroed or averaged): the report is the changed run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention: Option<Intervention>,
    /// With an intervention: the number to answer the unchanged run under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<u64>,
}

/// What the worker answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker has started and takes requests, computing on `threads` threads (more
    /// than one where the page is cross-origin isolated and the worker has threads).
    Ready { threads: usize },
    /// Loading goes on: `loaded` of `total` bytes fetched (total unknown: `None`), or parsing.
    Progress { model: String, stage: LoadStage, loaded: u64, total: Option<u64> },
    /// The model is loaded; `memory_bytes`: the worker's wasm memory now (it never shrinks,
    /// so this is its peak so far).
    Loaded { model: String, info: ModelInfo, millis: f64, memory_bytes: u64 },
    /// A run's report. Its sites' maps arrive empty here and are filled in from the array
    /// beside (every site's data one after another; `shapes` says where each ends).
    Report { run: u64, report: AttentionReport, shapes: Vec<[usize; 4]>, millis: f64, memory_bytes: u64 },
    /// A translation or a transcript goes on: its tokens from index `from` (counted from 0)
    /// are `tokens`, of at most `limit`. Told only once a run has gone on long enough for a
    /// person to wait on it, a few tokens at a time (the worker's `growing`).
    Translating { run: u64, from: usize, limit: usize, tokens: Vec<String> },
    /// A sweep goes on: `done` of `total` heads changed.
    EffectsProgress { run: u64, done: usize, total: usize },
    /// Every head's effect, and how long finding them took.
    Effects { run: u64, effects: HeadEffects, millis: f64 },
    /// The probe goes on: `done` of `total` runs (of all its runs' layers, when pooled).
    ProbeProgress { run: u64, done: usize, total: usize },
    /// The probe's scores, and its first run's report (attention beside, as for a run;
    /// pooled when the probe is long). `offset`: where the random copy of `length` tokens
    /// starts (after the model's first token).
    ProbeResult { run: u64, scores: Vec<ProbeScores>, report: AttentionReport, shapes: Vec<[usize; 4]>, offset: usize, length: usize, millis: f64 },
    /// The loaded model's positions (see `report::positions`), each table's first rows; or why
    /// they could not be read (`failed`, the sets then empty). Not a run's failure: the page
    /// keeps its model and its runs.
    Positions {
        positions: report::positions::Positions,
        #[serde(default)]
        failed: Option<String>,
    },
    /// A head's whole map, [queries, keys] flat, beside the message (put in `values` by
    /// the page's client).
    WholeMap {
        run: u64,
        layer: usize,
        head: usize,
        queries: usize,
        keys: usize,
        millis: f64,
        #[serde(skip)]
        values: Vec<f32>,
    },
    /// A long text's run goes on (its maps kept pooled): `done` of `total` layers have
    /// attended its `tokens` tokens. Between layers the worker answers other requests, and
    /// a run of another text ends this one. Beside the message, the pooled maps of the
    /// layer just done, [heads, blocks, blocks] (put in `layer_maps` by the page's client),
    /// which the grid shows as the run goes on.
    Attending {
        run: u64,
        done: usize,
        total: usize,
        tokens: usize,
        cut: Option<Truncation>,
        blocks: usize,
        #[serde(skip)]
        layer_maps: Vec<f32>,
    },
    /// A training goes on: each model's progress, and `going` false once it has stopped
    /// (asked, or done). Each model's files follow a stop as [`FromWorker::TrainedModel`].
    /// `failed`: why it stopped, when it could not go on.
    Training {
        run: u64,
        #[serde(default)]
        task: TrainingTask,
        models: Vec<TrainingProgress>,
        going: bool,
        millis: f64,
        failed: Option<String>,
    },
    /// One trained model's files as they are when its training stopped: config.json and
    /// vocabulary.json here, model.safetensors beside the message (put in `weights` by the
    /// page's client).
    TrainedModel {
        run: u64,
        #[serde(default)]
        task: TrainingTask,
        index: usize,
        score: String,
        config: String,
        vocabulary: String,
        #[serde(skip)]
        weights: Vec<u8>,
    },
    /// Something failed: a load (`run` is `None`) or a run.
    Failed { model: String, run: Option<u64>, message: String },
}

/// What the page trains: dates models (Bahdanau's and Luong's scores), readers of
/// handwritten digits (soft and hard attention), memory networks (bAbI-style tasks 1
/// and 2, `scores` "babi-1" and "babi-2"), or a SNAIL (few-shot Omniglot, `scores` "snail").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainingTask {
    #[default]
    Dates,
    Digits,
    Memory,
    Snail,
}

/// Where a digits reader looked on a strip, step by step (a strip of four handwritten digits,
/// seen through windows `window` pixels wide, `stride` apart).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StripGlimpses {
    pub height: usize,
    pub width: usize,
    /// [height × width] row by row, ink from 0 to 1.
    pub pixels: Vec<f32>,
    pub window: usize,
    pub stride: usize,
    /// The strip's digits, and each one's first column.
    pub labels: Vec<u8>,
    pub starts: Vec<usize>,
    /// Each step's weights over the windows [steps][windows].
    pub weights: Vec<Vec<f32>>,
    /// The window each step read through: soft, its most weighed; hard, one drawn.
    pub chosen: Vec<usize>,
    pub written: Vec<u8>,
}

/// One model's training so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingProgress {
    /// The score: additive (Bahdanau), dot, general, concat or local (Luong); a digits
    /// reader's attention: soft or hard.
    pub score: String,
    /// Batches taken.
    pub steps: usize,
    /// The mean loss of the batches since the last message (none: no batch since).
    pub loss: Option<f64>,
    /// Measured every few batches on held-out dates: (steps, share exact, share of digits
    /// read from their field), every measure so far; for digits readers, (steps, share of
    /// strips read whole, share of steps that looked at the digit they wrote).
    pub measured: Vec<(usize, f64, f64)>,
    /// The example's alignment by the model as it is (the report's maps in its JSON: 11
    /// rows of a few dozen weights).
    pub example: Option<AttentionReport>,
    /// A digits reader's glimpses of the example strip, as it is.
    #[serde(default)]
    pub glimpses: Option<StripGlimpses>,
    /// A memory network's example story's supporting facts (by sentence, from 0): its
    /// `example` is the report of its hops over the story. A SNAIL's: the example episode's
    /// drawing of the query's class (its `example` is the report of the episode).
    #[serde(default)]
    pub supporting: Vec<usize>,
    /// Whether the training is still preparing what the model learns on (a SNAIL's picture
    /// embedding): `measured` is then the embedding's own measure, and no aim stops it.
    #[serde(default)]
    pub preparing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadStage {
    Fetching,
    /// Reading a person's own files (opened or dropped), `loaded` of `total` bytes.
    Reading,
    Parsing,
}

const JSON: &str = "json";
const ATTENTION: &str = "attention";
const FILES: &str = "files";
const BYTES: &str = "bytes";

fn set(target: &Object, key: &str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// Packs a message for `postMessage`; returns it and the buffers to transfer.
pub fn encode<T: Serialize>(message: &T, attention: Option<&[f32]>) -> (JsValue, Array) {
    let object = Object::new();
    let json = serde_json::to_string(message).unwrap_or_else(|e| format!("{{\"encode error\": \"{e}\"}}"));
    set(&object, JSON, &JsValue::from_str(&json));
    let transfer = Array::new();
    if let Some(data) = attention {
        let array = Float32Array::from(data);
        transfer.push(&array.buffer());
        set(&object, ATTENTION, &array);
    }
    (object.into(), transfer)
}

/// Packs a message with `File` objects beside it (structured-cloned, never read here).
pub fn encode_with_files<T: Serialize>(message: &T, files: &Array) -> JsValue {
    let (value, _) = encode(message, None);
    set(value.unchecked_ref(), FILES, files);
    value
}

/// Packs a message with bytes beside it (a picture's pixels, a model's weights); returns it
/// and the buffer to transfer.
pub fn encode_with_bytes<T: Serialize>(message: &T, bytes: &[u8]) -> (JsValue, Array) {
    let (value, transfer) = encode(message, None);
    let array = js_sys::Uint8Array::from(bytes);
    transfer.push(&array.buffer());
    set(value.unchecked_ref(), BYTES, &array);
    (value, transfer)
}

/// The bytes a message carries (empty when it carries none).
pub fn bytes_of(data: &JsValue) -> Vec<u8> {
    Reflect::get(data, &JsValue::from_str(BYTES)).ok().filter(|v| v.is_object()).map(|v| js_sys::Uint8Array::new(&v).to_vec()).unwrap_or_default()
}

/// The `File` objects a message carries (empty when it carries none).
pub fn files_of(data: &JsValue) -> Vec<web_sys::File> {
    Reflect::get(data, &JsValue::from_str(FILES))
        .ok()
        .filter(|v| v.is_object())
        .map(|v| Array::from(&v).iter().map(|f| f.unchecked_into()).collect())
        .unwrap_or_default()
}

/// Unpacks a message: the serde part, and the attention array if one came along.
pub fn decode<T: for<'de> Deserialize<'de>>(data: &JsValue) -> Result<(T, Option<Vec<f32>>), String> {
    let json = Reflect::get(data, &JsValue::from_str(JSON)).ok().and_then(|v| v.as_string()).ok_or("a message without its json part")?;
    let message = serde_json::from_str(&json).map_err(|e| format!("a message that does not parse: {e}"))?;
    let attention = Reflect::get(data, &JsValue::from_str(ATTENTION)).ok().filter(|v| !v.is_undefined()).map(|v| Float32Array::from(v).to_vec());
    Ok((message, attention))
}

/// Puts a report's attention, sent apart, back in place.
pub fn reassemble(mut report: AttentionReport, shapes: &[[usize; 4]], data: Vec<f32>) -> Result<AttentionReport, String> {
    report.put_maps(shapes, data)?;
    Ok(report)
}
