//! Where the main thread's time goes while a person waits (issue 30): `bench profile-paste`
//! opens the page as `make run` serves it, warms it with a few texts, then records the
//! DevTools protocol's sampling profiler (the page's main thread, not the worker) around one
//! paste of the 21-token prompt, and prints each function's own time in three spans: while
//! the worker computes, from its answer to the maps on the screen, and the 300 ms after.
//! An investigation's tool, not a row of the table.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use attnscope_tests::webdriver::Browser;

use crate::person::{open_and_wait, open_served_page, paste_and_wait, Waited};

/// How many functions each span lists.
const SHOWN: usize = 14;

/// Profiles one paste of `prompt` (after `other`) and returns the report to print.
pub fn profile_paste(url: &str, (prompt, other): (&str, &str), what: &str, flags: &[&str]) -> String {
    let browser = open_served_page(url, flags);
    for _ in 0..3 {
        paste_and_wait(&browser, prompt, Duration::from_secs(60));
        paste_and_wait(&browser, other, Duration::from_secs(60));
    }
    profile_one(&browser, what, || paste_and_wait(&browser, prompt, Duration::from_secs(60)))
}

/// Profiles one opening of `picture` (after `other`) in the page on DINOv2 (`bench
/// profile-picture`).
pub fn profile_picture(url: &str, (picture, other): (&Path, &Path), flags: &[&str]) -> String {
    let browser = open_served_page(&format!("{url}?model=dinov2-small"), flags);
    for _ in 0..3 {
        open_and_wait(&browser, "image-file", picture);
        open_and_wait(&browser, "image-file", other);
    }
    profile_one(&browser, "One picture opened on DINOv2", || open_and_wait(&browser, "image-file", picture))
}

/// The main thread's profile around `act` (which waits for its maps on the screen).
fn profile_one(browser: &Browser, what: &str, act: impl FnOnce() -> Waited) -> String {
    browser.devtools("Profiler.enable", json!({}));
    browser.devtools("Profiler.setSamplingInterval", json!({"interval": 200})); // μs
    browser.devtools("Profiler.start", json!({}));
    let waited = act();
    std::thread::sleep(Duration::from_millis(300));
    let profile = browser.devtools("Profiler.stop", json!({}))["profile"].clone();
    let [_, arrived, _, _] = waited.parts;
    let spans = [
        ("while the worker computes", 0.0, arrived),
        ("from the worker's answer to the screen", arrived, waited.total),
        ("the 300 ms after", waited.total, f64::INFINITY),
    ];
    let mut out = format!(
        "{what}: the worker's own time {:.0} ms, the answer in the page at {arrived:.0}, on the screen at {:.0} ms (times from the profiler's start, a few ms before it).\n",
        waited.worker, waited.total
    );
    let samples = self_times(&profile);
    for (name, from, to) in spans {
        let mut by_function: HashMap<&str, f64> = HashMap::new();
        for (at, function, took) in &samples {
            if (from..to).contains(at) {
                *by_function.entry(function.as_str()).or_default() += took;
            }
        }
        let busy: f64 = by_function.iter().filter(|(f, _)| **f != "(idle)").map(|(_, t)| t).sum();
        let mut ranked: Vec<_> = by_function.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        out += &format!("\n{name} ({from:.0}-{} ms): the main thread busy {busy:.1} ms\n", if to.is_finite() { format!("{to:.0}") } else { "end".into() });
        for (function, took) in ranked.into_iter().take(SHOWN) {
            out += &format!("  {took:7.1} ms  {function}\n");
        }
    }
    out
}

/// Each sample of a CPU profile as (ms from the profile's start, the function it was in with
/// its script and line, ms it stands for).
fn self_times(profile: &Value) -> Vec<(f64, String, f64)> {
    let names: HashMap<u64, String> = profile["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .map(|node| {
                    let frame = &node["callFrame"];
                    let function = frame["functionName"].as_str().filter(|f| !f.is_empty()).unwrap_or("(anonymous)");
                    let script = frame["url"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default();
                    let label = if script.is_empty() { function.to_string() } else { format!("{function} ({script}:{})", frame["lineNumber"]) };
                    (node["id"].as_u64().unwrap_or(0), label)
                })
                .collect()
        })
        .unwrap_or_default();
    let (samples, deltas) = (profile["samples"].as_array().cloned().unwrap_or_default(), profile["timeDeltas"].as_array().cloned().unwrap_or_default());
    let mut at = 0.0;
    let mut out = Vec::with_capacity(samples.len());
    for (i, sample) in samples.iter().enumerate() {
        at += deltas[i].as_f64().unwrap_or(0.0) / 1e3;
        // A sample stands for the time until the next one.
        let took = deltas.get(i + 1).and_then(Value::as_f64).unwrap_or(0.0) / 1e3;
        out.push((at, names.get(&sample.as_u64().unwrap_or(0)).cloned().unwrap_or_default(), took));
    }
    out
}
