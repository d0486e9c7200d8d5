//! The rows of the families the project has no real model of: GPT-2 and GPT-NeoX, in the
//! sizes of GPT-2 small and Pythia-160m with random weights (tests/bench/family_models.py
//! makes them in .cache/bench-models; a forward pass costs the same whatever its weights
//! hold), in the page on one thread as a person's dropped folder is loaded (config.json,
//! model.safetensors, tokenizer.json), each beside transformers on torch, one thread, on the
//! same files and prompts. `bench families` adds the built-in Llama (SmolLM2) and BERT
//! (MiniLM) at the same lengths, so that one short run compares every family's page.

use attnscope_tests::bench::{median, Row};
use attnscope_tests::{model_dir, root};
use serde_json::{json, Value};

use crate::{numbers, python_script, TORCH_PYTHON};

/// What the table calls each model the script makes, by its folder.
const MODELS: [(&str, &str); 2] = [("gpt2-small-shaped", "GPT-2 small's shape"), ("pythia-160m-shaped", "GPT-NeoX (Pythia-160m's shape)")];

/// Makes the models (once) and times transformers on them: the script's JSON.
pub fn torch_runs(prompts: &std::path::Path, runs: usize) -> Value {
    // GPT-2's tokenizer is Whisper tiny.en's (the script says how).
    let tokenizer = model_dir("whisper-tiny-en").join("tokenizer.json");
    let (out, runs) = (root().join(".cache/bench-models"), runs.to_string());
    python_script(TORCH_PYTHON, "family_models.py", &[out.as_os_str(), tokenizer.as_os_str(), prompts.as_os_str(), runs.as_ref()])
}

/// The page's model specs for tests/bench/attnscope.html: each model's three files, served
/// under /bench-models, on every prompt; then the built-in models given (id, files, mask).
pub fn page_specs(prompts: &[String], built_in: &[(&str, Vec<String>, &str)]) -> Vec<Value> {
    let texts: Vec<Value> = prompts.iter().enumerate().map(|(i, text)| json!({"label": format!("prompt {i}"), "text": text, "max_tokens": 512})).collect();
    let made = MODELS.iter().map(|(id, _)| {
        let files: Vec<String> = ["config.json", "model.safetensors", "tokenizer.json"].iter().map(|f| format!("/bench-models/{id}/{f}")).collect();
        json!({"model": id, "files": files, "mask": "causal", "weights": "float32", "texts": texts})
    });
    made.chain(built_in.iter().map(|(id, files, mask)| json!({"model": id, "files": files, "mask": mask, "texts": texts}))).collect()
}

/// The built-in models' rows from the same run (the models after [`MODELS`]): each prompt
/// in the page, and the load.
pub fn built_in_rows(in_page: &Value) -> Vec<Row> {
    let mut rows = Vec::new();
    for model in in_page["models"].as_array().unwrap().iter().skip(MODELS.len()) {
        let id = model["model"].as_str().unwrap_or("?");
        for text in model["texts"].as_array().unwrap() {
            let tokens = text["tokens"].as_u64().unwrap_or(0);
            rows.push(Row::new(format!("{id}, {tokens} tokens, every map, in the page"), median(&numbers(&text["ms"]))));
        }
    }
    rows
}

/// The rows: each model at each prompt in the page beside transformers, then its load.
pub fn family_rows(in_page: &Value, torch: &Value) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, (id, name)) in MODELS.iter().enumerate() {
        let (page, torch) = (&in_page["models"][i], &torch["models"][i]);
        assert_eq!(page["model"], *id, "the page's models came back in another order");
        assert_eq!(torch["id"], *id, "the script's models came back in another order");
        for (text, anchor) in page["texts"].as_array().unwrap().iter().zip(torch["prompts"].as_array().unwrap()) {
            let (tokens, torch_tokens) = (text["tokens"].as_u64().unwrap_or(0), anchor["tokens"].as_u64().unwrap_or(0));
            assert_eq!(tokens, torch_tokens, "{id}: the page and transformers tokenized a prompt differently");
            let what = format!("{name}, random weights, {tokens} tokens, all 144 heads' maps, in the page; anchor: transformers on torch, 1 thread");
            rows.push(Row::new(what, median(&numbers(&text["ms"]))).anchors(&[median(&numbers(&anchor["ms"]))]));
        }
        let megabytes = torch["parameters"].as_f64().unwrap_or(f64::NAN) * 4.0 / 1e6;
        rows.push(Row::new(format!("{name} load, {megabytes:.0} MB of float32 safetensors (fetch + parse)"), median(&numbers(&page["loads"]))));
    }
    rows
}
