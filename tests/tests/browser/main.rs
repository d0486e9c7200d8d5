//! End to end, in headless Chromium against the built app (dist/, which `make test`
//! builds): type, choose model, layer, head and mask, open the table, and compare
//! the numbers the page shows with the engine's own, run natively.

mod aligners;
mod compare_and_share;
mod export;
mod few_shot;
mod first_look;
mod first_visit;
mod foundation;
mod head_views;
mod interventions;
mod long_texts;
mod looks;
mod open_model;
mod other_models;
mod positions;
mod reading;
mod speech;
mod training;
mod translation;
mod typing;
mod vision;
mod weights;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use attnscope_tests::serve::{Site, StaticServer};
use attnscope_tests::webdriver::{Browser, Element};
use attnscope_tests::{model_dir, root, shared_model};
use engine::Mask;

/// The text the page opens with.
pub const OPENING_TEXT: &str = app::DEFAULT_TEXT;

/// The engine's own report of the page's opening text on its default model and mask:
/// what the page must show before anything is touched.
pub fn opening_report() -> engine::AttentionReport {
    shared_model("smollm2-135m").run_text(OPENING_TEXT, Mask::Causal, None).unwrap()
}

/// The page's own limit on tokens.
pub const WHOLE_MAX_TOKENS: usize = app::WHOLE_MAX_TOKENS;
/// Loading SmolLM2 in wasm takes seconds; a slow machine gets room.
pub const LOAD: Duration = Duration::from_secs(180);

/// The app, served once for every test of this binary, cross-origin isolated as `make run`
/// serves it (the engine's worker computes on every core), unless `ATTNSCOPE_ONE_THREAD` is
/// set: then without isolation, so the whole suite runs on the one-thread fallback.
pub fn app_url() -> String {
    static SERVER: OnceLock<StaticServer> = OnceLock::new();
    SERVER.get_or_init(|| serve_app(std::env::var_os("ATTNSCOPE_ONE_THREAD").is_none())).url()
}

/// The app served without cross-origin isolation: the engine's worker on one thread.
pub fn app_url_one_thread() -> String {
    static SERVER: OnceLock<StaticServer> = OnceLock::new();
    SERVER.get_or_init(|| serve_app(false)).url()
}

fn serve_app(isolated: bool) -> StaticServer {
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
    StaticServer::serve(Site { root: dist, overrides, isolated, ..Site::default() })
}

/// Waits until the status line reports a finished run and returns its text.
pub fn wait_for_run(browser: &Browser) -> String {
    let status = browser.by_test_id("status");
    // A long text's run counts its layers on the status line: it may take as long as that
    // count keeps moving (minutes for 4,096 tokens on one slow thread).
    browser.wait_while_progressing(
        "a finished run",
        LOAD,
        || browser.text(&status),
        || {
            let text = browser.text(&status);
            assert!(!text.starts_with("Error"), "the page shows an error: {text}");
            text.starts_with("Computed in").then_some(text)
        },
    )
}

/// Waits until the maps in view are those of `text` (typed or pasted), not of a text
/// typed on the way to it.
pub fn wait_until_shown(browser: &Browser, text: &str) {
    let workspace = browser.by_test_id("workspace");
    browser.wait_for("the text's maps", LOAD, || {
        let done =
            browser.attribute(&workspace, "data-text").as_deref() == Some(text) && browser.attribute(&workspace, "data-stale").as_deref() == Some("false");
        done.then_some(())
    });
}

/// The numbers of the weights table, row by row (with the first token hidden, the
/// renormalised ones; [`table_numbers_before`] gives the ones under them).
pub fn table_numbers(browser: &Browser) -> Vec<Vec<f32>> {
    table_cells(browser, "td.firstChild.textContent")
}

/// The weights as computed, which the table shows under the renormalised ones.
pub fn table_numbers_before(browser: &Browser) -> Vec<Vec<f32>> {
    table_cells(browser, "td.querySelector('small.before').textContent")
}

fn table_cells(browser: &Browser, cell: &str) -> Vec<Vec<f32>> {
    let rows = browser.execute(
        &format!(
            "return [...document.querySelectorAll('[data-testid=weights-table] tbody tr')]
                .map(tr => [...tr.querySelectorAll('td')].map(td => {cell}));"
        ),
        vec![],
    );
    rows.as_array().unwrap().iter().map(|row| row.as_array().unwrap().iter().map(|c| c.as_str().unwrap().parse().unwrap()).collect()).collect()
}

pub fn open_page() -> Browser {
    let browser = Browser::start();
    browser.goto(&app_url());
    browser
}

/// The wait the status line says (the person's, from the input changing to its maps on the
/// screen) and the worker's time, once it says them: the line ends with the wait, and the
/// wait holds the worker's time (both rounded to whole milliseconds on the page).
pub fn status_line_wait(browser: &Browser) -> (f64, f64) {
    let status = browser.by_test_id("status");
    let (waited, millis) = browser.wait_for("the wait on the status line", LOAD, || {
        let number = |name: &str| browser.attribute(&status, name).and_then(|v| v.parse::<f64>().ok());
        Some((number("data-waited")?, number("data-millis")?))
    });
    let line = browser.text(&status);
    assert!(line.ends_with(&format!(", on the screen in {waited:.0} ms")), "{line}");
    assert!(waited + 1.0 >= millis, "the wait ({waited} ms) holds the worker's {millis} ms");
    (waited, millis)
}

pub fn choose(browser: &Browser, test_id: &str, value: &str) {
    let select = browser.by_test_id(test_id);
    browser.select(&select, value);
}

pub fn type_text(browser: &Browser, input: &Element, text: &str) {
    browser.clear(input);
    browser.type_text(input, text);
}

/// Puts `text` in the box at once, as a paste does. (chromedriver types only the
/// Basic Multilingual Plane, so emoji cannot be typed key by key.)
pub fn paste(browser: &Browser, input: &Element, text: &str) {
    browser.execute(
        "const el = arguments[0]; el.value = arguments[1]; el.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![input.as_arg(), serde_json::json!(text)],
    );
}

/// Eventually the page's table for (layer, head) equals the engine's native numbers
/// within 1e-3 (the page recomputes as it is typed, so the check polls).
pub fn assert_table_matches_engine(browser: &Browser, model: &str, text: &str, mask: Mask, layer: usize, head: usize) {
    let native = shared_model(model).run_text(text, mask, Some(WHOLE_MAX_TOKENS)).unwrap();
    let n = native.tokens().len();
    let mut last_mismatch = String::new();
    browser
        .wait_for_or(Duration::from_secs(60), || {
            let rows = table_numbers(browser);
            if rows.len() != n || rows.iter().any(|r| r.len() != n) {
                last_mismatch = format!("the table has {} rows, the engine {n} tokens", rows.len());
                return None;
            }
            for (q, row) in rows.iter().enumerate() {
                for (k, &weight) in row.iter().enumerate() {
                    let expected = native.attention().weight(layer, head, q, k);
                    if (weight - expected).abs() > 1e-3 {
                        last_mismatch = format!("cell ({q}, {k}) shows {weight}, the engine says {expected}");
                        return None;
                    }
                }
            }
            Some(())
        })
        .unwrap_or_else(|| panic!("{model} layer {layer} head {head} {mask:?} {text:?}: {last_mismatch}"));
}

/// Saves a screenshot under target/screenshots/ (the README's pictures come from here)
/// and prints what the status line says, timings included.
pub fn keep_screenshot(browser: &Browser, name: &str) {
    keep_screenshot_of(browser, name, None);
}

/// [`keep_screenshot`] with the element of a test id scrolled to the top of the window first.
pub fn keep_screenshot_of(browser: &Browser, name: &str, test_id: Option<&str>) {
    if let Some(id) = test_id {
        let element = browser.by_test_id(id);
        browser.execute("arguments[0].scrollIntoView({block: 'start'});", vec![element.as_arg()]);
    }
    let dir = root().join("target").join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    browser.screenshot(&dir.join(format!("{name}.png")));
    let status = browser.text(&browser.by_test_id("status"));
    let facts = browser.text(&browser.find_all(".facts")[0]);
    println!("{name}: {status} · {facts}");
}

pub fn heatmap_attributes(browser: &Browser) -> (String, String, String) {
    let heatmap = browser.by_test_id("heatmap");
    let attribute = |name| browser.attribute(&heatmap, name).unwrap_or_default();
    (attribute("data-layer"), attribute("data-head"), attribute("data-mask"))
}

/// The colour the page paints a weight with (its viridis).
pub fn viridis(weight: f32) -> [i64; 3] {
    let (r, g, b) = engine::figure::colour::viridis(weight);
    [r, g, b].map(i64::from)
}

/// The page's diverging scale: blue below 0, white at 0, red above.
pub fn diverging(d: f32) -> [i64; 3] {
    let (r, g, b) = engine::figure::colour::diverging(d);
    [r, g, b].map(i64::from)
}

/// A canvas's pixels as [r, g, b] rows: (side, pixels).
pub fn canvas_pixels(browser: &Browser, css: &str) -> (usize, Vec<[i64; 3]>) {
    let found = browser.execute(
        "const c = document.querySelector(arguments[0]);
         return [c.width, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)];",
        vec![serde_json::json!(css)],
    );
    let rgba: Vec<i64> = found[1].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    (found[0].as_u64().unwrap() as usize, rgba.chunks(4).map(|p| [p[0], p[1], p[2]]).collect())
}

/// One cell of the head grid's canvas (`column` a head, or the layer's mean past the last
/// head), read back as the map it shows: (its columns, its [r, g, b] pixels row by row). The
/// canvas stretches each map over a square by nearest neighbour (app/src/canvas.rs:
/// source row = y · rows / side), so source row a is the square's row ⌈a · side / rows⌉.
pub fn grid_cell_pixels(browser: &Browser, layer: usize, column: usize) -> (usize, Vec<[i64; 3]>) {
    let found = browser.execute(
        "const c = document.querySelector('[data-testid=grid-canvas]');
         const side = +c.dataset.side, columns = +c.dataset.columns;
         const index = arguments[0] * columns + arguments[1];
         const [rows, cols] = c.dataset.cells.split(',')[index].split('x').map(Number);
         const top = Math.floor(index / columns) * (side + 1), left = (index % columns) * (side + 1);
         const data = c.getContext('2d').getImageData(left, top, side, side).data;
         const pixels = [];
         for (let a = 0; a < rows; a++) for (let b = 0; b < cols; b++) {
           const y = Math.ceil(a * side / rows), x = Math.ceil(b * side / cols), at = (y * side + x) * 4;
           pixels.push(data[at], data[at + 1], data[at + 2]);
         }
         return [cols, pixels];",
        vec![serde_json::json!(layer), serde_json::json!(column)],
    );
    let rgb: Vec<i64> = found[1].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    (found[0].as_u64().unwrap() as usize, rgb.chunks(3).map(|p| [p[0], p[1], p[2]]).collect())
}

/// The probe's ten strongest heads as the page ranks them are the first ten of `scores`
/// (ranked), with their induction scores within `tolerance`.
pub fn assert_probe_ranking(browser: &Browser, scores: &[engine::analysis::probe::ProbeScores], tolerance: f32) {
    let rows = browser.execute(
        "return [...document.querySelectorAll('[data-testid=probe-table] tbody tr')].map(tr => [+tr.dataset.layer, +tr.dataset.head, +tr.dataset.induction]);",
        vec![],
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for (row, head) in rows.iter().zip(scores) {
        assert_eq!((row[0].as_u64().unwrap() as usize, row[1].as_u64().unwrap() as usize), (head.layer, head.head));
        assert!((row[2].as_f64().unwrap() as f32 - head.induction).abs() <= tolerance, "L{}H{}", head.layer, head.head);
    }
}

pub fn assert_pixels(what: &str, pixels: &[[i64; 3]], expected: impl Iterator<Item = [i64; 3]>) {
    let expected: Vec<[i64; 3]> = expected.collect();
    assert_eq!(pixels.len(), expected.len(), "{what}: a pixel per expected colour");
    for (i, (got, want)) in pixels.iter().zip(expected).enumerate() {
        assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() <= 1), "{what}: pixel {i} is {got:?}, expected {want:?}");
    }
}

/// The colour at the centre of every cell of the head-detail heatmap, [query, key]
/// row-major (the canvas is drawn at its own size: 110-pixel labels, a 450-pixel grid
/// whose longer side holds `rows` or `columns` cells).
pub fn heatmap_cell_colours(browser: &Browser, tokens: usize) -> Vec<[i64; 3]> {
    heatmap_cells(browser, tokens, tokens)
}

pub fn heatmap_cells(browser: &Browser, rows: usize, columns: usize) -> Vec<[i64; 3]> {
    canvas_cells(browser, "[data-testid=heatmap] canvas", rows, columns)
}

/// [`heatmap_cells`] of any canvas the heatmap figure is drawn on (untitled).
pub fn canvas_cells(browser: &Browser, css: &str, rows: usize, columns: usize) -> Vec<[i64; 3]> {
    let found = browser.execute(
        "const [rows, columns, c] = [arguments[0], arguments[1], document.querySelector(arguments[2])];
         const ctx = c.getContext('2d'), cell = 450 / Math.max(rows, columns), out = [];
         for (let q = 0; q < rows; q++) for (let k = 0; k < columns; k++) {
             const d = ctx.getImageData(Math.floor(110 + (k + 0.5) * cell), Math.floor(10 + (q + 0.5) * cell), 1, 1).data;
             out.push([d[0], d[1], d[2]]);
         }
         return out;",
        vec![serde_json::json!(rows), serde_json::json!(columns), serde_json::json!(css)],
    );
    found.as_array().unwrap().iter().map(|p| [0, 1, 2].map(|c| p[c].as_i64().unwrap())).collect()
}
