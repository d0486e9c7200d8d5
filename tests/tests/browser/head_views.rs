//! The model view and the head detail: the grid of every head, the next-token bars,
//! the lines, the arithmetic, the colour scale.

use std::time::Duration;

use attnscope_tests::shared_model;
use attnscope_tests::webdriver::Browser;
use engine::Mask;

use super::*;

#[test]
fn the_head_grid_shows_every_head_and_selects_by_click_and_arrow_keys() {
    let browser = open_page();
    wait_for_run(&browser);
    let grid = browser.by_test_id("head-grid");
    assert_eq!(browser.find_all("[data-testid=head-thumb]").len(), 270, "30 layers × 9 heads");
    assert_eq!(browser.find_all("[data-testid=layer-mean]").len(), 30);

    // Every thumbnail is the head's map, a pixel per weight: check one against the engine.
    let native = opening_report();
    let (layer, head) = (12, 4);
    let (side, pixels) = grid_cell_pixels(&browser, layer, head);
    assert_eq!(side, 6);
    assert_pixels("thumb 12/4", &pixels, native.attention().head(layer, head).iter().map(|&w| viridis(w)));
    // The last column is the layer's mean over its heads.
    let (_, pixels) = grid_cell_pixels(&browser, layer, 9);
    assert_pixels("layer 12's mean", &pixels, engine::analysis::summary::layer_mean(native.attention(), layer).iter().map(|&w| viridis(w)));
    // The thumbnails are one canvas under the cells: each cell lies on its square (its
    // pitch the canvas's width over its 10 columns; 1 px for the browser's rounding).
    let misplaced = browser.execute(
        "const c = document.querySelector('[data-testid=grid-canvas]').getBoundingClientRect();
         const pitch = c.width / 10;
         return [...document.querySelectorAll('[data-testid=head-thumb], [data-testid=layer-mean]')].filter(t => {
           const r = t.getBoundingClientRect(), layer = +t.dataset.layer;
           const column = t.dataset.head === undefined ? 9 : +t.dataset.head;
           return Math.abs(r.left - c.left - column * pitch) > 1 || Math.abs(r.top - c.top - layer * pitch) > 1 || Math.abs(r.width - pitch) > 1;
         }).length;",
        vec![],
    );
    assert_eq!(misplaced.as_u64(), Some(0), "cells off their squares");

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
    let native = opening_report();
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
    browser.wait_for("the guess to go", Duration::from_secs(30), || browser.find_all("[data-testid=next-tokens]").is_empty().then_some(()));
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
    let native = opening_report();
    let lines = |browser: &Browser| -> Vec<(usize, usize, f32)> {
        let found = browser.execute(
            "return [...arguments[0].querySelectorAll('line')].map(l => [l.dataset.left, l.dataset.right, l.getAttribute('stroke-opacity')]);",
            vec![view.as_arg()],
        );
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l[0].as_str().unwrap().parse().unwrap(), l[1].as_str().unwrap().parse().unwrap(), l[2].as_str().unwrap().parse().unwrap()))
            .collect()
    };
    let all = lines(&browser);
    let visible = (0..6).flat_map(|q| (0..6).map(move |k| (q, k))).filter(|&(q, k)| native.attention().weight(2, 1, q, k) >= 0.005).count();
    assert_eq!(all.len(), visible, "a line for every visible weight");
    for (q, k, opacity) in &all {
        assert!((opacity - native.attention().weight(2, 1, *q, *k)).abs() < 1e-3, "line ({q}, {k})");
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
pub fn math_rows(browser: &Browser) -> Vec<[f32; 4]> {
    let rows = browser.execute(
        "return [...document.querySelectorAll('[data-testid=math-view] tbody tr')].map(tr =>
            ['dot', 'scaled', 'weight', 'model'].map(c => tr.querySelector('td.' + c).textContent));",
        vec![],
    );
    rows.as_array().unwrap().iter().map(|r| [0, 1, 2, 3].map(|i| r[i].as_str().unwrap().parse().unwrap())).collect()
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
    let options = engine::RunOptions { scores_of_layer: Some(4), max_tokens: Some(WHOLE_MAX_TOKENS), ..Default::default() };
    let native = shared_model("smollm2-135m").run_text_with(text, Mask::Causal, options).unwrap();
    let scores = native.sites[0].scores.first().unwrap();
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-3 * b.abs().max(1.0);

    let check = |query: usize, recipe: Recipe, what: &str| {
        let expected = steps(&scores.dot[3][query], &visible_keys(query, 6, Mask::Causal, None), scores.scoring, recipe);
        let mut last = Vec::new();
        let matched = browser.wait_for_or(Duration::from_secs(30), || {
            last = math_rows(&browser);
            let ok = last.len() == 6
                && last.iter().enumerate().all(|(k, r)| {
                    close(r[0], expected.dot[k])
                        && close(r[1], expected.scaled[k])
                        && close(r[2], expected.weights[k])
                        && close(r[3], native.attention().weight(4, 3, query, k))
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
    browser.execute("const el = arguments[0]; el.value = '2'; el.dispatchEvent(new Event('input', {bubbles: true}));", vec![slider.as_arg()]);
    check(3, Recipe { temperature: 2.0, ..Recipe::default() }, "temperature 2");
    keep_screenshot(&browser, "math");
}

#[test]
fn the_colour_scale_can_be_chosen() {
    let browser = open_page();
    wait_for_run(&browser);
    let native = opening_report();
    choose(&browser, "colour-scale", "greys");
    // Every cell of layer 0, head 0, read at its centre: white for 0, black for 1.
    let n = native.tokens().len();
    let grey = |w: f32| ((1.0 - w) * 255.0).round() as i64;
    let colours = browser.wait_for("the grey map", Duration::from_secs(10), || {
        let colours = heatmap_cell_colours(&browser, n);
        colours.iter().all(|[r, g, b]| r == g && g == b).then_some(colours)
    });
    assert_pixels("grey cells", &colours, native.attention().head(0, 0).iter().map(|&w| [grey(w); 3]));
}

#[test]
fn the_scores_panel_ranks_every_head_as_the_engine_does_and_colours_the_grid() {
    use engine::analysis::heads::{score_report, Exclusions};
    let browser = open_page();
    wait_for_run(&browser);
    let text = "The cat sat on the mat. The cat sat on the mat.";
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    let report = shared_model("smollm2-135m").run_text(text, Mask::Causal, None).unwrap();
    let native = score_report(&report, Exclusions::default());

    choose(&browser, "score-select", "previous_token");
    let read = |browser: &Browser| {
        browser.execute(
            "return [...document.querySelectorAll('[data-testid=scores-table] tbody tr')].map(tr =>
                [+tr.dataset.layer, +tr.dataset.head, +tr.querySelector('td[data-score=previous_token]').textContent,
                 +tr.querySelector('td[data-score=induction]').textContent]);",
            vec![],
        )
    };
    let rows = browser.wait_for("the new text's scores", Duration::from_secs(30), || {
        let rows = read(&browser);
        let rows = rows.as_array().unwrap().clone();
        let (layer, head) = (rows[0][0].as_u64().unwrap() as usize, rows[0][1].as_u64().unwrap() as usize);
        let expected = native.iter().find(|s| (s.layer, s.head) == (layer, head)).unwrap();
        ((rows[0][2].as_f64().unwrap() as f32 - expected.previous_token).abs() < 1e-3).then_some(rows)
    });
    assert_eq!(rows.len(), 270);
    let shown: Vec<f32> = rows.iter().map(|r| r[2].as_f64().unwrap() as f32).collect();
    assert!(shown.windows(2).all(|w| w[0] >= w[1]), "sorted by previous_token");
    for row in &rows {
        let (layer, head) = (row[0].as_u64().unwrap() as usize, row[1].as_u64().unwrap() as usize);
        let expected = &native[layer * 9 + head];
        assert!((row[2].as_f64().unwrap() as f32 - expected.previous_token).abs() < 1e-3, "L{layer}H{head} previous");
        assert!((row[3].as_f64().unwrap() as f32 - expected.induction).abs() < 1e-3, "L{layer}H{head} induction");
    }
    // The grid shows the score: the top head brightest.
    let top = native.iter().map(|s| s.previous_token).fold(f32::MIN_POSITIVE, f32::max);
    let (layer, head) = (rows[0][0].as_u64().unwrap(), rows[0][1].as_u64().unwrap());
    let (side, pixels) = grid_cell_pixels(&browser, layer as usize, head as usize);
    assert_eq!(side, 1);
    assert_pixels("top thumb", &pixels, std::iter::once(viridis(native[layer as usize * 9 + head as usize].previous_token / top)));
    // A row selects its head.
    browser.click(&browser.find_all("[data-testid=scores-table] tbody tr").remove(0));
    assert_eq!(heatmap_attributes(&browser), (layer.to_string(), head.to_string(), "causal".into()));
    keep_screenshot_of(&browser, "scores", Some("scores-table"));
}

#[test]
fn rollout_shows_how_much_of_each_token_reaches_the_chosen_one() {
    use engine::analysis::rollout::rollout_row;
    let browser = open_page();
    wait_for_run(&browser);
    let report = opening_report();
    let read = |browser: &Browser| -> (u64, Vec<f32>) {
        let view = browser.by_test_id("rollout-view");
        let values = browser.execute("return [...arguments[0].querySelectorAll('li')].map(li => +li.dataset.value);", vec![view.as_arg()]);
        let query = browser.attribute(&view, "data-query").unwrap().parse().unwrap();
        (query, values.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect())
    };
    // The last token by default; a pinned token otherwise.
    for (pin, query) in [(None, 5usize), (Some(2usize), 2usize)] {
        if let Some(i) = pin {
            browser.click(&browser.find_all(&format!("[data-testid=token][data-index='{i}']")).remove(0));
        }
        let expected = rollout_row(&report.attention(), query);
        let (shown_query, values) = browser.wait_for("the rollout", Duration::from_secs(10), || {
            let (q, v) = read(&browser);
            (q == query as u64).then_some((q, v))
        });
        assert_eq!(shown_query, query as u64);
        assert_eq!(values.len(), 6);
        for (i, (a, b)) in values.iter().zip(&expected).enumerate() {
            assert!((a - b).abs() < 1e-4, "token {i}: {a} vs {b}");
        }
        assert!((values.iter().sum::<f32>() - 1.0).abs() < 1e-3);
        // Causal: nothing flows back from later tokens.
        assert!(values[query + 1..].iter().all(|&v| v == 0.0));
    }
    keep_screenshot_of(&browser, "rollout", Some("rollout-view"));
}

#[test]
fn value_weighted_norms_recolour_the_map_with_the_engines_numbers() {
    use engine::analysis::norms::{row_shares, value_weighted};
    let browser = open_page();
    wait_for_run(&browser);
    let text = "The cat sat on the mat";
    let options = engine::RunOptions { value_norms: true, max_tokens: Some(WHOLE_MAX_TOKENS), ..Default::default() };
    let native = shared_model("smollm2-135m").run_text_with(text, Mask::Causal, options).unwrap();
    let norms = native.value_norms.as_ref().unwrap();
    let n = native.tokens().len();
    // The head where weighting by value norms takes most from the first token (a sink):
    // the last query's attention share on key 0 minus its value-weighted share.
    let sink_drop = |layer: usize, head: usize| {
        let shares = row_shares(&value_weighted(&native.attention(), norms, layer, head), n);
        native.attention().weight(layer, head, n - 1, 0) - shares[(n - 1) * n]
    };
    let (layer, head) = (0..30).flat_map(|l| (0..9).map(move |h| (l, h))).max_by(|a, b| sink_drop(a.0, a.1).total_cmp(&sink_drop(b.0, b.1))).unwrap();
    assert!(sink_drop(layer, head) > 0.3, "L{layer}H{head}: a sink that the norms discount");
    choose(&browser, "layer-select", &layer.to_string());
    choose(&browser, "head-select", &head.to_string());
    choose(&browser, "weighting-select", "norms");

    let expected = value_weighted(&native.attention(), norms, layer, head);
    let top = expected.iter().copied().fold(0.0, f32::max);
    let heatmap = browser.by_test_id("heatmap");
    let shown_top: f32 = browser.wait_for("the value-weighted map", Duration::from_secs(30), || {
        let weighting = browser.attribute(&heatmap, "data-weighting")?;
        let head_shown = browser.attribute(&heatmap, "data-head")?;
        (weighting == "norms" && head_shown == head.to_string()).then(|| browser.attribute(&heatmap, "data-top")?.parse().ok())?
    });
    assert!((shown_top - top).abs() <= 1e-4 * top, "the scale's top {shown_top}, the map's largest cell {top}");
    assert!(browser.text(&browser.by_test_id("weighting-note")).contains("Kobayashi"));
    let query = browser.execute("return window.location.search;", vec![]);
    assert!(query.as_str().unwrap().contains("weigh=norms"), "the link keeps the weighting: {query}");

    // Every cell's colour: its value-weighted norm over the top, in viridis.
    let colours = heatmap_cell_colours(&browser, n);
    assert_pixels("value-weighted cells", &colours, expected.iter().map(|&v| viridis(v / top)));
    // The grid's thumbnails are weighted the same way, a pixel per cell.
    let (side, pixels) = grid_cell_pixels(&browser, layer as usize, head as usize);
    assert_eq!(side, n);
    assert_pixels("value-weighted thumbnail", &pixels, expected.iter().map(|&v| viridis(v / top)));
    keep_screenshot_of(&browser, "value-norms", Some("heatmap"));

    // The table shows the same numbers.
    browser.click(&browser.by_test_id("table-toggle"));
    let rows = browser.wait_for("the table", Duration::from_secs(10), || Some(table_numbers(&browser)).filter(|r| r.len() == n));
    for (q, row) in rows.iter().enumerate() {
        for (k, &shown) in row.iter().enumerate() {
            let want = expected[q * n + k];
            assert!((shown - want).abs() <= 1e-3 * want.max(1.0), "cell ({q}, {k}): the table shows {shown}, the engine {want}");
        }
    }
    let caption = browser.text(&browser.find_all("[data-testid=weights-table] caption").remove(0));
    assert!(caption.contains("value-weighted"), "{caption}");
}

/// The Offsets tab: the selected head's mean weight by offset and its positional score, the
/// engine's numbers for the same head of the same text; the grid coloured by the positional
/// score, and the scores table sorted by it.
#[test]
fn the_offsets_tab_draws_a_heads_weight_by_offset_and_its_positional_score() {
    use engine::analysis::offsets::{positional_score, OffsetProfile};
    let browser = open_page();
    wait_for_run(&browser);
    let text = "The cat sat on the mat. The dog lay on the rug.";
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    let native = shared_model("smollm2-135m").run_text(text, Mask::Causal, None).unwrap();
    let n = native.tokens().len();
    choose(&browser, "layer-select", "16");
    choose(&browser, "head-select", "0");
    browser.click(&browser.by_test_id("tab-offsets"));
    let map = native.attention().head(16, 0);
    let (profile, score) = (OffsetProfile::of(map, n), positional_score(map, n));
    let bars = browser.wait_for("the new text's offsets", Duration::from_secs(30), || {
        let drawn = browser.execute(
            "const svg = document.querySelector('[data-testid=offsets]');
             return svg && svg.dataset.layer === '16' && [+svg.dataset.positional, [...svg.querySelectorAll('.offset-bar')].map(r => [+r.dataset.offset, +r.dataset.weight])];",
            vec![],
        );
        let drawn = drawn.as_array()?.clone();
        let bars = drawn[1].as_array()?.clone();
        (bars.len() == n && (drawn[0].as_f64()? - f64::from(score)).abs() < 1e-4).then_some(bars)
    });
    // A causal map: the offsets 0 to n − 1 back, none ahead, each the engine's mean (shown to 4
    // decimals).
    for (d, bar) in bars.iter().enumerate() {
        assert_eq!(bar[0].as_i64(), Some(d as i64));
        assert!((bar[1].as_f64().unwrap() - f64::from(profile.back[d])).abs() <= 5e-5, "offset {d}: {bar:?} against {}", profile.back[d]);
    }
    // The head looks one back most of all.
    let most = profile.back.iter().enumerate().fold(0, |best, (d, &w)| if w > profile.back[best] { d } else { best });
    assert_eq!(most, 1, "{:?}", profile.back);
    keep_screenshot_of(&browser, "offsets", Some("tab-offsets"));

    // The grid coloured by the positional score sorts the table by it: the engine's ranking.
    choose(&browser, "score-select", "positional");
    let first = browser.wait_for("the table sorted by positional", Duration::from_secs(30), || {
        let row = browser.execute(
            "const tr = document.querySelector('[data-testid=scores-table] tbody tr'); return tr && [+tr.dataset.layer, +tr.dataset.head, +tr.querySelector('td[data-score=positional]').textContent];",
            vec![],
        );
        let row = row.as_array()?.clone();
        Some((row[0].as_u64()? as usize, row[1].as_u64()? as usize, row[2].as_f64()?))
    });
    let scores = engine::analysis::heads::score_report(&native, engine::analysis::heads::Exclusions::default());
    let best = scores.iter().max_by(|a, b| a.positional.unwrap().total_cmp(&b.positional.unwrap())).unwrap();
    assert_eq!((first.0, first.1), (best.layer, best.head));
    assert!((first.2 - f64::from(best.positional.unwrap())).abs() <= 5e-5);

    // Over random tokens: once the probe has run, the same head over its first run's first
    // token and random copy, as the engine's probe makes them.
    assert!(!browser.find_all("[data-testid=offsets-random-hint]").is_empty());
    browser.click(&browser.by_test_id("find-induction"));
    let spec = engine::analysis::probe::ProbeSpec::default();
    let (probe_scores, first_run) = shared_model("smollm2-135m").induction_probe(&spec, |_, _| {}).unwrap();
    let m = shared_model("smollm2-135m").frame().0.len() + spec.length; // the tokens before the copy, and the copy
    let random = engine::analysis::probe::random_part(first_run.attention().head(16, 0), first_run.tokens().len(), m);
    let want = positional_score(&random, m);
    let shown = browser.wait_for("the head over random tokens", LOAD, || {
        let drawn = browser.execute(
            "const svg = document.querySelector('[data-testid=offsets-random]'); return svg && svg.dataset.layer === '16' && [+svg.dataset.positional, svg.querySelectorAll('.offset-bar').length];",
            vec![],
        );
        let drawn = drawn.as_array()?.clone();
        Some((drawn[0].as_f64()?, drawn[1].as_u64()? as usize))
    });
    assert!((shown.0 - f64::from(want)).abs() <= 5e-5, "{shown:?} against {want}");
    assert_eq!(shown.1, m, "offsets 0 to {} back", m - 1);
    // The probe's table gives each head's mean over the four runs, as the engine's.
    let row = browser.execute("return [...document.querySelectorAll('[data-testid=probe-table] tbody tr')].map(r => [+r.dataset.layer, +r.dataset.head, +r.querySelector('td[data-positional]').dataset.positional]);", vec![]);
    for row in row.as_array().unwrap() {
        let (layer, head, shown) = (row[0].as_u64().unwrap() as usize, row[1].as_u64().unwrap() as usize, row[2].as_f64().unwrap());
        let engine = probe_scores.iter().find(|s| (s.layer, s.head) == (layer, head)).unwrap().positional.unwrap();
        assert!((shown - f64::from(engine)).abs() <= 5e-5, "L{layer} H{head}: {shown} against {engine}");
    }
}
