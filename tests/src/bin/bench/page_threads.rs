//! The page's engine on both cores: SmolLM2's prompts in the worker with threads (two) beside
//! the one-thread worker and wllama on two threads, in the same run; and a long text of about
//! 2,000 tokens (every map pooled, run a layer at a time) with the whole maps of other heads
//! asked for after it, on two threads and on one.

use attnscope_tests::bench::{median, Row};
use attnscope_tests::webdriver::Browser;
use serde_json::{json, Value};

use super::{in_page, numbers};

/// The threads the page's worker runs on in these rows (this machine's cores).
const THREADS: usize = 2;

/// About 2,000 tokens of SmolLM2's: the longest prompt fourteen times (the browser test's text).
pub fn long_text(prompts: &[String]) -> String {
    vec![prompts[prompts.len() - 1].clone(); 14].join(" ")
}

/// Heads whose whole maps are asked for after the long text's run (the grid's clicks).
const HEADS: [[usize; 2]; 3] = [[23, 3], [5, 7], [29, 8]];

/// `short`: the prompts' rows only (`wllama` may then be null: its column is left empty).
pub fn page_threads_rows(
    browser: &Browser,
    page: &str,
    wllama: &Value,
    (gguf, gemma): (&[String], &[String]),
    prompts: &[String],
    runs: usize,
    short: bool,
) -> Vec<Row> {
    let labelled: Vec<Value> = prompts.iter().enumerate().map(|(i, text)| json!({"label": format!("prompt {i}"), "text": text, "max_tokens": 512})).collect();
    let smollm2 = |threads: usize| {
        eprintln!("bench: SmolLM2 in the page, {} thread(s)", threads.max(1));
        // BENCH_PAUSE_MS: an idle pause after each run (a person types between runs; V8's
        // optimizing compiler works in the background meanwhile).
        let pause: u64 = std::env::var("BENCH_PAUSE_MS").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
        // BENCH_WARMUPS: warm-up runs before each text's timed ones (1 unless set).
        let warmups: u64 = std::env::var("BENCH_WARMUPS").ok().and_then(|p| p.parse().ok()).unwrap_or(1);
        let models = json!([{"model": "smollm2-135m", "files": gguf, "mask": "causal", "texts": labelled, "pauseMs": pause, "warmups": warmups}]);
        in_page(browser, page, "benchAttnscope", json!({"runs": runs, "threads": threads, "models": models}))
    };
    let (one, two) = (smollm2(0), smollm2(THREADS));
    let mut rows = Vec::new();
    for (i, text) in two["models"][0]["texts"].as_array().unwrap().iter().enumerate() {
        let ms = median(&numbers(&text["ms"]));
        let one_ms = median(&numbers(&one["models"][0]["texts"][i]["ms"]));
        let wllama_ms = median(&numbers(&wllama["prompts"][i]["promptMs"]));
        let tokens = text["tokens"].as_u64().unwrap_or(0);
        eprintln!("bench: {tokens} tokens, each run on {THREADS} threads {}, on one {}", text["ms"], one["models"][0]["texts"][i]["ms"]);
        let what =
            format!("SmolLM2 in the page, {tokens} tokens, all 270 heads' maps, {THREADS} threads; anchors: the page on 1 thread, wllama {THREADS} threads");
        let (target, met) = if tokens == 21 && wllama_ms.is_finite() {
            (Some(format!("≤ ⅕ wllama {THREADS} threads ({:.0} ms; ratio {:.2})", wllama_ms / 5.0, ms / wllama_ms)), Some(ms <= wllama_ms / 5.0))
        } else {
            (None, None)
        };
        rows.push(Row::new(what, ms).anchors(&[one_ms, wllama_ms]).target(target, met));
    }
    if short {
        return rows;
    }
    let text = long_text(prompts);
    let long = |threads: usize| {
        eprintln!("bench: a long text in the page, {} thread(s)", threads.max(1));
        let config = json!({"runs": runs, "threads": threads, "model": "smollm2-135m", "files": gguf, "text": text, "heads": HEADS});
        in_page(browser, page, "benchLong", config)
    };
    let (long_two, long_one) = (long(THREADS), long(0));
    let tokens = long_two["tokens"].as_u64().unwrap_or(0);
    let (ms, one_ms) = (median(&numbers(&long_two["ms"])), median(&numbers(&long_one["ms"])));
    rows.push(
        Row::new(format!("SmolLM2 in the page, {tokens} tokens: every map pooled and the selected head's whole map, {THREADS} threads; anchor: 1 thread"), ms)
            .anchors(&[one_ms])
            .target(Some("< 10 s".into()), Some(ms < 10_000.0)),
    );
    let maps: Vec<f64> = long_two["maps"].as_array().unwrap().iter().map(|m| m["ms"].as_f64().unwrap_or(f64::NAN)).collect();
    let slowest = maps.iter().copied().fold(0.0, f64::max);
    rows.push(
        Row::new(format!("Another head's whole map ({tokens} × {tokens}) after the click, the slowest of {} heads, {THREADS} threads", maps.len()), slowest)
            .target(Some("< 200 ms".into()), Some(slowest < 200.0)),
    );
    // The page's longest: 4,096 tokens (the text above, twice, cut there), once, on both threads.
    eprintln!("bench: 4,096 tokens in the page, {THREADS} threads");
    let longest_text = vec![text.clone(); 2].join(" ");
    let config = json!({"runs": 1, "threads": THREADS, "model": "smollm2-135m", "files": gguf, "text": longest_text, "heads": [[23, 3]]});
    let longest = in_page(browser, page, "benchLong", config);
    let longest_tokens = longest["tokens"].as_u64().unwrap_or(0);
    rows.push(Row::new(
        format!("SmolLM2 in the page, {longest_tokens} tokens to the end, every map pooled, {THREADS} threads"),
        median(&numbers(&longest["ms"])),
    ));
    let memory = |run: &Value, key: &str| run[key].as_f64().unwrap_or(0.0) / 1e6;
    rows.push(
        Row::memory(format!("Wasm memory of the worker after {longest_tokens} tokens, {THREADS} threads (MB)"), memory(&longest, "memory"))
            .target(Some("< 2000 MB".into()), Some(memory(&longest, "memory") < 2000.0)),
    );
    // Gemma 3 at its longest in the page, on the quantized path the page loads it on, and a
    // windowed layer's whole map.
    eprintln!("bench: Gemma 3 at 4,096 tokens in the page, {THREADS} threads");
    let config = json!({"runs": 1, "threads": THREADS, "model": "gemma3-270m", "files": gemma, "text": longest_text, "heads": [[0, 1]]});
    let gemma = in_page(browser, page, "benchLong", config);
    let gemma_tokens = gemma["tokens"].as_u64().unwrap_or(0);
    rows.push(Row::new(
        format!("Gemma 3 270M in the page, quantized weights, {gemma_tokens} tokens to the end, every map pooled, {THREADS} threads"),
        median(&numbers(&gemma["ms"])),
    ));
    rows.push(Row::new(
        format!("Gemma 3 270M: a windowed head's whole map ({gemma_tokens} × {gemma_tokens}) after the click, {THREADS} threads"),
        gemma["maps"][0]["ms"].as_f64().unwrap_or(f64::NAN),
    ));
    rows.push(
        Row::memory(format!("Wasm memory of the worker after Gemma 3's {gemma_tokens} tokens, {THREADS} threads (MB)"), memory(&gemma, "memory"))
            .target(Some("< 2000 MB".into()), Some(memory(&gemma, "memory") < 2000.0)),
    );
    eprintln!("bench: wasm memory once loaded: {:.0} MB (2 threads), {:.0} MB (1 thread)", memory(&long_two, "loadMemory"), memory(&long_one, "loadMemory"));
    rows.push(
        Row::memory(format!("Wasm memory of the worker after the {tokens}-token text, {THREADS} threads; anchor: 1 thread (MB)"), memory(&long_two, "memory"))
            .anchors(&[memory(&long_one, "memory")])
            .target(Some("< 2000 MB".into()), Some(memory(&long_two, "memory") < 2000.0)),
    );
    rows
}
