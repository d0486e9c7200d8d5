//! What a first visit trips over: buttons pressed too early, pictures without labels
//! or about nothing, requests the page cannot answer. Each test here failed before
//! its mend.

use std::time::Duration;

use app::components::token_label;
use attnscope_tests::serve::{Gate, Site, StaticServer};
use attnscope_tests::webdriver::Browser;
use attnscope_tests::{root, shared_model};
use engine::analysis::probe::{induction_cells, ProbeScores, ProbeSpec};
use serde_json::Value;

use super::*;

/// The engine's probe as the CLI runs it: every head ranked, the first seed's report,
/// and the cells an induction head looks at.
fn native_probe() -> (Vec<ProbeScores>, engine::AttentionReport, Vec<(usize, usize)>) {
    let model = shared_model("smollm2-135m");
    let spec = ProbeSpec::default();
    let (mut scores, first) = model.induction_probe(&spec, |_, _| {}).unwrap();
    scores.sort_by(|a, b| b.induction.total_cmp(&a.induction));
    let cells = induction_cells(model.frame().0.len(), spec.length).collect();
    (scores, first, cells)
}

fn wait_for_probe(browser: &Browser) {
    let status = browser.by_test_id("probe-status");
    browser.wait_for("the probe", LOAD, || {
        let text = browser.text(&status);
        assert!(!text.starts_with("Error"), "the probe failed: {text}");
        text.starts_with("Probed in").then_some(())
    });
}

/// The probe view names the head it shows and marks the engine's induction cells.
fn assert_probe_view_shows(browser: &Browser, layer: usize, head: usize, cells: &[(usize, usize)]) {
    let view = browser.by_test_id("probe-view");
    let shown = |name| browser.attribute(&view, name).unwrap_or_default();
    assert_eq!((shown("data-layer"), shown("data-head")), (layer.to_string(), head.to_string()));
    let caption = browser.text(&browser.find_all("[data-testid=probe-view] figcaption").remove(0));
    assert!(caption.starts_with(&format!("Layer {layer}, head {head},")), "the caption names the head: {caption}");
    let marked: Vec<String> = cells.iter().map(|(q, k)| format!("{q},{k}")).collect();
    assert_eq!(shown("data-cells"), marked.join(";"), "the marked cells are the engine's");
}

#[test]
fn find_induction_heads_pressed_while_the_model_loads_waits_and_then_runs() {
    // The model's files are held back, so the page is certainly still loading.
    let gate = Gate::default();
    let server = StaticServer::serve(Site { root: root().join("dist"), held: Some(("models/".into(), gate.clone())), ..Site::default() });
    let browser = Browser::start();
    browser.goto(&server.url());
    let status = browser.by_test_id("status");
    browser.wait_for("the model loading", Duration::from_secs(60), || browser.text(&status).starts_with("Loading").then_some(()));

    // While it loads, the map's frame says what it waits for; no caption describes a map
    // that is not there, and the pickers show what is selected.
    let placeholder = browser.text(&browser.by_test_id("map-placeholder"));
    assert_eq!(placeholder, "The map appears here once the model has loaded.");
    let caption = browser.find_all("[data-testid=heatmap] figcaption").remove(0);
    assert_eq!(browser.text(&caption), "", "the heatmap's caption is hidden while there is no map");
    assert!(browser.text(&browser.by_test_id("scores-placeholder")).starts_with("Every head's scores"));
    let layer = browser.execute("return document.querySelector('[data-testid=layer-select]').selectedOptions[0]?.textContent ?? '';", vec![]);
    assert_eq!(layer, serde_json::json!("Layer 0"));

    let find = browser.by_test_id("find-induction");
    browser.click(&find);
    let probe_status = browser.text(&browser.by_test_id("probe-status"));
    assert!(probe_status.starts_with("Waiting for the model"), "the page says the probe waits: {probe_status}");
    let disabled = browser.execute("return arguments[0].disabled;", vec![find.as_arg()]);
    assert_eq!(disabled, serde_json::json!(true), "no second press while it waits");

    gate.open();
    wait_for_probe(&browser);
    wait_for_run(&browser);
    assert!(browser.find_all("[data-testid=map-placeholder]").is_empty(), "the map replaces the placeholder");
    assert!(browser.find_all("[data-testid=scores-placeholder]").is_empty(), "the scores replace theirs");
    let (scores, _, cells) = native_probe();
    assert_probe_view_shows(&browser, scores[0].layer, scores[0].head, &cells);
    assert_eq!(browser.find_all("[data-testid=probe-table] tbody tr").len(), 10);
}

#[test]
fn the_probe_opens_on_the_strongest_induction_head_and_shows_nothing_before_it_runs() {
    let browser = open_page();
    wait_for_run(&browser);
    // Before the probe: no empty frame, no caption about a map that is not there.
    assert!(browser.find_all("[data-testid=probe-view]").is_empty(), "no probe view before the probe");
    assert!(browser.find_all(".probe-panel figure, .probe-panel figcaption, .probe-panel canvas").is_empty());
    browser.click(&browser.by_test_id("find-induction"));
    wait_for_probe(&browser);

    // The ranking: the CLI's numbers (the engine's probe with the same length and seeds).
    let (scores, first, cells) = native_probe();
    assert_probe_ranking(&browser, &scores, 1e-3);

    // Without a click, the view shows the top head (the grid still has L0 H0 selected).
    let (layer, head) = (scores[0].layer, scores[0].head);
    assert_eq!(heatmap_attributes(&browser).0, "0");
    assert_probe_view_shows(&browser, layer, head, &cells);
    let n = first.tokens().len();
    assert_eq!(n, 101, "a first token and 50 random tokens twice");
    let cell = (420.0 / n as f64).floor().max(2.0);
    let pixel = |x: f64, y: f64| -> [i64; 3] {
        let found = browser.execute(
            "const c = document.querySelector('[data-testid=probe-view] canvas');
             return Array.from(c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data);",
            vec![serde_json::json!(x), serde_json::json!(y)],
        );
        let rgba: Vec<i64> = found.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        [rgba[0], rgba[1], rgba[2]]
    };
    // An induction cell's centre is its weight's colour, and its edge is outlined in red.
    let (q, k) = cells[10];
    assert_pixels(
        "induction cell",
        &[pixel((k as f64 + 0.5) * cell, (q as f64 + 0.5) * cell)],
        std::iter::once(viridis(first.attention().weight(layer, head, q, k))),
    );
    assert!(first.attention().weight(layer, head, q, k) > 0.3, "the top head looks where induction says");
    assert_pixels("outline", &[pixel(k as f64 * cell, (q as f64 + 0.5) * cell)], std::iter::once([230, 57, 70]));
    keep_screenshot_of(&browser, "probe", Some("probe-view"));

    // Another row of the ranking shows that head, in the probe view and the grid.
    let second = browser.find_all("[data-testid=probe-table] tbody tr").remove(1);
    browser.click(&second);
    assert_probe_view_shows(&browser, scores[1].layer, scores[1].head, &cells);
    assert_eq!(heatmap_attributes(&browser).0, scores[1].layer.to_string());
}

/// Every element's text and box (left, top, right, bottom) for a selector.
fn boxes(browser: &Browser, css: &str) -> Vec<(String, [f64; 4])> {
    boxes_and_fonts(browser, css).into_iter().map(|(text, rect, _)| (text, rect)).collect()
}

/// Labels' texts and boxes; each must be drawn at 9 px or more.
fn labels(browser: &Browser, css: &str) -> Vec<(String, [f64; 4])> {
    let found = boxes_and_fonts(browser, css);
    for (text, _, font) in &found {
        assert!(*font >= 9.0, "{css}: “{text}” is drawn at {font} px");
    }
    found.into_iter().map(|(text, rect, _)| (text, rect)).collect()
}

/// Every element's text, box and font size for a selector.
fn boxes_and_fonts(browser: &Browser, css: &str) -> Vec<(String, [f64; 4], f64)> {
    let found = browser.execute(
        "return [...document.querySelectorAll(arguments[0])].map(e => {
             const r = e.getBoundingClientRect();
             return [e.textContent, r.left, r.top, r.right, r.bottom, parseFloat(getComputedStyle(e).fontSize)];
         });",
        vec![serde_json::json!(css)],
    );
    let number = |v: &Value| v.as_f64().unwrap();
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b[0].as_str().unwrap().to_string(), [number(&b[1]), number(&b[2]), number(&b[3]), number(&b[4])], number(&b[5])))
        .collect()
}

/// Each label is a box that can be seen, and every two are at least `gap` pixels apart
/// (across for labels side by side, down for labels one above the other): words that
/// touch read as one ("thestore").
fn assert_apart(what: &str, labels: &[(String, [f64; 4])], gap: f64) {
    for (i, (text, [l, t, r, b])) in labels.iter().enumerate() {
        assert!(r - l > 1.0 && b - t > 1.0, "{what}: label {i} ({text}) has no room");
        for (other, [l2, t2, r2, b2]) in &labels[i + 1..] {
            let apart = (l2 - r).max(l - r2).max(t2 - b).max(t - b2);
            assert!(apart >= gap - 0.01, "{what}: “{text}” and “{other}” are {apart:.1} px apart, less than {gap}");
        }
    }
}

const FOURTEEN_TOKENS: &str = "When Mary and John went to the store, John gave a drink to";

#[test]
fn the_rollouts_labels_are_legible_at_fourteen_tokens() {
    let browser = open_page();
    wait_for_run(&browser);
    type_text(&browser, &browser.by_test_id("prompt-input"), FOURTEEN_TOKENS);
    wait_until_shown(&browser, FOURTEEN_TOKENS);
    let report = shared_model("smollm2-135m").run_text(FOURTEEN_TOKENS, Mask::Causal, None).unwrap();
    assert_eq!(report.tokens().len(), 14);
    let labels = browser.wait_for("the rollout of the new text", Duration::from_secs(60), || {
        let labels = labels(&browser, "[data-testid=rollout-view] .rollout-token");
        (labels.len() == 14).then_some(labels)
    });
    let expected: Vec<String> = report.tokens().iter().map(|t| token_label(&t.text)).collect();
    assert_eq!(labels.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(), expected);
    // Side by side, a quarter of the 12-pixel font between words, as a space would be.
    assert_apart("rollout", &labels, 3.0);
    // Each label sits under its own bar.
    let bars = boxes(&browser, "[data-testid=rollout-view] .rollout-track");
    for ((text, [l, _, r, _]), (_, [bl, _, br, _])) in labels.iter().zip(&bars) {
        let centre = (l + r) / 2.0;
        assert!(*bl <= centre && centre <= *br, "“{text}” is not under its bar");
    }
    keep_screenshot_of(&browser, "rollout-long", Some("rollout-panel"));
}

#[test]
fn the_mask_comparisons_maps_have_their_tokens_on_both_axes() {
    let browser = open_page();
    wait_for_run(&browser);
    browser.click(&browser.by_test_id("compare-toggle"));
    for text in
        [OPENING_TEXT, "The quick brown fox jumps over the lazy dog while the cat sat on the mat and the bird sang in the tall green tree near the river"]
    {
        type_text(&browser, &browser.by_test_id("prompt-input"), text);
        let report = shared_model("smollm2-135m").run_text(text, Mask::Causal, None).unwrap();
        let n = report.tokens().len();
        // The text's own maps under both masks (not those of a text typed on the way).
        wait_until_shown(&browser, text);
        let view = browser.by_test_id("compare-view");
        browser.wait_for("both masks", LOAD, || browser.text(&view).starts_with("Layer 0, head 0").then_some(()));
        for map in ["causal-map", "unmasked-map", "diff-map"] {
            for (axis, rows) in [("query-labels", true), ("key-labels", false)] {
                let css = format!("[data-testid={map}] .{axis} li");
                let indices =
                    browser.execute("return [...document.querySelectorAll(arguments[0])].map(li => +li.dataset.index);", vec![serde_json::json!(css)]);
                // The labels and the map read while the layout stands still (on a busy machine
                // the page may still be laying out a line above between two reads).
                let canvas_css = format!("[data-testid={map}] canvas");
                let (labels, canvas) = browser.wait_for("a layout standing still", Duration::from_secs(30), || {
                    let before = boxes(&browser, &canvas_css).remove(0).1;
                    let labels = labels(&browser, &css);
                    let after = boxes(&browser, &canvas_css).remove(0).1;
                    (before == after).then_some((labels, after))
                });
                let cell = (canvas[3] - canvas[1]) / n as f64;
                // Thinned only as much as legibility asks: every `stride`th token from the first,
                // and one label more would not fit (9-pixel labels need 11 pixels each).
                let indices_seen: Vec<usize> = indices.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as usize).collect();
                let stride = indices_seen.get(1).map_or(1, |i| i - indices_seen[0]);
                assert_eq!(indices_seen, (0..n).step_by(stride).collect::<Vec<_>>(), "{map} {axis}");
                assert!(stride == 1 || (stride - 1) as f64 * cell < 11.0, "{map} {axis}: every {stride}th label on {cell:.1}-pixel cells");
                // One above the other (or, rotated, beside), with the thinning's 2 pixels between.
                assert_apart(&format!("{map} {axis}"), &labels, 2.0);
                for (index, (text, [l, t, r, b])) in indices.as_array().unwrap().iter().zip(&labels) {
                    let i = index.as_u64().unwrap() as usize;
                    assert_eq!(text, &token_label(&report.tokens()[i].text), "{map} {axis} label {i}");
                    // Beside its own row (left of the map) or under its own column.
                    let (centre, start, before) = if rows {
                        ((t + b) / 2.0, canvas[1] + i as f64 * cell, *r <= canvas[0] + 0.5)
                    } else {
                        ((l + r) / 2.0, canvas[0] + i as f64 * cell, *t >= canvas[3] - 0.5)
                    };
                    assert!(before, "{map} {axis}: “{text}” lies over the map");
                    assert!(centre >= start - 0.5 && centre <= start + cell + 0.5, "{map} {axis}: “{text}” is not at token {i}");
                }
            }
        }
        keep_screenshot_of(&browser, if n < 10 { "compare" } else { "compare-long" }, Some("compare-view"));
    }
}

#[test]
fn every_request_of_a_first_visit_is_answered_and_the_page_has_an_icon() {
    let server = StaticServer::serve(Site { root: root().join("dist"), ..Site::default() });
    let browser = Browser::start();
    browser.goto(&server.url());
    wait_for_run(&browser);
    // Chromium asks for the icon after the page has loaded.
    let icon = browser
        .wait_for("the page's icon to be asked for", Duration::from_secs(30), || server.requests().into_iter().find(|(path, _)| path.contains("favicon")));
    assert_eq!(icon.1, 200, "{} is not served", icon.0);
    let missing: Vec<String> = server.requests().into_iter().filter(|(_, status)| *status != 200).map(|(path, _)| path).collect();
    assert!(missing.is_empty(), "a first visit asks for what is not there: {missing:?}");
}

#[test]
fn find_induction_heads_with_a_model_that_cannot_load_says_so_instead_of_waiting() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "missing-model");
    let status = browser.by_test_id("status");
    browser.wait_for("the load error", LOAD, || browser.text(&status).starts_with("Error").then_some(()));
    browser.click(&browser.by_test_id("find-induction"));
    let probe = browser.by_test_id("probe-status");
    let said = browser.wait_for("the probe's answer", Duration::from_secs(10), || {
        let text = browser.text(&probe);
        text.starts_with("Error").then_some(text)
    });
    assert!(said.contains("no model is loaded"), "{said}");
}
