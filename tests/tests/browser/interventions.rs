//! Which heads matter, in the page: a head switched off moves the next-token bars as the
//! engine's changed run does, and sweeps fill the effects table (and colour the grid)
//! with the engine's numbers, run natively on the same text.

use std::time::Duration;

use attnscope_tests::shared_model;
use attnscope_tests::webdriver::Browser;
use engine::{Ablation, Answer, HeadId, Intervention, Sweep};
use serde_json::Value;

use super::export::{export, Downloads};
use super::{choose, paste, wait_for_run, wait_until_shown, WHOLE_MAX_TOKENS};

/// The indirect-object sentence, and the same with the other name as the subject.
const IOI: &str = "When Mary and John went to the store, John gave a drink to";
const OTHER: &str = "When Mary and John went to the store, Mary gave a drink to";
/// A sweep of 270 heads in the page takes seconds; a slow machine gets room.
const SWEEP: Duration = Duration::from_secs(400);

/// What a page with the sentence in the box shows, once its run is in view.
fn page_with(text: &str) -> Browser {
    page_in(Browser::start(), text)
}

/// The same in `browser`.
fn page_in(browser: Browser, text: &str) -> Browser {
    browser.goto(&super::app_url());
    wait_for_run(&browser);
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    browser
}

/// The next-token bars: (token id, logit after, logit before) per bar, once they show a changed run.
fn changed_bars(browser: &Browser) -> Vec<(u32, f32, f32)> {
    browser.wait_for("the bars before and after", Duration::from_secs(60), || {
        let bars = browser.execute(
            "const list = document.querySelector('[data-testid=next-tokens][data-changed=true]');
             return list && [...list.querySelectorAll('li')].map(li => [li.dataset.tokenId, li.dataset.logit, li.dataset.logitBefore]);",
            vec![],
        );
        let bars = bars
            .as_array()?
            .iter()
            .map(|b| (b[0].as_str().unwrap().parse().unwrap(), b[1].as_str().unwrap().parse().unwrap(), b[2].as_str().unwrap().parse().unwrap()))
            .collect::<Vec<_>>();
        (!bars.is_empty()).then_some(bars)
    })
}

/// Waits until the bars are the engine's changed run's: the same tokens in the same order,
/// each logit before and after within 2e-3.
fn wait_for_bars(browser: &Browser, what: &str, expected: &[engine::NextTokenChange]) {
    let mut mismatch = String::new();
    browser
        .wait_for_or(Duration::from_secs(60), || {
            let bars = changed_bars(browser);
            if bars.iter().map(|b| b.0).ne(expected.iter().map(|c| c.id)) {
                mismatch = format!(
                    "the tokens {:?}, the engine's {:?}",
                    bars.iter().map(|b| b.0).collect::<Vec<_>>(),
                    expected.iter().map(|c| c.id).collect::<Vec<_>>()
                );
                return None;
            }
            for ((_, after, before), change) in bars.iter().zip(expected) {
                if (after - change.logit_after).abs() > 2e-3 || (before - change.logit_before).abs() > 2e-3 {
                    mismatch = format!("{:?}: the page shows {before} → {after}, the engine {} → {}", change.text, change.logit_before, change.logit_after);
                    return None;
                }
            }
            Some(())
        })
        .unwrap_or_else(|| panic!("{what}: {mismatch}"));
}

/// Every thumbnail's value, [layer][head], once the grid is coloured by values.
fn grid_values(browser: &Browser, layers: usize, heads: usize) -> Vec<Vec<f32>> {
    let values = browser.execute("return [...document.querySelectorAll('[data-testid=head-thumb]')].map(t => t.dataset.value || null);", vec![]);
    let flat: Vec<f32> = values.as_array().unwrap().iter().map(|v| v.as_str().expect("a thumbnail without a value").parse().unwrap()).collect();
    assert_eq!(flat.len(), layers * heads);
    flat.chunks(heads).map(<[f32]>::to_vec).collect()
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn assert_close(what: &str, shown: f32, expected: f32, tolerance: f32) {
    assert!((shown - expected).abs() <= tolerance, "{what}: the page shows {shown}, the engine says {expected}");
}

#[test]
fn a_head_switched_off_moves_the_bars_and_the_later_maps_as_the_engine_does() {
    let browser = page_with(IOI);
    choose(&browser, "layer-select", "23");
    choose(&browser, "head-select", "3");
    let toggle = browser.by_test_id("ablate-toggle");
    assert_eq!((browser.attribute(&toggle, "data-layer").as_deref(), browser.attribute(&toggle, "data-head").as_deref()), (Some("23"), Some("3")));
    browser.click(&toggle);

    // The engine's changed run of the same text, natively.
    let model = shared_model("smollm2-135m");
    let trace = model.trace(IOI, Some(WHOLE_MAX_TOKENS)).unwrap();
    let head = HeadId { layer: 23, head: 3 };
    let changed = model.change(&trace, &Intervention::ablate(vec![head], Ablation::Zero), None, None).unwrap();
    let expected = changed.intervention.as_ref().unwrap().next_token_changes.clone();
    wait_for_bars(&browser, "zero-ablated", &expected);
    // " Mary" loses to the switch: " John" gains more than it does, and its bar shrinks.
    let (mary, john) = (&expected[0], expected.iter().find(|c| c.text == " John").unwrap());
    assert!(mary.text == " Mary" && mary.probability_after < mary.probability_before, "{mary:?}");
    assert!(mary.logit_after - john.logit_after < mary.logit_before - john.logit_before - 1.0, "{mary:?} {john:?}");
    // Mean ablation: the head's output replaced by its mean over the text's positions.
    choose(&browser, "ablation-select", "mean");
    let mean = model.change(&trace, &Intervention::ablate(vec![head], Ablation::Mean), None, None).unwrap();
    wait_for_bars(&browser, "mean-ablated", &mean.intervention.unwrap().next_token_changes);
    assert!(browser.execute("return location.search;", vec![]).as_str().unwrap().contains("ablation=mean"));
    choose(&browser, "ablation-select", "zero");
    wait_for_bars(&browser, "zero-ablated again", &expected);
    let thumb = browser.find_all("[data-testid=head-thumb][data-layer='23'][data-head='3']").remove(0);
    assert_eq!(browser.attribute(&thumb, "data-ablated").as_deref(), Some("true"));
    assert_eq!(browser.find_all("[data-testid=ablated-head]").len(), 1);

    // Coloured by how far each map moved: nothing before layer 23, the engine's change after.
    choose(&browser, "score-select", "change");
    let expected_change = engine::analysis::summary::map_change(changed.attention(), trace.report.attention()).unwrap();
    let shown = browser.wait_for("the grid coloured by change", Duration::from_secs(30), || {
        let v = browser.execute("return [...document.querySelectorAll('[data-testid=head-thumb]')].every(t => t.dataset.value);", vec![]);
        (v == Value::Bool(true)).then(|| grid_values(&browser, 30, 9))
    });
    for (layer, (row, expected_row)) in shown.iter().zip(&expected_change).enumerate() {
        for (h, (value, expected)) in row.iter().zip(expected_row).enumerate() {
            if layer < 23 {
                assert_eq!(*value, 0.0, "layer {layer} head {h} runs before the switch");
            } else {
                assert_close(&format!("the change of layer {layer} head {h}"), *value, *expected, 1e-3);
            }
        }
    }
    assert!(expected_change[23][3] > 0.0 || expected_change[29].iter().any(|&c| c > 1e-3), "later maps moved");

    // The link holds the switch; a fresh page from it switches the same head off.
    let search = browser.execute("return location.search;", vec![]);
    let search = search.as_str().unwrap();
    assert!(search.contains("ablate=23.3"), "{search}");
    let fresh = Browser::start();
    fresh.goto(&format!("{}{search}", super::app_url()));
    wait_for_run(&fresh);
    assert_eq!(changed_bars(&fresh).len(), expected.len());
    drop(fresh);

    // Switched back on: one bar per token again, the unchanged run's.
    browser.click(&browser.by_test_id("ablate-clear"));
    browser.wait_for("the unchanged bars", Duration::from_secs(60), || browser.find_all("[data-testid=next-tokens][data-changed=false]").pop());
    assert!(browser.find_all("[data-testid=ablated-head]").is_empty());
    assert_eq!(browser.property(&browser.by_test_id("score-select"), "value").as_deref(), Some("maps"), "no change to colour by");
}

/// The effects table's rows: (layer, head, value of the column of `kind`).
fn table_column(browser: &Browser, kind: &str) -> Vec<(usize, usize, f32)> {
    let rows = browser.execute(
        &format!(
            "return [...document.querySelectorAll('[data-testid=effects-table] tbody tr')]
                .map(tr => [tr.dataset.layer, tr.dataset.head, tr.querySelector('td[data-kind={kind}]')?.dataset.value]);"
        ),
        vec![],
    );
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().parse().unwrap(), r[1].as_str().unwrap().parse().unwrap(), r[2].as_str().unwrap_or("NaN").parse().unwrap()))
        .collect()
}

/// Waits until the table has a column of `kind` and returns it.
fn wait_for_column(browser: &Browser, kind: &str) -> Vec<(usize, usize, f32)> {
    browser.wait_for(&format!("the {kind} column"), SWEEP, || {
        let status = browser.find_all("[data-testid=sweep-status]").pop().map(|s| browser.text(&s)).unwrap_or_default();
        assert!(!status.starts_with("Error"), "{status}");
        browser.find_all(&format!("[data-testid=effects-table] td[data-kind={kind}]")).pop().map(|_| table_column(browser, kind))
    })
}

/// The table's rows hold the engine's effects, largest in size first, and the grid shows
/// every head's.
fn assert_effects(browser: &Browser, kind: &str, rows: &[(usize, usize, f32)], expected: &engine::HeadEffects) {
    assert_eq!(rows.len(), 20, "the first twenty heads");
    for window in rows.windows(2) {
        assert!(window[0].2.abs() >= window[1].2.abs(), "{kind}: sorted by size: {window:?}");
    }
    for &(layer, head, value) in rows {
        assert_close(&format!("{kind} of L{layer} H{head}"), value, expected.of(layer, head), 2e-3);
    }
    let top = expected.ranked()[0].0;
    assert_eq!((rows[0].0, rows[0].1), (top.layer, top.head), "{kind}: the engine's strongest head first");
    let grid = grid_values(browser, expected.layers, expected.heads);
    for (layer, row) in grid.iter().enumerate() {
        for (head, value) in row.iter().enumerate() {
            assert_close(&format!("{kind} grid L{layer} H{head}"), *value, expected.of(layer, head), 2e-3);
        }
    }
}

#[test]
fn sweeps_and_attribution_fill_the_table_with_the_engines_effects() {
    let downloads = Downloads::new("effects");
    let browser = page_in(Browser::start_downloading_to(&downloads), IOI);
    choose(&browser, "answer-select", " Mary");
    choose(&browser, "versus-select", " John");
    let model = shared_model("smollm2-135m");
    let trace = model.trace(IOI, Some(WHOLE_MAX_TOKENS)).unwrap();
    let answer: Answer = model.answer(" Mary", Some(" John")).unwrap();

    // Every head switched off in turn, with progress shown on the way.
    browser.click(&browser.by_test_id("sweep-ablation"));
    browser.wait_for("the sweep's progress", Duration::from_secs(60), || browser.find_all("[data-testid=sweep-progress]").pop());
    let rows = wait_for_column(&browser, "ablation");
    let expected = model.sweep(&trace, Sweep::Ablation(Ablation::Zero), &answer, |_, _| true).unwrap();
    assert_effects(&browser, "ablation", &rows, &expected);
    let caption = browser.text(&browser.find_all(".effects-captions").remove(0));
    assert!(caption.contains("\" Mary\"") && caption.contains("\" John\""), "the caption names the answer: {caption}");

    // Direct attribution adds a column.
    browser.click(&browser.by_test_id("sweep-attribution"));
    let rows = wait_for_column(&browser, "attribution");
    assert_effects(&browser, "attribution", &rows, &model.attribute(&trace, &answer).unwrap());

    // Patching from the second text: a Stop ends a sweep on its way; run whole, it finds
    // the head that carries the name.
    paste(&browser, &browser.by_test_id("patch-source"), OTHER);
    browser.click(&browser.by_test_id("sweep-patching"));
    browser.wait_for("the sweep's progress", Duration::from_secs(60), || browser.find_all("[data-testid=sweep-progress]").pop());
    browser.click(&browser.by_test_id("sweep-stop"));
    browser.wait_for("the stop", Duration::from_secs(30), || (browser.text(&browser.by_test_id("sweep-status")) == "stopped").then_some(()));
    assert!(browser.find_all("[data-testid=effects-table] td[data-kind=patching]").is_empty());
    browser.click(&browser.by_test_id("sweep-patching"));
    let rows = wait_for_column(&browser, "patching");
    let source = model.trace(OTHER, Some(WHOLE_MAX_TOKENS)).unwrap();
    let expected = model.sweep(&trace, Sweep::Patching(&source), &answer, |_, _| true).unwrap();
    assert_effects(&browser, "patching", &rows, &expected);
    assert_eq!((rows[0].0, rows[0].1), (23, 3), "head 23.3 carries the indirect object (the README says so)");
    let search = browser.execute("return location.search;", vec![]);
    let search = search.as_str().unwrap();
    for part in ["effects=patching", "answer=%20Mary", "versus=%20John", "patch=When%20Mary"] {
        assert!(search.contains(part), "{part} in {search}");
    }
    // A row selects its head (the README's picture shows head 23.3 so chosen).
    browser.click(&browser.find_all("[data-testid=effects-table] tbody tr").remove(0));
    browser.wait_for("head 23.3 selected", Duration::from_secs(10), || (super::heatmap_attributes(&browser).0 == "23").then_some(()));
    browser.set_window_size(1280, 1400);
    super::keep_screenshot_of(&browser, "sweep", Some("interventions"));

    // Exported: the report with the effects the grid shows, and the grid so coloured.
    let json = export(&browser, &downloads, "effects-export", "json", "attnscope-smollm2-135m-report.json");
    let report: engine::AttentionReport = serde_json::from_slice(&json).unwrap();
    let saved = report.head_effects.expect("the report carries the effects");
    assert_eq!(saved.method, engine::EffectMethod::Patching { source: OTHER.into() });
    assert_eq!(saved.answer, answer);
    assert!(worst(&saved.per_head, &expected.per_head) < 2e-3);
    let svg = String::from_utf8(export(&browser, &downloads, "effects-export", "svg", "attnscope-smollm2-135m-grid-patching.svg")).unwrap();
    assert!(svg.contains("patching effect on the logit of"), "the figure says what it shows");
    let png = export(&browser, &downloads, "effects-export", "png2", "attnscope-smollm2-135m-grid-patching@2x.png");
    std::fs::write(attnscope_tests::root().join("target/screenshots/sweep-grid.png"), png).unwrap();

    // A link to a finding runs it in a fresh page: the attribution, on the linked answer.
    let fresh = Browser::start();
    fresh.goto(&format!(
        "{}?model=smollm2-135m&text={}&answer=%20Mary&versus=%20John&effects=attribution",
        super::app_url(),
        IOI.replace(' ', "%20").replace(',', "%2C")
    ));
    let rows = wait_for_column(&fresh, "attribution");
    assert_effects(&fresh, "attribution from a link", &rows, &model.attribute(&trace, &answer).unwrap());
    drop(fresh);

    // A new text stops nothing it should not: the findings of the old one go.
    paste(&browser, &browser.by_test_id("prompt-input"), "The cat sat on the mat");
    browser.wait_for("the table to go", Duration::from_secs(60), || browser.find_all("[data-testid=effects-table]").is_empty().then_some(()));
    assert!(browser.find_all("[data-testid=head-thumb][data-value]").is_empty(), "the grid shows maps again, not the old text's effects");
    assert_eq!(browser.property(&browser.by_test_id("score-select"), "value").as_deref(), Some("maps"));
}

#[test]
fn an_encoders_heads_are_switched_off_under_its_own_mask_and_the_later_maps_move_as_the_engines() {
    let browser = Browser::start();
    browser.goto(&super::app_url());
    wait_for_run(&browser);
    choose(&browser, "model-select", "all-minilm-l6-v2");
    browser.wait_for("MiniLM's 6 layers", super::LOAD, || (browser.find_all("[data-testid=layer-select] option").len() == 6).then_some(()));
    wait_for_run(&browser);
    // Under the causal mask, which MiniLM was not trained with, the switch says why it is off.
    let toggle = browser.by_test_id("ablate-toggle");
    assert!(browser.attribute(&toggle, "disabled").is_some(), "the switch is off under a mask not the model's");
    let why = browser.text(&browser.by_test_id("ablate-why"));
    assert!(why.contains("own mask (none)"), "and says why: {why}");
    choose(&browser, "mask-select", "none");
    choose(&browser, "layer-select", "2");
    choose(&browser, "head-select", "5");
    browser.wait_for("the switch", Duration::from_secs(30), || {
        let toggle = browser.by_test_id("ablate-toggle");
        (browser.attribute(&toggle, "disabled").is_none() && browser.attribute(&toggle, "data-layer").as_deref() == Some("2")).then_some(toggle)
    });
    browser.click(&browser.by_test_id("ablate-toggle"));
    // No answer to sweep: the panel says so, and the sweeps are hidden.
    browser.by_test_id("no-answer");
    let hidden = browser.execute("return arguments[0].offsetParent === null;", vec![browser.by_test_id("sweep-ablation").as_arg()]);
    assert_eq!(hidden, Value::Bool(true), "no sweep for an encoder");

    let model = shared_model("all-minilm-l6-v2");
    let trace = model.trace(super::OPENING_TEXT, Some(WHOLE_MAX_TOKENS)).unwrap();
    let changed = model.change(&trace, &Intervention::ablate(vec![HeadId { layer: 2, head: 5 }], Ablation::Zero), None, None).unwrap();
    let expected = engine::analysis::summary::map_change(changed.attention(), trace.report.attention()).unwrap();
    choose(&browser, "score-select", "change");
    let mut mismatch = String::new();
    browser
        .wait_for_or(Duration::from_secs(60), || {
            let all = browser.execute("return [...document.querySelectorAll('[data-testid=head-thumb]')].every(t => t.dataset.value);", vec![]);
            if all != Value::Bool(true) {
                mismatch = "the grid has no values yet".into();
                return None;
            }
            let shown = grid_values(&browser, 6, 12);
            for (layer, (row, expected_row)) in shown.iter().zip(&expected).enumerate() {
                for (head, (value, expected)) in row.iter().zip(expected_row).enumerate() {
                    if (value - expected).abs() > 1e-3 {
                        mismatch = format!("L{layer} H{head}: the page shows {value}, the engine {expected}");
                        return None;
                    }
                }
            }
            Some(())
        })
        .unwrap_or_else(|| panic!("{mismatch}"));
    assert!(expected[..3].iter().flatten().all(|&c| c == 0.0) && expected[3].iter().any(|&c| c > 1e-3), "only the layers after the switch move");
}
