//! The sweep rows: SmolLM2's ablation sweep of all 270 heads on the 15-token
//! indirect-object prompt, in the page (through the worker, as the Sweep button asks),
//! natively, and as TransformerLens runs one (a whole forward pass per head) with
//! transformers on torch (tests/bench/sweep_torch.py); every one's effects checked
//! against the others'.

use std::time::Instant;

use attnscope_tests::bench::{median, Row};
use attnscope_tests::{model_dir, shared_model};
use engine::{Ablation, Sweep};
use serde_json::{json, Value};

use crate::{numbers, python_script, TORCH_PYTHON};

pub const TEXT: &str = "When Mary and John went to the store, John gave a drink to";
pub const ANSWER: &str = " Mary";
pub const VERSUS: &str = " John";
/// The sweeps are long: fewer of them than of the other rows' runs.
pub const MOST_RUNS: usize = 3;

/// The native times, and the effects of the engine and of transformers.
pub struct SweepTimes {
    native: Vec<f64>,
    torch: Vec<f64>,
    effects: Vec<f32>,
    torch_effects: Vec<f32>,
}

/// The page's request: what `benchSweep` in tests/bench/attnscope.html takes.
pub fn page_config(runs: usize, files: Vec<String>) -> Value {
    json!({"runs": runs.min(MOST_RUNS), "model": "smollm2-135m", "files": files, "text": TEXT, "answer": ANSWER, "versus": VERSUS})
}

pub fn sweep_runs(runs: usize) -> SweepTimes {
    let runs = runs.min(MOST_RUNS);
    let model = shared_model("smollm2-135m");
    let trace = model.trace(TEXT, None).unwrap();
    let answer = model.answer(ANSWER, Some(VERSUS)).unwrap();
    let (mut native, mut effects) = (Vec::new(), Vec::new());
    for i in 0..=runs {
        let started = Instant::now();
        let found = model.sweep(&trace, Sweep::Ablation(Ablation::Zero), &answer, |_, _| true).unwrap();
        if i > 0 {
            native.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        effects = found.per_head;
    }
    let (dir, runs) = (model_dir("smollm2-135m"), runs.to_string());
    let args = [dir.as_os_str(), "SmolLM2-135M-Instruct.Q4_1.gguf".as_ref(), TEXT.as_ref(), ANSWER.as_ref(), VERSUS.as_ref(), runs.as_ref()];
    let result = python_script(TORCH_PYTHON, "sweep_torch.py", &args);
    let torch_effects = numbers(&result["effects"]).into_iter().map(|e| e as f32).collect();
    SweepTimes { native, torch: numbers(&result["ms"]), effects, torch_effects }
}

/// The largest difference between two sweeps' effects.
fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "sweeps of different sizes");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The rows: the page (the aim: under 15 s) beside the TransformerLens-style sweep
/// on torch, and the engine natively.
pub fn sweep_rows(in_page: &Value, times: &SweepTimes) -> Vec<Row> {
    let page_effects: Vec<f32> = serde_json::from_value(in_page["perHead"].clone()).unwrap_or_default();
    let (page_off, torch_off) = (worst(&page_effects, &times.effects), worst(&times.torch_effects, &times.effects));
    assert!(page_off < 2e-3 && torch_off < 2e-3, "the sweeps disagree: the page by {page_off}, transformers by {torch_off}");
    let page = median(&numbers(&in_page["ms"]));
    let one_run = median(&numbers(&in_page["runMs"]));
    let tokens = in_page["tokens"].as_u64().unwrap_or(0);
    let heads = page_effects.len();
    let torch = median(&times.torch);
    eprintln!(
        "sweep in the page: {:?} ms (first, keeping the text's run: {:?}); in the worker: {:?} ms",
        in_page["ms"], in_page["firstMs"], in_page["engineMs"]
    );
    let what = format!(
        "SmolLM2 ablation sweep, all {heads} heads one at a time, {tokens}-token prompt, in the page \
         ({:.2} of {heads} × one run of {one_run:.0} ms); anchor: the same sweep as TransformerLens runs it, transformers on torch, 1 thread",
        page / (heads as f64 * one_run)
    );
    let native = median(&times.native);
    vec![
        Row::new(what, page).anchors(&[torch]).target(Some("under 15 s".into()), Some(page < 15_000.0)),
        Row::new(format!("Native engine, the same sweep, 1 thread (ratio to transformers {:.2})", native / torch), native).anchors(&[torch]),
    ]
}
