//! A long text in the page: its run goes a layer at a time with its progress shown, its
//! maps are kept pooled, the selected head's whole map is computed when asked and shown on a
//! canvas with zoom, pan, a tooltip and a table around the cell under the pointer; the head
//! scores are summed as the run goes. Every number is checked against the engine's native run.

use std::time::Duration;

use attnscope_tests::{root, shared_model, REORDERED};
use engine::analysis::heads::{score_report, Exclusions};
use engine::Mask;

use super::{assert_pixels, assert_probe_ranking, choose, keep_screenshot_of, open_page, paste, viridis, wait_for_run, wait_until_shown, LOAD};

/// About 2,000 tokens of SmolLM2's: the benchmark's longest prompt, fourteen times.
fn long_text() -> String {
    let prompts: Vec<String> = serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/bench/prompts.json")).unwrap()).unwrap();
    vec![prompts.last().unwrap().clone(); 14].join(" ")
}

/// The long table's cells: (query, key, value).
fn table_cells(browser: &attnscope_tests::webdriver::Browser) -> Vec<(usize, usize, f32)> {
    let cells = browser.execute(
        "return [...document.querySelectorAll('[data-testid=long-table] td')].map(td => [td.dataset.query, td.dataset.key, td.dataset.value]);",
        vec![],
    );
    cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().parse().unwrap(), c[1].as_str().unwrap().parse().unwrap(), c[2].as_str().unwrap().parse().unwrap()))
        .collect()
}

/// Waits for the long map of (layer, head) at full resolution.
fn wait_for_whole_map(browser: &attnscope_tests::webdriver::Browser, layer: usize, head: usize) {
    browser.wait_for("the head's whole map", LOAD, || {
        let map = browser.find_all("[data-testid=long-map]").into_iter().next()?;
        let at = |name: &str| browser.attribute(&map, name).unwrap_or_default();
        (at("data-resolution") == "whole" && at("data-layer") == layer.to_string() && at("data-head") == head.to_string()).then_some(())
    });
}

#[test]
fn a_long_text_runs_layer_by_layer_and_any_heads_whole_map_equals_the_engines() {
    let browser = open_page();
    wait_for_run(&browser);
    let text = long_text();
    let model = shared_model("smollm2-135m");
    let t = model.tokenize(&text).unwrap().len();
    assert!((1900..=2200).contains(&t), "{t} tokens");
    let native = model.run_pooled(&text, Mask::Causal, t.div_ceil(app::POOLED_ACROSS), Some(app::LONG_MAX_TOKENS)).unwrap();

    let input = browser.by_test_id("prompt-input");
    paste(&browser, &input, &text);
    // The run tells each layer as it goes, with a bar.
    let status = browser.by_test_id("status");
    let told = browser.wait_for("the layers' progress", LOAD, || {
        let said = browser.text(&status);
        said.starts_with(&format!("A long text ({t} tokens")).then_some(said)
    });
    assert!(told.contains("of 30 layers have attended"), "{told}");
    assert_eq!(browser.find_all("[data-testid=layers-progress]").len(), 1);
    // The grid fills in as the run goes: a layer attended shows its heads' pooled maps (where
    // each looks on average is where the engine's looks), a layer to come is blank.
    let thumb = |layer: usize, head: usize| format!("[data-testid=head-thumb][data-layer='{layer}'][data-head='{head}']");
    let (first, last) = browser.wait_for("the first layer in the grid", LOAD, || {
        let read = browser.execute(
            "const [a, b] = [document.querySelector(arguments[0]), document.querySelector(arguments[1])];
             return [a.dataset.filled, a.dataset.filledCentre, b.dataset.filled];",
            vec![thumb(0, 4).into(), thumb(29, 8).into()],
        );
        (read[0] == "true").then(|| (read[1].as_str().unwrap_or_default().parse::<f32>().unwrap(), read[2].clone()))
    });
    let layer_size = native.report.attention().as_flat().len() / 30;
    let blocks = native.report.attention().tokens();
    let map = &native.report.attention().as_flat()[..layer_size][4 * blocks * blocks..5 * blocks * blocks];
    let centre = app::state::Filling::centre(map);
    assert!((first - centre).abs() <= 1e-3, "layer 0 head 4 while the run goes on: mean column block {first} against the engine's {centre}");
    assert_eq!(last, "false", "the last layer is not attended yet");
    let done = wait_for_run(&browser);
    assert!(done.contains("every map kept pooled into blocks of"), "{done}");
    wait_until_shown(&browser, &text);
    assert!(browser.text(&browser.find_all(".facts")[0]).contains(&format!("{t} tokens")));

    // The selected head's whole map, cell by cell around the middle of the view, is the engine's.
    let (layer, head) = (0, 0);
    wait_for_whole_map(&browser, layer, head);
    let map = browser.by_test_id("long-map");
    assert_eq!(browser.attribute(&map, "data-tokens"), Some(t.to_string()));
    let expected = native.head_map(layer, head).unwrap();
    let check = |layer: usize, head: usize, expected: &[f32]| {
        let cells = table_cells(&browser);
        assert_eq!(cells.len(), 81, "nine rows of nine around the cell");
        for (q, k, value) in cells {
            let theirs = expected[q * t + k];
            // The page's products (WebAssembly) and the engine's native ones sum in different orders.
            assert!((value - theirs).abs() <= REORDERED, "layer {layer} head {head} ({q}, {k}): {value} against {theirs}");
        }
    };
    check(layer, head, &expected);

    // The pointer over a cell: the tooltip names both tokens and the weight, the table follows.
    let canvas = browser.by_test_id("long-map-canvas");
    let side = browser.execute("return arguments[0].getBoundingClientRect().width;", vec![canvas.as_arg()]).as_f64().unwrap();
    let (x, y) = (side * 0.25, side * 0.75);
    browser.hover(&canvas, x as i64, y as i64);
    let tooltip = browser.wait_for("the tooltip", Duration::from_secs(10), || browser.find_all("[data-testid=long-map-tooltip]").into_iter().next());
    let table = browser.by_test_id("long-table");
    let (q, k): (usize, usize) =
        (browser.attribute(&table, "data-query").unwrap().parse().unwrap(), browser.attribute(&table, "data-key").unwrap().parse().unwrap());
    // A pixel holds several tokens across (2,072 over 560 pixels): the pointer lands within one.
    let cell = |at: f64| (at / side * t as f64).floor() as usize;
    let per_pixel = (t as f64 / side).ceil() as usize;
    assert!(q.abs_diff(cell(y)) <= per_pixel && k.abs_diff(cell(x)) <= per_pixel, "({q}, {k}) under the pointer");
    let said = browser.text(&tooltip);
    assert!(said.starts_with(&format!("#{q} ")) && said.contains(&format!(" → #{k} ")), "{said}");
    assert!(said.ends_with(&format!("{:.4}", expected[q * t + k])), "{said}");
    check(layer, head, &expected);

    // The keyboard zooms in around the middle and pans; 0 shows the whole map again.
    let wrap = browser.find_all("[data-testid=long-map] .canvas-wrap").remove(0);
    browser.type_text(&wrap, "++");
    let span: usize = browser.attribute(&map, "data-span").unwrap().parse().unwrap();
    assert!(span < t * 2 / 3, "zoomed in: {span} of {t} tokens across");
    browser.type_text(&wrap, "\u{E015}\u{E014}"); // down, right
    let origin = browser.attribute(&map, "data-origin").unwrap();
    assert_ne!(origin, "0,0", "panned");
    browser.type_text(&wrap, "0");
    assert_eq!(browser.attribute(&map, "data-span"), Some(t.to_string()));
    // A long text's weights are mostly small: on the log scale they show.
    choose(&browser, "long-scale", "log");
    assert_eq!(browser.property(&browser.by_test_id("long-scale"), "value").as_deref(), Some("log"));
    browser.hover(&canvas, x as i64, y as i64);
    keep_screenshot_of(&browser, "long-text", Some("long-map"));

    // Another head: its whole map comes when it is clicked.
    let (layer, head) = (23, 3);
    let thumb = browser.find_all(&format!("[data-testid=head-thumb][data-layer='{layer}'][data-head='{head}']")).remove(0);
    browser.click(&thumb);
    wait_for_whole_map(&browser, layer, head);
    check(layer, head, &native.head_map(layer, head).unwrap());

    // The head scores are the whole maps' scores, summed as the run went.
    let scores = score_report(&native.report, Exclusions::default());
    let shown = browser.execute(
        "return [...document.querySelectorAll('[data-testid=scores-table] tbody tr')].map(tr => [tr.dataset.layer, tr.dataset.head, tr.querySelector('td[data-score=induction]').textContent]);",
        vec![],
    );
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), 270);
    for row in shown {
        let (l, h): (usize, usize) = (row[0].as_str().unwrap().parse().unwrap(), row[1].as_str().unwrap().parse().unwrap());
        let value: f32 = row[2].as_str().unwrap().parse().unwrap();
        let theirs = scores[l * 9 + h].induction;
        assert!((value - theirs).abs() <= 1e-4, "layer {l} head {h} induction: {value} against {theirs}");
    }
    // The token strip shows a window of the tokens, not two thousand buttons.
    assert_eq!(browser.find_all("[data-testid=token]").len(), 200);
    // The views that need whole maps say so.
    assert!(browser.text(&browser.by_test_id("long-note")).contains("at most 128 tokens"));
}

/// A newer text ends a long text's run between its layers: the page shows the newer one,
/// without waiting for the old run to finish.
#[test]
fn a_newer_text_ends_a_long_run_and_is_shown() {
    let browser = open_page();
    wait_for_run(&browser);
    let input = browser.by_test_id("prompt-input");
    paste(&browser, &input, &long_text());
    let status = browser.by_test_id("status");
    browser.wait_for("the long run under way", LOAD, || browser.text(&status).contains("layers have attended").then_some(()));
    let short = "The cat sat on the mat, and then it slept";
    paste(&browser, &input, short);
    wait_until_shown(&browser, short);
    assert!(wait_for_run(&browser).starts_with("Computed in"));
    // A text the page keeps whole: its heatmap, not the long map.
    assert_eq!(browser.find_all("[data-testid=long-map]").len(), 0);
    assert_eq!(browser.find_all("[data-testid=heatmap]").len(), 1);
}

/// Gemma 3 at its longest in the page: 4,096 tokens, on the quantized path the page loads it
/// on. Its windowed layers (five of six) look back at most 512 tokens: their whole maps hold
/// a band along the diagonal and nothing before it, while a global layer reads the whole
/// text. The cells shown equal the engine's native run of the same weights.
#[test]
fn gemma3_at_4096_tokens_shows_its_sliding_window_as_a_band() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "gemma3-270m");
    browser.wait_for("Gemma 3 loaded", LOAD, || browser.text(&browser.by_test_id("weights-note")).starts_with("quantized").then_some(()));
    wait_for_run(&browser);
    let text = vec![long_text(); 2].join(" ");
    let dir = attnscope_tests::model_dir("gemma3-270m");
    let model = engine::Model::from_path_on("gemma3-270m", &dir, engine::WeightChoice::Quantized).unwrap();
    let max = app::LONG_MAX_TOKENS;
    assert!(model.tokenize(&text).unwrap().len() > max, "the text is longer than the page takes");
    // The engine natively, the same weights: the first six layers (five windowed, one global).
    let mut native = model.start_pooled(&text, Mask::Causal, max.div_ceil(app::POOLED_ACROSS), Some(max)).unwrap();
    assert!(model.go_on(&mut native, 6).unwrap().is_none());
    let window = 512;

    let input = browser.by_test_id("prompt-input");
    paste(&browser, &input, &text);
    let done = wait_for_run(&browser);
    assert!(done.contains("every map kept pooled into blocks of"), "{done}");
    wait_until_shown(&browser, &text);
    let map = browser.by_test_id("long-map");
    let canvas = browser.by_test_id("long-map-canvas");
    let side = browser.execute("return arguments[0].getBoundingClientRect().width;", vec![canvas.as_arg()]).as_f64().unwrap();
    // The table around the cell under the pointer at (query, key), against the engine's map.
    let table_at = |layer: usize, head: usize, query: usize, key: usize| -> Vec<(usize, usize, f32)> {
        let at = |token: usize| (token as f64 + 0.5) / max as f64 * side;
        browser.hover(&canvas, at(key) as i64, at(query) as i64);
        let expected = native.head_map(layer, head).unwrap();
        browser.wait_for("the table around the pointer", LOAD, || {
            let cells = table_cells(&browser);
            let near = cells.iter().any(|&(q, k, _)| q.abs_diff(query) <= 4 && k.abs_diff(key) <= 4);
            (cells.len() == 81 && near).then_some(())
        });
        let cells = table_cells(&browser);
        for &(q, k, value) in &cells {
            let theirs = expected[q * max + k];
            assert!((value - theirs).abs() <= REORDERED, "layer {layer} head {head} ({q}, {k}): {value} against {theirs}");
        }
        cells
    };
    for (layer, head) in [(5, 2), (0, 1)] {
        let thumb = browser.find_all(&format!("[data-testid=head-thumb][data-layer='{layer}'][data-head='{head}']")).remove(0);
        browser.click(&thumb);
        wait_for_whole_map(&browser, layer, head);
        assert_eq!(browser.attribute(&map, "data-tokens"), Some(max.to_string()));
        // Near the diagonal, both kinds of layer attend.
        let near = table_at(layer, head, 3600, 3400);
        assert!(near.iter().any(|&(_, _, w)| w > 0.0), "layer {layer} head {head} attends within the window");
        // Far before it, a windowed layer attends to nothing; the global one does.
        let far = table_at(layer, head, 3600, 1000);
        let attended = far.iter().filter(|&&(q, k, w)| q > k + window && w > 0.0).count();
        if layer == 5 {
            assert!(attended > 0, "global layer {layer} reads beyond the window");
        } else {
            assert_eq!(attended, 0, "windowed layer {layer} reads nothing more than {window} tokens back");
        }
    }
    // The README's picture: a windowed layer's band, with the log scale bringing out the
    // small weights within it.
    choose(&browser, "long-scale", "log");
    keep_screenshot_of(&browser, "gemma3-long", Some("long-map"));
}

/// The induction probe at a long text's length: 1,000 random tokens twice (2,001 tokens),
/// run pooled a layer at a time with its progress shown; the ranking is the engine's.
#[test]
fn the_probe_runs_a_thousand_tokens_a_copy_pooled_and_ranks_the_heads_as_the_engine() {
    let browser = open_page();
    wait_for_run(&browser);
    let length = 1000;
    choose(&browser, "probe-length", &length.to_string());
    let status = browser.by_test_id("probe-status");
    assert!(browser.text(&status).starts_with("Runs 1000 random tokens twice"), "{}", browser.text(&status));
    browser.click(&browser.by_test_id("find-induction"));
    let told = browser.wait_for("the probe's progress", LOAD, || {
        let said = browser.text(&status);
        said.contains("layers (four runs, their maps pooled)").then_some(said)
    });
    assert!(told.ends_with("of 120 layers (four runs, their maps pooled)…"), "{told}");
    // Four runs of 2,001 tokens take minutes on one slow thread: the wait lasts as long as
    // the page's count of layers keeps moving.
    browser.wait_while_progressing(
        "the probe",
        LOAD,
        || browser.text(&status),
        || {
            let said = browser.text(&status);
            assert!(!said.starts_with("Error"), "the probe failed: {said}");
            said.starts_with("Probed in").then_some(())
        },
    );
    assert!(browser.text(&status).ends_with("2001 tokens a run."), "{}", browser.text(&status));

    // The engine's probe, pooled as the worker runs it.
    let model = shared_model("smollm2-135m");
    let spec = engine::analysis::probe::ProbeSpec { length, ..Default::default() };
    let (mut scores, first) = model.induction_probe_pooled(&spec, (2 * length + 1).div_ceil(app::POOLED_ACROSS), |_, _| {}).unwrap();
    scores.sort_by(|a, b| b.induction.total_cmp(&a.induction));
    // The page's weights and the engine's native ones differ in their last bits (their products
    // sum in different orders), and the page shows six decimals.
    assert_probe_ranking(&browser, &scores, REORDERED);
    assert!(scores[0].induction > 0.5, "the strongest head inducts at this length too: {}", scores[0].induction);
    // The view: the top head's pooled map, its induction cells marked (a thousand of them).
    let view = browser.by_test_id("probe-view");
    assert_eq!(browser.attribute(&view, "data-marked"), Some(length.to_string()));
    assert_eq!(
        (browser.attribute(&view, "data-layer"), browser.attribute(&view, "data-head")),
        (Some(scores[0].layer.to_string()), Some(scores[0].head.to_string()))
    );
    let caption = browser.text(&browser.find_all("[data-testid=probe-view] figcaption").remove(0));
    assert!(caption.contains("its 2001 tokens in blocks of 16"), "{caption}");
    assert_eq!(first.report.tokens().len(), 2 * length + 1);
    // A block on the induction diagonal is painted with the engine's pooled weight there, a
    // bright one: the top head's weight lies on it.
    let (layer, head, block) = (scores[0].layer, scores[0].head, (2 * length + 1).div_ceil(app::POOLED_ACROSS));
    let (q, k) = engine::analysis::probe::induction_cells(model.frame().0.len(), length).nth(length / 2).unwrap();
    let (qb, kb) = (q / block, k / block);
    let pooled = first.report.attention().weight(layer, head, qb, kb);
    assert!(pooled > 0.2, "the top head's block on the diagonal holds {pooled}");
    let cell = (420.0 / first.report.attention().tokens() as f64).floor().max(2.0);
    let painted = browser.execute(
        "const c = document.querySelector('[data-testid=probe-view] canvas');
         return Array.from(c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data).slice(0, 3);",
        vec![serde_json::json!((kb as f64 + 0.5) * cell), serde_json::json!((qb as f64 + 0.5) * cell)],
    );
    let painted: Vec<i64> = painted.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_pixels("the diagonal's block", &[[painted[0], painted[1], painted[2]]], std::iter::once(viridis(pooled)));
    keep_screenshot_of(&browser, "probe-long", Some("probe-view"));
}
