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

/// Puts `text` in the box at once, as a paste does. (chromedriver types only the
/// Basic Multilingual Plane, so emoji cannot be typed key by key.)
fn paste(browser: &Browser, input: &Element, text: &str) {
    browser.execute(
        "const el = arguments[0]; el.value = arguments[1]; el.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![input.as_arg(), serde_json::json!(text)],
    );
}

/// Eventually the page's table for (layer, head) equals the engine's native numbers
/// within 1e-3 (the page recomputes after a debounce, so the check polls).
fn assert_table_matches_engine(browser: &Browser, model: &str, text: &str, mask: Mask, layer: usize, head: usize) {
    let native = shared_model(model).run_text(text, mask, Some(PAGE_MAX_TOKENS)).unwrap();
    let n = native.tokens.len();
    let mut last_mismatch = String::new();
    browser.wait_for_or(Duration::from_secs(60), || {
        let rows = table_numbers(browser);
        if rows.len() != n || rows.iter().any(|r| r.len() != n) {
            last_mismatch = format!("the table has {} rows, the engine {n} tokens", rows.len());
            return None;
        }
        for (q, row) in rows.iter().enumerate() {
            for (k, &weight) in row.iter().enumerate() {
                let expected = native.attention.weight(layer, head, q, k);
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
fn keep_screenshot(browser: &Browser, name: &str) {
    keep_screenshot_of(browser, name, None);
}

/// [`keep_screenshot`] with the element of a test id scrolled to the top of the window first.
fn keep_screenshot_of(browser: &Browser, name: &str, test_id: Option<&str>) {
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

fn heatmap_attributes(browser: &Browser) -> (String, String, String) {
    let heatmap = browser.by_test_id("heatmap");
    let attribute = |name| browser.attribute(&heatmap, name).unwrap_or_default();
    (attribute("data-layer"), attribute("data-head"), attribute("data-mask"))
}

#[test]
fn default_page_shows_smollm2_and_its_numbers_match_the_engine() {
    let browser = open_page();
    let input = browser.by_test_id("prompt-input");
    assert_eq!(browser.property(&input, "value").as_deref(), Some("The cat sat on the mat"));
    let status = wait_for_run(&browser);
    let facts = browser.text(&browser.find_all(".facts")[0]);
    assert!(facts.contains("smollm2-135m loaded in") && facts.contains("6 tokens"), "{facts}");
    assert!(status.ends_with(" ms"), "the compute time is shown: {status}");
    assert_eq!(heatmap_attributes(&browser), ("0".into(), "0".into(), "causal".into()));
    // SmolLM2: 30 layers, 9 heads.
    assert_eq!(browser.find_all("[data-testid=layer-select] option").len(), 30);
    assert_eq!(browser.find_all("[data-testid=head-select] option").len(), 9);

    choose(&browser, "layer-select", "3");
    choose(&browser, "head-select", "2");
    assert_eq!(heatmap_attributes(&browser), ("3".into(), "2".into(), "causal".into()));
    assert!(browser.find_all("[data-testid=weights-table]").is_empty(), "the table starts hidden");
    browser.click(&browser.by_test_id("table-toggle"));
    assert_table_matches_engine(&browser, "smollm2-135m", "The cat sat on the mat", Mask::Causal, 3, 2);
    let cells = browser.find_all("[data-testid=weights-table] td").len();
    assert_eq!(cells, 36, "one cell per weight");
    keep_screenshot(&browser, "smollm2-table");
}

#[test]
fn typing_recomputes_and_the_unmasked_run_matches_the_engine() {
    let browser = open_page();
    wait_for_run(&browser);
    keep_screenshot(&browser, "smollm2-default");
    let text = "When Mary and John went to the store, John gave a drink to";
    type_text(&browser, &browser.by_test_id("prompt-input"), text);
    choose(&browser, "mask-select", "none");
    choose(&browser, "layer-select", "29");
    choose(&browser, "head-select", "8");
    browser.click(&browser.by_test_id("table-toggle"));
    assert_table_matches_engine(&browser, "smollm2-135m", text, Mask::None, 29, 8);
    assert_eq!(heatmap_attributes(&browser), ("29".into(), "8".into(), "none".into()));
    browser.click(&browser.by_test_id("table-toggle"));
    keep_screenshot(&browser, "smollm2-unmasked");
    browser.click(&browser.by_test_id("table-toggle"));
    // Unmasked, an early query looks ahead: the cell above the diagonal is not zero.
    let rows = table_numbers(&browser);
    assert!(rows[0][1] > 0.0);
}

#[test]
fn minilm_matches_the_engine_under_both_masks() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "all-minilm-l6-v2");
    let text = "The cat sat on the mat";
    browser.wait_for("MiniLM's 6 layers", LOAD, || {
        (browser.find_all("[data-testid=layer-select] option").len() == 6).then_some(())
    });
    wait_for_run(&browser);
    assert_eq!(browser.find_all("[data-testid=head-select] option").len(), 12);
    choose(&browser, "layer-select", "5");
    choose(&browser, "head-select", "11");
    browser.click(&browser.by_test_id("table-toggle"));
    assert_table_matches_engine(&browser, "all-minilm-l6-v2", text, Mask::Causal, 5, 11);
    choose(&browser, "mask-select", "none");
    assert_table_matches_engine(&browser, "all-minilm-l6-v2", text, Mask::None, 5, 11);
    // WordPiece pieces are shown as they are, with [CLS] and [SEP].
    let headers = browser.execute(
        "return [...document.querySelectorAll('[data-testid=weights-table] thead th')].map(th => th.textContent)",
        vec![],
    );
    assert_eq!(headers[1], "[CLS]");
    assert_eq!(headers[8], "[SEP]");
    keep_screenshot(&browser, "minilm-table");
}

#[test]
fn hovering_a_cell_shows_query_key_and_weight() {
    let browser = open_page();
    wait_for_run(&browser);
    let native = shared_model("smollm2-135m").run_text("The cat sat on the mat", Mask::Causal, None).unwrap();
    let canvas = browser.find_all("[data-testid=heatmap] canvas").remove(0);
    // The app's layout for 6 tokens: cells start at (110, 10) canvas pixels and are
    // 450 / 6 wide; the page may draw the 640-pixel canvas smaller.
    let shown = browser.execute("return arguments[0].getBoundingClientRect().width", vec![canvas.as_arg()]);
    let ratio = shown.as_f64().unwrap() / 640.0;
    let cell = 450.0 / 6.0;
    let (q, k) = (5usize, 1usize);
    let (x, y) = (110.0 + (k as f64 + 0.5) * cell, 10.0 + (q as f64 + 0.5) * cell);
    browser.hover(&canvas, (x * ratio) as i64, (y * ratio) as i64);
    let tooltip = browser.by_test_id("heatmap-tooltip");
    let expected = format!("mat → cat: {:.4}", native.attention.weight(0, 0, q, k));
    assert_eq!(browser.text(&tooltip), expected);
    keep_screenshot(&browser, "smollm2-hover");
}

#[test]
fn empty_text_shows_a_message_and_runs_nothing() {
    let browser = open_page();
    wait_for_run(&browser);
    let input = browser.by_test_id("prompt-input");
    browser.clear(&input);
    browser.type_text(&input, "   ");
    let status = browser.by_test_id("status");
    browser.wait_for("the empty-text message", Duration::from_secs(10), || {
        (browser.text(&status) == "The text is empty: type a sentence to see its attention.").then_some(())
    });
    let heatmap = browser.by_test_id("heatmap");
    assert!(browser.attribute(&heatmap, "class").unwrap().contains("empty"), "no map is shown for no text");
}

#[test]
fn long_and_odd_text_is_cut_with_a_notice_and_never_breaks_the_page() {
    let browser = open_page();
    wait_for_run(&browser);
    let input = browser.by_test_id("prompt-input");
    // Pasted at once (typing 10,000 characters key by key would only test patience).
    let long = "The cat sat on the mat. ".repeat(420);
    paste(&browser, &input, &long);
    let notice = browser.by_test_id("notice");
    let text = browser.text(&notice);
    assert!(text.contains("only the first 128 (this page's limit)"), "{text}");
    assert!(browser.text(&browser.find_all(".facts")[0]).contains("128 tokens"));
    keep_screenshot_of(&browser, "long", Some("heatmap"));

    for odd in ["I 🙂 attention 👩‍👩‍👧", "注意力就是你所需要的一切", "الانتباه هو كل ما تحتاجه", "\u{301}", "tab\there\u{0}nul\u{7}bell\u{1b}[31m"] {
        paste(&browser, &input, odd);
        browser.click(&browser.by_test_id("table-toggle"));
        assert_table_matches_engine(&browser, "smollm2-135m", odd, Mask::Causal, 0, 0);
        browser.click(&browser.by_test_id("table-toggle"));
    }
}

#[test]
fn a_missing_model_file_is_reported_in_the_page() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "missing-model");
    let status = browser.by_test_id("status");
    let text = browser.wait_for("the error", LOAD, || {
        let text = browser.text(&status);
        text.starts_with("Error").then_some(text)
    });
    assert!(text.contains("cannot fetch models/missing-model/missing.gguf: 404"), "{text}");
}

/// The colour a weight is painted with (the app's viridis, nine points, linear between).
fn viridis(weight: f32) -> [i64; 3] {
    const POINTS: [[f32; 3]; 9] = [
        [68., 1., 84.], [71., 44., 122.], [59., 81., 139.], [44., 113., 142.], [33., 144., 141.],
        [39., 173., 129.], [92., 200., 99.], [170., 220., 50.], [253., 231., 37.],
    ];
    let x = weight.clamp(0.0, 1.0) * 8.0;
    let i = (x.floor() as usize).min(7);
    let t = x - i as f32;
    [0, 1, 2].map(|c| (POINTS[i][c] + (POINTS[i + 1][c] - POINTS[i][c]) * t).round() as i64)
}

#[test]
fn the_head_grid_shows_every_head_and_selects_by_click_and_arrow_keys() {
    let browser = open_page();
    wait_for_run(&browser);
    let grid = browser.by_test_id("head-grid");
    assert_eq!(browser.find_all("[data-testid=head-thumb]").len(), 270, "30 layers × 9 heads");
    assert_eq!(browser.find_all("[data-testid=layer-mean]").len(), 30);

    // Every thumbnail is the head's map, a pixel per weight: check one against the engine.
    let native = shared_model("smollm2-135m").run_text("The cat sat on the mat", Mask::Causal, None).unwrap();
    let (layer, head) = (12, 4);
    let pixels = browser.execute(
        "const c = document.querySelector(`[data-testid=head-thumb][data-layer='${arguments[0]}'][data-head='${arguments[1]}'] canvas`);
         return [c.width, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)];",
        vec![serde_json::json!(layer), serde_json::json!(head)],
    );
    assert_eq!(pixels[0], 6);
    let rgba: Vec<i64> = pixels[1].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    for q in 0..6 {
        for k in 0..6 {
            let expected = viridis(native.attention.weight(layer, head, q, k));
            let at = (q * 6 + k) * 4;
            for c in 0..3 {
                assert!((rgba[at + c] - expected[c]).abs() <= 1, "pixel ({q}, {k}) is {:?}, expected {expected:?}", &rgba[at..at + 3]);
            }
        }
    }

    // A click selects the head everywhere: the pickers, the heatmap, the outline.
    let thumb = browser.find_all("[data-testid=head-thumb][data-layer='4'][data-head='5']").remove(0);
    browser.click(&thumb);
    assert_eq!(heatmap_attributes(&browser), ("4".into(), "5".into(), "causal".into()));
    assert_eq!(browser.property(&browser.by_test_id("layer-select"), "value").as_deref(), Some("4"));
    assert_eq!(browser.attribute(&thumb, "aria-selected").as_deref(), Some("true"));
    assert!(browser.attribute(&thumb, "class").unwrap().contains("selected"));

    // The arrow keys move it: right, right, down, left, up.
    const RIGHT: &str = "\u{E014}";
    const LEFT: &str = "\u{E012}";
    const UP: &str = "\u{E013}";
    const DOWN: &str = "\u{E015}";
    browser.type_text(&grid, &format!("{RIGHT}{RIGHT}{DOWN}"));
    assert_eq!(heatmap_attributes(&browser), ("5".into(), "7".into(), "causal".into()));
    browser.type_text(&grid, &format!("{LEFT}{UP}{UP}"));
    assert_eq!(heatmap_attributes(&browser), ("3".into(), "6".into(), "causal".into()));
    let selected = browser.find_all("[data-testid=head-thumb][aria-selected=true]");
    assert_eq!(selected.len(), 1);
    assert_eq!(browser.attribute(&selected[0], "data-layer").as_deref(), Some("3"));
    keep_screenshot(&browser, "head-grid");
}

#[test]
fn next_token_bars_show_the_engines_guess() {
    let browser = open_page();
    wait_for_run(&browser);
    let native = shared_model("smollm2-135m").run_text("The cat sat on the mat", Mask::Causal, None).unwrap();
    let expected = native.next_tokens.unwrap();
    let list = browser.by_test_id("next-tokens");
    let items = browser.execute(
        "return [...arguments[0].querySelectorAll('li')].map(li => [li.dataset.tokenId, li.dataset.probability, li.textContent]);",
        vec![list.as_arg()],
    );
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 10);
    for (item, token) in items.iter().zip(&expected) {
        assert_eq!(item[0].as_str().unwrap(), token.id.to_string());
        let shown: f32 = item[1].as_str().unwrap().parse().unwrap();
        assert!((shown - token.probability).abs() < 1e-4, "{}: {shown} vs {}", token.text, token.probability);
    }
    assert!(items[0][2].as_str().unwrap().starts_with('.'), "the top guess after 'The cat sat on the mat' is '.'");
    // Unmasked, there is no guess to show.
    choose(&browser, "mask-select", "none");
    browser.wait_for("the guess to go", Duration::from_secs(30), || {
        browser.find_all("[data-testid=next-tokens]").is_empty().then_some(())
    });
}

#[test]
fn the_lines_tab_draws_each_weight_and_hovering_a_token_keeps_its_lines() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "layer-select", "2");
    choose(&browser, "head-select", "1");
    browser.click(&browser.by_test_id("tab-lines"));
    let view = browser.by_test_id("lines-view");
    assert!(browser.find_all("[data-testid=heatmap]").iter().all(|h| browser.text(h).is_empty()), "the map is hidden");
    let native = shared_model("smollm2-135m").run_text("The cat sat on the mat", Mask::Causal, None).unwrap();
    let lines = |browser: &Browser| -> Vec<(usize, usize, f32)> {
        let found = browser.execute(
            "return [...arguments[0].querySelectorAll('line')].map(l => [l.dataset.query, l.dataset.key, l.getAttribute('stroke-opacity')]);",
            vec![view.as_arg()],
        );
        found.as_array().unwrap().iter()
            .map(|l| (l[0].as_str().unwrap().parse().unwrap(), l[1].as_str().unwrap().parse().unwrap(), l[2].as_str().unwrap().parse().unwrap()))
            .collect()
    };
    let all = lines(&browser);
    let visible = (0..6).flat_map(|q| (0..6).map(move |k| (q, k))).filter(|&(q, k)| native.attention.weight(2, 1, q, k) >= 0.005).count();
    assert_eq!(all.len(), visible, "a line for every visible weight");
    for (q, k, opacity) in &all {
        assert!((opacity - native.attention.weight(2, 1, *q, *k)).abs() < 1e-3, "line ({q}, {k})");
    }
    // Hover the query "mat": only its lines stay.
    let mat = browser.find_all("[data-testid=lines-view] text.query-token[data-index='5']").remove(0);
    browser.hover_centre(&mat);
    let only = browser.wait_for("the hovered token's lines", Duration::from_secs(5), || {
        let shown = lines(&browser);
        (shown.len() < all.len()).then_some(shown)
    });
    assert!(!only.is_empty() && only.iter().all(|(q, _, _)| *q == 5), "{only:?}");
    keep_screenshot(&browser, "lines");
}

/// The math view's rows: (q·k, scaled, weight, model's weight) per key.
fn math_rows(browser: &Browser) -> Vec<[f32; 4]> {
    let rows = browser.execute(
        "return [...document.querySelectorAll('[data-testid=math-view] tbody tr')].map(tr =>
            ['dot', 'scaled', 'weight', 'model'].map(c => tr.querySelector('td.' + c).textContent));",
        vec![],
    );
    rows.as_array().unwrap().iter()
        .map(|r| [0, 1, 2, 3].map(|i| r[i].as_str().unwrap().parse().unwrap()))
        .collect()
}

#[test]
fn the_math_tab_steps_the_real_scores_and_its_toggles_do_what_they_say() {
    use engine::analysis::arithmetic::{steps, visible_keys, Recipe};
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "layer-select", "4");
    choose(&browser, "head-select", "3");
    browser.click(&browser.by_test_id("tab-math"));
    let text = "The cat sat on the mat";
    let options = engine::RunOptions { scores_of_layer: Some(4), max_tokens: Some(PAGE_MAX_TOKENS) };
    let native = shared_model("smollm2-135m").run_text_with(text, Mask::Causal, options).unwrap();
    let scores = native.scores.as_ref().unwrap();
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-3 * b.abs().max(1.0);

    let check = |query: usize, recipe: Recipe, what: &str| {
        let expected = steps(&scores.dot[3][query], &visible_keys(query, 6, true), scores.head_dim, recipe);
        let mut last = Vec::new();
        let matched = browser.wait_for_or(Duration::from_secs(30), || {
            last = math_rows(&browser);
            let ok = last.len() == 6
                && last.iter().enumerate().all(|(k, r)| {
                    close(r[0], expected.dot[k]) && close(r[1], expected.scaled[k]) && close(r[2], expected.weights[k])
                        && close(r[3], native.attention.weight(4, 3, query, k))
                });
            ok.then_some(())
        });
        assert!(matched.is_some(), "{what}: the page shows {last:?}, expected {expected:?}");
    };
    // The model's own arithmetic: the weights are the model's row, for the last token.
    check(5, Recipe::default(), "defaults");
    choose(&browser, "math-query", "3");
    check(3, Recipe::default(), "query 3");
    browser.click(&browser.by_test_id("math-scale"));
    check(3, Recipe { scale: false, ..Recipe::default() }, "without the scaling");
    browser.click(&browser.by_test_id("math-scale"));
    browser.click(&browser.by_test_id("math-hard"));
    check(3, Recipe { hard: true, ..Recipe::default() }, "hard attention");
    browser.click(&browser.by_test_id("math-hard"));
    let slider = browser.by_test_id("math-temperature");
    browser.execute(
        "const el = arguments[0]; el.value = '2'; el.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![slider.as_arg()],
    );
    check(3, Recipe { temperature: 2.0, ..Recipe::default() }, "temperature 2");
    keep_screenshot(&browser, "math");
}

/// The app's diverging scale: blue below 0, white at 0, red above.
fn diverging(d: f32) -> [i64; 3] {
    let d = d.clamp(-1.0, 1.0);
    let fade = |full: f32| (255.0 - (255.0 - full) * d.abs()).round() as i64;
    if d >= 0.0 { [fade(178.0), fade(24.0), fade(43.0)] } else { [fade(33.0), fade(102.0), fade(172.0)] }
}

/// A canvas's pixels as [r, g, b] rows: (side, pixels).
fn canvas_pixels(browser: &Browser, css: &str) -> (usize, Vec<[i64; 3]>) {
    let found = browser.execute(
        "const c = document.querySelector(arguments[0]);
         return [c.width, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)];",
        vec![serde_json::json!(css)],
    );
    let rgba: Vec<i64> = found[1].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    (found[0].as_u64().unwrap() as usize, rgba.chunks(4).map(|p| [p[0], p[1], p[2]]).collect())
}

fn assert_pixels(what: &str, pixels: &[[i64; 3]], expected: impl Iterator<Item = [i64; 3]>) {
    for (i, (got, want)) in pixels.iter().zip(expected).enumerate() {
        assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() <= 1), "{what}: pixel {i} is {got:?}, expected {want:?}");
    }
}

#[test]
fn comparing_masks_shows_both_maps_their_difference_and_the_lookahead_mass() {
    use engine::analysis::summary::lookahead_mass;
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "layer-select", "10");
    choose(&browser, "head-select", "2");
    assert!(browser.find_all("[data-testid=compare-view]").is_empty(), "the comparison starts hidden");
    browser.click(&browser.by_test_id("compare-toggle"));
    let view = browser.by_test_id("compare-view");
    browser.wait_for("both masks", LOAD, || browser.text(&view).starts_with("Layer 10, head 2").then_some(()));

    let model = shared_model("smollm2-135m");
    let text = "The cat sat on the mat";
    let causal = model.run_text(text, Mask::Causal, None).unwrap();
    let unmasked = model.run_text(text, Mask::None, None).unwrap();
    let (side, pixels) = canvas_pixels(&browser, "[data-testid=diff-map] canvas");
    assert_eq!(side, 6);
    let diff = unmasked.attention.head(10, 2).iter().zip(causal.attention.head(10, 2)).map(|(u, c)| diverging(u - c));
    assert_pixels("diff-map", &pixels, diff);
    let (_, pixels) = canvas_pixels(&browser, "[data-testid=unmasked-map] canvas");
    assert_pixels("unmasked-map", &pixels, unmasked.attention.head(10, 2).iter().map(|&w| viridis(w)));
    let (_, pixels) = canvas_pixels(&browser, "[data-testid=causal-map] canvas");
    assert_pixels("causal-map", &pixels, causal.attention.head(10, 2).iter().map(|&w| viridis(w)));

    let mass = lookahead_mass(&unmasked.attention);
    let rows = browser.execute(
        "return [...document.querySelectorAll('[data-testid=lookahead-table] tr')].map(tr => [tr.dataset.layer, tr.dataset.head, tr.dataset.mass]);",
        vec![],
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 9, "one row per head of the layer");
    for row in rows {
        let (layer, head): (usize, usize) = (row[0].as_str().unwrap().parse().unwrap(), row[1].as_str().unwrap().parse().unwrap());
        let shown: f32 = row[2].as_str().unwrap().parse().unwrap();
        assert_eq!(layer, 10);
        assert!((shown - mass[10][head]).abs() < 1e-4, "head {head}: {shown} vs {}", mass[10][head]);
    }
    keep_screenshot_of(&browser, "compare", Some("compare-view"));

    // The grid coloured by that mass: each thumbnail one colour, the largest mass brightest.
    choose(&browser, "grid-colour", "lookahead");
    let top = mass.iter().flatten().copied().fold(f32::MIN_POSITIVE, f32::max);
    for (layer, head) in [(0, 0), (10, 2), (29, 8)] {
        let css = format!("[data-testid=head-thumb][data-layer='{layer}'][data-head='{head}'] canvas");
        let (side, pixels) = browser.wait_for("a one-colour thumbnail", Duration::from_secs(10), || {
            let found = canvas_pixels(&browser, &css);
            (found.0 == 1).then_some(found)
        });
        assert_eq!(side, 1);
        assert_pixels(&format!("thumb {layer}/{head}"), &pixels, std::iter::once(viridis(mass[layer][head] / top)));
    }
}

#[test]
fn hovering_a_token_highlights_it_everywhere_and_a_click_pins_it() {
    let browser = open_page();
    wait_for_run(&browser);
    browser.click(&browser.by_test_id("table-toggle"));
    let tokens = browser.find_all("[data-testid=token-strip] [data-testid=token]");
    assert_eq!(tokens.len(), 6);
    assert_eq!(browser.text(&tokens[1]), "cat");
    let focus = |browser: &Browser| browser.attribute(&browser.by_test_id("heatmap"), "data-focus");
    let table_focus = |browser: &Browser| {
        browser.execute(
            "const t = document.querySelector('[data-testid=weights-table]');
             return [[...t.querySelectorAll('tbody tr')].findIndex(tr => tr.classList.contains('focused')),
                     [...t.querySelectorAll('tbody tr:first-child td')].findIndex(td => td.classList.contains('focused'))];",
            vec![],
        )
    };
    browser.hover_centre(&tokens[1]);
    browser.wait_for("the hovered token", Duration::from_secs(5), || (focus(&browser).as_deref() == Some("1")).then_some(()));
    assert_eq!(table_focus(&browser), serde_json::json!([1, 1]), "row 1 (what it attends to) and column 1 (what attends to it)");
    browser.hover_centre(&browser.by_test_id("status"));
    browser.wait_for("no focus", Duration::from_secs(5), || focus(&browser).is_none().then_some(()));

    browser.click(&tokens[4]);
    browser.hover_centre(&browser.by_test_id("status"));
    assert_eq!(focus(&browser).as_deref(), Some("4"), "a pinned token stays highlighted");
    assert_eq!(browser.attribute(&tokens[4], "aria-pressed").as_deref(), Some("true"));
    assert_eq!(table_focus(&browser), serde_json::json!([4, 4]));
    keep_screenshot_of(&browser, "tokens", Some("token-strip"));
    // The pixel maps show it too: the selected thumbnail and the comparison's three maps.
    browser.click(&browser.by_test_id("compare-toggle"));
    browser.wait_for("the comparison", LOAD, || browser.text(&browser.by_test_id("compare-view")).starts_with("Layer").then_some(()));
    for map in ["[data-testid=head-thumb][aria-selected=true]", "[data-testid=causal-map]", "[data-testid=unmasked-map]", "[data-testid=diff-map]"] {
        let bands = browser.find_all(&format!("{map} .focus-row"));
        assert_eq!(bands.len(), 1, "{map}");
        let style = browser.attribute(&bands[0], "style").unwrap();
        assert!(style.contains("top: 66.667%"), "{map}: token 4 of 6 starts two thirds down: {style}");
    }
    browser.click(&browser.by_test_id("compare-toggle"));
    browser.click(&tokens[4]);
    browser.hover_centre(&browser.by_test_id("status"));
    browser.wait_for("the pin released", Duration::from_secs(5), || focus(&browser).is_none().then_some(()));
}

#[test]
fn a_copied_link_opens_the_same_view_in_a_fresh_page() {
    let browser = open_page();
    wait_for_run(&browser);
    let text = "Attention is all you need: 12345 tokens, naïve café";
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    choose(&browser, "mask-select", "none");
    choose(&browser, "layer-select", "7");
    choose(&browser, "head-select", "4");
    browser.click(&browser.by_test_id("tab-lines"));
    browser.wait_for("the new text's tokens", Duration::from_secs(30), || {
        (browser.find_all("[data-testid=token]").len() > 10).then_some(())
    });
    browser.click(&browser.find_all("[data-testid=token][data-index='3']").remove(0));
    browser.click(&browser.by_test_id("copy-link"));
    let link = browser.attribute(&browser.by_test_id("copied-link"), "href").expect("the link is shown");
    assert!(link.starts_with(&app_url()), "{link}");
    drop(browser);

    let fresh = Browser::start();
    fresh.goto(&link);
    wait_for_run(&fresh);
    assert_eq!(fresh.property(&fresh.by_test_id("prompt-input"), "value").as_deref(), Some(text));
    assert_eq!(heatmap_attributes(&fresh), ("7".into(), "4".into(), "none".into()));
    assert_eq!(fresh.attribute(&fresh.by_test_id("tab-lines"), "aria-selected").as_deref(), Some("true"));
    fresh.by_test_id("lines-view");
    let pinned = fresh.find_all("[data-testid=token][aria-pressed=true]");
    assert_eq!(pinned.len(), 1);
    assert_eq!(fresh.attribute(&pinned[0], "data-index").as_deref(), Some("3"));
    // And the numbers are this text's under this mask.
    fresh.click(&fresh.by_test_id("tab-table"));
    assert_table_matches_engine(&fresh, "smollm2-135m", text, Mask::None, 7, 4);
}

#[test]
fn the_colour_scale_can_be_chosen() {
    let browser = open_page();
    wait_for_run(&browser);
    let native = shared_model("smollm2-135m").run_text("The cat sat on the mat", Mask::Causal, None).unwrap();
    choose(&browser, "colour-scale", "greys");
    // The cell (query 5, key 0) of layer 0, head 0, read at its centre on the canvas.
    let (q, k) = (5.0, 0.0);
    let (x, y) = (110.0 + (k + 0.5) * 75.0, 10.0 + (q + 0.5) * 75.0);
    let expected = ((1.0 - native.attention.weight(0, 0, 5, 0)) * 255.0).round() as i64;
    let pixel = browser.wait_for("the grey map", Duration::from_secs(10), || {
        let found = browser.execute(
            "const c = document.querySelector('[data-testid=heatmap] canvas');
             return Array.from(c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data);",
            vec![serde_json::json!(x), serde_json::json!(y)],
        );
        let p: Vec<i64> = found.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        (p[0] == p[1] && p[1] == p[2]).then_some(p)
    });
    assert!((pixel[0] - expected).abs() <= 1, "grey {} for weight {}", pixel[0], native.attention.weight(0, 0, 5, 0));
}

#[test]
fn a_phone_sized_window_never_scrolls_sideways() {
    let browser = open_page();
    wait_for_run(&browser);
    for (width, height) in [(390, 844), (1280, 800)] {
        browser.set_window_size(width, height);
        for tab in ["heatmap", "lines", "table", "math"] {
            browser.click(&browser.by_test_id(&format!("tab-{tab}")));
            if tab == "math" {
                browser.wait_for("the math table", Duration::from_secs(30), || {
                    (!browser.find_all("[data-testid=math-view] tbody tr").is_empty()).then_some(())
                });
            }
            let overflow = browser.execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            );
            let (scroll, client) = (overflow[0].as_i64().unwrap(), overflow[1].as_i64().unwrap());
            let culprits = browser.execute(
                "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                    .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));",
                vec![],
            );
            assert!(scroll <= client, "{width}×{height}, {tab} tab: the page is {scroll} wide in a {client} window: {culprits}");
        }
        if width == 390 {
            browser.click(&browser.by_test_id("tab-heatmap"));
            keep_screenshot_of(&browser, "phone", Some("prompt-input"));
        }
    }
}

#[test]
fn the_theme_follows_the_system() {
    for (scheme, background) in [("1", "rgb(251, 251, 253)"), ("0", "rgb(21, 22, 28)")] {
        // Chromium's preferredColorScheme: 0 is dark, 1 is light.
        let browser = Browser::start_with(&[&format!("--blink-settings=preferredColorScheme={scheme}")]);
        browser.goto(&app_url());
        wait_for_run(&browser);
        let shown = browser.execute("return getComputedStyle(document.documentElement).backgroundColor", vec![]);
        assert_eq!(shown, background, "preferredColorScheme={scheme}");
        if scheme == "0" {
            keep_screenshot(&browser, "dark");
        }
    }
}
