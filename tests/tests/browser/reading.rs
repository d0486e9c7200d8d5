//! The reading switches: the first token hidden (its column gone, rows renormalised, both
//! numbers in the table), words instead of pieces, a logarithmic colour scale, and the lines
//! view's limit. Expected numbers are computed here from the engine's native maps by hand,
//! not by the engine's own reading functions.

use std::time::Duration;

use attnscope_tests::figures::without_first_key_by_hand;
use attnscope_tests::shared_model;
use attnscope_tests::webdriver::Browser;
use engine::Mask;

use super::*;

/// The native map of SmolLM2's (layer, head) on `text`, [query][key].
fn native_rows(text: &str, layer: usize, head: usize) -> (Vec<String>, Vec<Vec<f32>>) {
    let report = shared_model("smollm2-135m").run_text(text, Mask::Causal, Some(WHOLE_MAX_TOKENS)).unwrap();
    let n = report.tokens().len();
    let rows = report.attention().head(layer, head).chunks(n).map(<[f32]>::to_vec).collect();
    (report.tokens().iter().map(|t| t.text.clone()).collect(), rows)
}

fn assert_close(what: &str, got: &[Vec<f32>], want: &[Vec<f32>]) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (q, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: row {q}'s cells");
        for (k, (a, b)) in g.iter().zip(w).enumerate() {
            assert!((a - b).abs() <= 1e-3, "{what}: cell ({q}, {k}) shows {a}, expected {b}");
        }
    }
}

fn near(a: [i64; 3], b: [i64; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1)
}

fn switch(browser: &Browser, test_id: &str) {
    browser.click(&browser.by_test_id(test_id));
}

fn notes(browser: &Browser) -> Vec<String> {
    browser.find_all("[data-testid=reading-note]").iter().map(|n| browser.text(n)).filter(|t| !t.is_empty()).collect()
}

#[test]
fn hiding_the_first_token_renormalises_every_view_and_the_table_says_both() {
    let browser = open_page();
    wait_for_run(&browser);
    // Layer 10, head 3 of SmolLM2 pours most of each row into the first token.
    let (layer, head) = (10, 3);
    choose(&browser, "layer-select", &layer.to_string());
    choose(&browser, "head-select", &head.to_string());
    let (_, native) = native_rows(OPENING_TEXT, layer, head);
    let n = native.len();
    let sink: f32 = native[1..].iter().map(|row| row[0]).sum::<f32>() / (n - 1) as f32;
    assert!(sink > 0.5, "the head chosen is a sink head: {sink}");
    assert!(notes(&browser).is_empty(), "nothing is said while the map is as computed");

    switch(&browser, "hide-sink");
    // By hand: each row without its first key, over what is left; row 0 has nothing left.
    let flat: Vec<f32> = native.iter().flatten().copied().collect();
    let renormalised: Vec<Vec<f32>> = without_first_key_by_hand(&flat, n).chunks(n - 1).map(<[f32]>::to_vec).collect();
    let before: Vec<Vec<f32>> = native.iter().map(|row| row[1..].to_vec()).collect();

    // The heatmap: n rows, n − 1 columns, each cell the renormalised weight's colour.
    let colours = browser.wait_for("the map without its first column", Duration::from_secs(10), || {
        let colours = heatmap_cells(&browser, n, n - 1);
        near(colours[n * (n - 1) - 1], viridis(renormalised[n - 1][n - 2])).then_some(colours)
    });
    assert_pixels("heatmap without the sink", &colours, renormalised.iter().flatten().map(|&w| viridis(w)));
    assert!(notes(&browser).iter().any(|t| t.contains("first token hidden")), "the heatmap says so: {:?}", notes(&browser));

    // The table: the renormalised weights, and under each the weight as computed.
    browser.click(&browser.by_test_id("tab-table"));
    assert_close("renormalised", &table_numbers(&browser), &renormalised);
    assert_close("as computed", &table_numbers_before(&browser), &before);
    let header = browser.execute("return [...document.querySelectorAll('[data-testid=weights-table] thead th')].length", vec![]);
    assert_eq!(header.as_u64(), Some(n as u64), "a corner and n − 1 keys");
    let caption = browser.text(&browser.find_all("[data-testid=weights-table] caption").remove(0));
    assert!(caption.contains("renormalised") && caption.contains("first token hidden"), "{caption}");

    // The grid's thumbnail of the head: n × (n − 1) pixels.
    let (width, pixels) = grid_cell_pixels(&browser, layer, head);
    assert_eq!(width, n - 1);
    assert_pixels("thumbnail without the sink", &pixels, renormalised.iter().flatten().map(|&w| viridis(w)));

    // The lines: one per query with "strongest key", to the renormalised row's largest.
    browser.click(&browser.by_test_id("tab-lines"));
    choose(&browser, "lines-limit", "top1");
    let lines =
        browser.execute("return [...document.querySelectorAll('[data-testid=lines-view] line')].map(l => [+l.dataset.left, +l.dataset.right]);", vec![]);
    let lines: Vec<(usize, usize)> = lines.as_array().unwrap().iter().map(|l| (l[0].as_u64().unwrap() as usize, l[1].as_u64().unwrap() as usize)).collect();
    let strongest = |row: &[f32]| (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best });
    let expected: Vec<(usize, usize)> = (1..n).map(|q| (q, strongest(&renormalised[q]))).collect();
    assert_eq!(lines, expected, "the first query has nothing left to draw");

    // The rollout's bars: the query's row of the rollout without the first token, renormalised.
    let flow = engine::analysis::rollout::rollout_row(opening_report().attention(), n - 1);
    let rest: f32 = flow[1..].iter().sum();
    let bars = browser.execute("return [...document.querySelectorAll('[data-testid=rollout-view] li')].map(li => +li.dataset.value)", vec![]);
    let bars: Vec<f32> = bars.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert_close("rollout", &[bars], &[flow[1..].iter().map(|f| f / rest).collect()]);

    // The switch is in the link: a fresh page opens with it on.
    let url = browser.execute("return location.href", vec![]).as_str().unwrap().to_string();
    assert!(url.contains("sink=hide"), "{url}");
    let fresh = Browser::start();
    fresh.goto(&url);
    wait_for_run(&fresh);
    let checked = fresh.execute("return arguments[0].checked", vec![fresh.by_test_id("hide-sink").as_arg()]);
    assert_eq!(checked.as_bool(), Some(true));
    fresh.click(&fresh.by_test_id("tab-table"));
    assert_close("the link's table", &table_numbers(&fresh), &renormalised);
    browser.click(&browser.by_test_id("tab-heatmap"));
    keep_screenshot_of(&browser, "hide-sink", Some("heatmap"));
}

#[test]
fn words_pool_pieces_and_the_log_scale_shows_small_weights() {
    let browser = open_page();
    wait_for_run(&browser);
    let text = "Unbelievably, the astronauts photographed extraterrestrial landscapes";
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    let (layer, head) = (3, 2);
    choose(&browser, "layer-select", &layer.to_string());
    choose(&browser, "head-select", &head.to_string());
    let report = shared_model("smollm2-135m").run_text(text, Mask::Causal, Some(WHOLE_MAX_TOKENS)).unwrap();
    let n = report.tokens().len();
    let map: Vec<&[f32]> = report.attention().head(layer, head).chunks(n).collect();

    // By hand: the text's whitespace-separated words, and which tokens start inside each.
    let mut bounds = Vec::new();
    let mut offset = 0;
    for word in text.split_whitespace() {
        let start = offset + text[offset..].find(word).unwrap();
        bounds.push(start..start + word.len());
        offset = start + word.len();
    }
    let word_of = |token: usize| {
        let [start, end] = report.tokens()[token].span.unwrap();
        // A byte-level token carries the space before its word: its last byte is in the word.
        bounds.iter().position(|b| b.contains(&(end - 1)) || b.contains(&start)).unwrap()
    };
    let groups: Vec<Vec<usize>> = (0..bounds.len()).map(|w| (0..n).filter(|&t| word_of(t) == w).collect()).collect();
    assert!(groups.iter().any(|g| g.len() > 1), "some word is cut into pieces: {groups:?}");
    let pooled: Vec<Vec<f32>> = groups
        .iter()
        .map(|from| groups.iter().map(|to| from.iter().map(|&q| to.iter().map(|&k| map[q][k]).sum::<f32>()).sum::<f32>() / from.len() as f32).collect())
        .collect();

    switch(&browser, "word-pool");
    browser.click(&browser.by_test_id("tab-table"));
    let labels = browser.execute("return [...document.querySelectorAll('[data-testid=weights-table] tbody th')].map(th => th.textContent)", vec![]);
    let words: Vec<&str> = text.split_whitespace().collect();
    let labels: Vec<String> = labels.as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect();
    assert_eq!(labels, words.iter().map(|w| app::components::token_label(w)).collect::<Vec<_>>());
    assert_close("pooled by words", &table_numbers(&browser), &pooled);
    assert!(notes(&browser).iter().any(|t| t.contains("by words")), "{:?}", notes(&browser));

    // The log scale: three decades below 1 over the colour scale.
    browser.click(&browser.by_test_id("tab-heatmap"));
    choose(&browser, "scale-select", "log");
    let fraction = |w: f32| if w > 0.0 { (w.log10() / 3.0 + 1.0).clamp(0.0, 1.0) } else { 0.0 };
    let m = words.len();
    let expected: Vec<[i64; 3]> = pooled.iter().flatten().map(|&w| viridis(fraction(w))).collect();
    let colours = browser.wait_for("the log-scaled map", Duration::from_secs(10), || {
        let colours = heatmap_cells(&browser, m, m);
        near(colours[m], expected[m]).then_some(colours)
    });
    assert_pixels("log-scaled words", &colours, expected.into_iter());
    assert!(notes(&browser).iter().any(|t| t.contains("log scale")));
    keep_screenshot_of(&browser, "words-log", Some("heatmap"));
}

#[test]
fn the_overlay_colours_each_cell_by_the_chosen_head_that_attends_most() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "layer-select", "3");
    browser.click(&browser.by_test_id("tab-overlay"));
    // Heads 0, 1, 2 to start with; take 1 away and add 5.
    let head = |h: usize| browser.find_all(&format!("[data-testid=overlay-head][data-head='{h}']")).remove(0);
    browser.click(&head(1));
    browser.click(&head(5));
    let (_, map) = native_rows(OPENING_TEXT, 3, 0);
    let n = map.len();
    let maps: Vec<Vec<Vec<f32>>> = [0, 2, 5].iter().map(|&h| native_rows(OPENING_TEXT, 3, h).1).collect();
    // By hand: the strongest of the three heads, its hue mixed from white by its weight.
    let hues = engine::figure::colour::HEAD_HUES;
    let expected: Vec<[i64; 3]> = (0..n * n)
        .map(|i| {
            let (q, k) = (i / n, i % n);
            let (which, w) = [0usize, 2, 5].iter().zip(&maps).map(|(&h, m)| (h, m[q][k])).fold((0, f32::MIN), |b, c| if c.1 > b.1 { c } else { b });
            let hue = hues[which];
            [hue.0, hue.1, hue.2].map(|c| (255.0 - (255.0 - c as f32) * w).round() as i64)
        })
        .collect();
    let colours = browser.wait_for("the overlay of heads 0, 2 and 5", Duration::from_secs(10), || {
        let colours = canvas_cells(&browser, "[data-testid=overlay-view] canvas", n, n);
        colours.iter().zip(&expected).all(|(a, b)| near(*a, *b)).then_some(colours)
    });
    assert_pixels("overlay", &colours, expected.into_iter());
    keep_screenshot_of(&browser, "overlay", Some("overlay-view"));
}

#[test]
fn words_read_wordpiece_pieces_as_the_texts_words_with_the_special_tokens_apart() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "all-minilm-l6-v2");
    browser.wait_for("MiniLM's 6 layers", LOAD, || (browser.find_all("[data-testid=layer-select] option").len() == 6).then_some(()));
    let text = "Tokenization splits unbelievable words";
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    choose(&browser, "layer-select", "2");
    choose(&browser, "head-select", "4");
    let report = shared_model("all-minilm-l6-v2").run_text(text, Mask::None, Some(WHOLE_MAX_TOKENS)).unwrap();
    let pieces: Vec<&str> = report.tokens().iter().map(|t| t.text.as_str()).collect();
    assert!(pieces.iter().any(|p| p.starts_with("##")), "WordPiece cuts a word here: {pieces:?}");
    switch(&browser, "word-pool");
    browser.click(&browser.by_test_id("tab-table"));
    let labels = browser.execute("return [...document.querySelectorAll('[data-testid=weights-table] tbody th')].map(th => th.textContent)", vec![]);
    let mut expected = vec!["[CLS]".to_string()];
    expected.extend(text.split_whitespace().map(str::to_string));
    expected.push("[SEP]".into());
    assert_eq!(labels, serde_json::json!(expected), "WordPiece's (lower-cased) pieces merged into the text's own words");
    // Unmasked, a word's row still sums to 1 (the mean of its pieces' rows).
    for (q, row) in table_numbers(&browser).iter().enumerate() {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 2e-3, "row {q} sums to {sum}");
    }
}
