//! End to end, in headless Chromium against the built app (dist/, which `make test`
//! builds): type, choose model, layer, head and mask, open the table, and compare
//! the numbers the page shows with the engine's own, run natively.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use attnscope_tests::serve::StaticServer;
use attnscope_tests::webdriver::{Browser, Element};
use attnscope_tests::{root, shared_model};
use engine::Mask;

/// The page's own limit on tokens (app's PAGE_MAX_TOKENS).
const PAGE_MAX_TOKENS: usize = 128;
/// Loading SmolLM2 in wasm takes seconds; a slow machine gets room.
const LOAD: Duration = Duration::from_secs(180);

/// The app, served once for every test of this binary.
fn app_url() -> String {
    static SERVER: OnceLock<StaticServer> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let dist = root().join("dist");
            assert!(dist.join("index.html").is_file(), "dist/ is missing: build the app first (`make test` does)");
            let mut overrides = HashMap::new();
            // A catalogue with one model more, whose file is missing: the page must say so.
            let catalog = std::fs::read_to_string(dist.join("models.json")).unwrap();
            let mut catalog: serde_json::Value = serde_json::from_str(&catalog).unwrap();
            catalog["models"].as_array_mut().unwrap().push(serde_json::json!({
                "id": "missing-model", "label": "A model whose file is missing",
                "files": [{"name": "missing.gguf"}]
            }));
            overrides.insert("models.json".to_string(), serde_json::to_vec(&catalog).unwrap());
            StaticServer::start(dist, overrides)
        })
        .url()
}

/// Waits until the status line reports a finished run and returns its text.
fn wait_for_run(browser: &Browser) -> String {
    let status = browser.by_test_id("status");
    browser.wait_for("a finished run", LOAD, || {
        let text = browser.text(&status);
        assert!(!text.starts_with("Error"), "the page shows an error: {text}");
        text.starts_with("Computed in").then_some(text)
    })
}

/// The numbers of the weights table, row by row.
fn table_numbers(browser: &Browser) -> Vec<Vec<f32>> {
    let rows = browser.execute(
        "return [...document.querySelectorAll('[data-testid=weights-table] tbody tr')]
            .map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent));",
        vec![],
    );
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|c| c.as_str().unwrap().parse().unwrap()).collect())
        .collect()
}

fn open_page() -> Browser {
    let browser = Browser::start();
    browser.goto(&app_url());
    browser
}

fn choose(browser: &Browser, test_id: &str, value: &str) {
    let select = browser.by_test_id(test_id);
    browser.select(&select, value);
}

fn type_text(browser: &Browser, input: &Element, text: &str) {
    browser.clear(input);
    browser.type_text(input, text);
}

/// The page's table for (layer, head) equals the engine's native numbers within 1e-3.
fn assert_table_matches_engine(browser: &Browser, model: &str, text: &str, mask: Mask, layer: usize, head: usize) {
    let native = shared_model(model).run_text(text, mask, Some(PAGE_MAX_TOKENS)).unwrap();
    let n = native.tokens.len();
    let shown = browser.wait_for("the table of the new run", Duration::from_secs(30), || {
        let rows = table_numbers(browser);
        (rows.len() == n).then_some(rows)
    });
    for (q, row) in shown.iter().enumerate() {
        assert_eq!(row.len(), n, "row {q} has one cell per key");
        for (k, &weight) in row.iter().enumerate() {
            let expected = native.attention.weight(layer, head, q, k);
            assert!(
                (weight - expected).abs() <= 1e-3,
                "{model} layer {layer} head {head} {mask:?}: cell ({q}, {k}) shows {weight}, the engine says {expected}"
            );
        }
    }
}

#[test]
fn default_page_shows_smollm2_and_its_numbers_match_the_engine() {
    let browser = open_page();
    let status = wait_for_run(&browser);
    println!("{status}");
    browser.screenshot(&root().join("target").join("page.png"));
}
