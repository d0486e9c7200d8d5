//! SNAIL trained to its aim (72% of 400 held-out 5-way 1-shot episodes of unseen alphabets):
//! in the page, natively, and the same batches natively beside PyTorch doing the same model
//! from the same weights (tests/bench/snail_torch.py).

use std::sync::Arc;
use std::time::Instant;

use attnscope_tests::bench::{median, Row};
use attnscope_tests::root;
use engine::train::omniglot::Omniglot;
use engine::train::snail_training::{SnailSettings, SnailTraining};
use serde_json::{json, Value};

use crate::{numbers, python_script, TORCH_PYTHON};

const SEED: u64 = 1;
/// The command line's aim: 72% of the held-out episodes answered.
const AIM: f64 = 0.72;
const MOST_STEPS: usize = 6000;

pub struct FewShotTimes {
    /// Batches until the aim (the embedding's 3,000 included), measured every 25.
    steps: usize,
    to_goal: Vec<f64>,
    batches_only: Vec<f64>,
    torch: Vec<f64>,
    first_loss: (f64, f64),
}

fn omniglot() -> Arc<Omniglot> {
    let folder = root().join("assets/data/omniglot");
    let read = |name: &str| std::fs::read(folder.join(name)).unwrap();
    Arc::new(Omniglot::from_files(&read("index.json"), &read("images.bin.gz")).unwrap())
}

pub fn few_shot_runs(runs: usize) -> FewShotTimes {
    engine::train::keep_freed_memory();
    let data = omniglot();
    let fresh = || SnailTraining::new(SnailSettings::new(SEED), data.clone()).unwrap();
    let (mut to_goal, mut steps) = (Vec::new(), 0);
    for _ in 0..runs {
        let started = Instant::now();
        let mut training = fresh();
        while training.steps < MOST_STEPS {
            training.step().unwrap();
            if training.steps.is_multiple_of(25) && !training.is_pretraining() && training.measure().unwrap().0 >= AIM {
                break;
            }
        }
        to_goal.push(started.elapsed().as_secs_f64() * 1000.0);
        steps = training.steps;
    }
    let (batches_only, first_loss) = super::training::time_batches(runs, steps, fresh);
    // The same weights at step 0 and the same batches, for PyTorch.
    let folder = root().join("target/bench-snail");
    std::fs::create_dir_all(&folder).unwrap();
    let mut training = fresh();
    let tensors = training.tensors();
    std::fs::write(folder.join("start.safetensors"), engine::train::safetensors_bytes(tensors).unwrap()).unwrap();
    std::fs::write(folder.join("config.json"), serde_json::to_vec(&training.snail.config).unwrap()).unwrap();
    let embedding_batches = training.settings().embedding_batches.min(steps);
    let embedding: Vec<Value> = (0..embedding_batches).map(|_| json!(training.draw_embedding_batch())).collect();
    let episodes: Vec<Value> = (embedding_batches..steps)
        .map(|_| training.draw_episodes().iter().map(|e| json!({"drawings": e.drawings, "labels": e.labels, "answer": e.answer})).collect())
        .collect();
    let given = json!({"embedding": embedding, "episodes": episodes, "omniglot": root().join("assets/data/omniglot")});
    std::fs::write(folder.join("batches.json"), serde_json::to_vec(&given).unwrap()).unwrap();
    let result = python_script(TORCH_PYTHON, "snail_torch.py", &[folder.as_os_str(), runs.to_string().as_ref()]);
    let torch_first = result["first_loss"].as_f64().unwrap();
    // The same classifier on the same 64 drawings: the same loss, to float32's rounding of a
    // mean of 64 terms near ln 242 ≈ 5.5 (candle and PyTorch sum in other orders).
    assert!((torch_first - first_loss).abs() < 1e-4, "PyTorch's first loss {torch_first} against the engine's {first_loss}: not the same model");
    FewShotTimes { steps, to_goal, batches_only, torch: numbers(&result["ms"]), first_loss: (first_loss, torch_first) }
}

pub fn page_config(runs: usize, threads: usize) -> Value {
    json!({"runs": runs, "threads": threads, "task": "snail", "score": "snail", "seed": SEED, "example": "0", "until": AIM, "steps": MOST_STEPS})
}

/// The rows: the page until the aim, natively until the aim, and the same batches natively
/// beside PyTorch (the aim: no slower).
pub fn few_shot_rows(in_page: &Value, times: &FewShotTimes) -> Vec<Row> {
    let torch = median(&times.torch);
    let page = median(&numbers(&in_page["ms"]));
    eprintln!("SNAIL in the page: {:?} ms over {:?} batches, {:?} answered", in_page["ms"], in_page["steps"], in_page["exact"]);
    let steps = times.steps;
    let (ours, theirs) = times.first_loss;
    let what = format!(
        "SNAIL on Omniglot trained in the page until 72% of 400 held-out 5-way 1-shot episodes are answered ({} batches: 3,000 of 64 drawings for \
         the picture embedding, then 32 episodes; measures included); anchor: PyTorch, the same model, weights and {steps} batches, 1 thread",
        in_page["steps"][0]
    );
    let native = median(&times.batches_only);
    vec![
        Row::new(what, page).anchors(&[torch]),
        Row::new(format!("Natively until 72% of the held-out episodes are answered ({steps} batches, measured every 25), 1 thread"), median(&times.to_goal))
            .anchors(&[torch]),
        Row::new(format!("Natively, the same {steps} batches as PyTorch, 1 thread (first loss {ours:.5}, PyTorch's {theirs:.5})"), native)
            .anchors(&[torch])
            .target(Some("no slower than PyTorch".into()), Some(native <= torch)),
    ]
}
