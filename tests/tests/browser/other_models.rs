//! Heads switched off and maps weighed by value norms in a translator, a speech model and a
//! vision model, as in a text model: the page's translation, transcript, grid and table
//! against the engine's own changed runs and norms.

use std::time::Duration;

use attnscope_tests::webdriver::Browser;
use attnscope_tests::{model_dir, root};
use engine::analysis::norms::value_weighted;
use engine::any_model::Input;
use engine::{Ablation, AnyModel, AttentionReport, HeadId, Intervention, RunOptions};
use serde_json::Value;

use super::*;

fn load(name: &str) -> AnyModel {
    engine::load::files::open_path(name, &model_dir(name), engine::WeightChoice::Float32).unwrap()
}

/// The engine's run of `input`, with value norms, and with `heads` zeroed when there are any.
fn native(model: &AnyModel, input: Input, heads: &[(usize, usize)]) -> AttentionReport {
    let zeroed = Intervention::ablate(heads.iter().map(|&(layer, head)| HeadId { layer, head }).collect(), Ablation::Zero);
    let options = RunOptions { value_norms: true, max_tokens: Some(WHOLE_MAX_TOKENS), ..RunOptions::default() };
    model.run_input(input, model.native_mask(), options, Some(&zeroed), |_, _, _| {}).unwrap()
}

/// Selects `layer`, `head` and switches it off with the switch above its map.
fn switch_off(browser: &Browser, layer: usize, head: usize) {
    choose(browser, "layer-select", &layer.to_string());
    choose(browser, "head-select", &head.to_string());
    // Read in one step in the page: the switch re-renders as the selection changes.
    let ready = "const t = document.querySelector('[data-testid=ablate-toggle]');
                 return !!t && t.dataset.layer === arguments[0] && t.dataset.head === arguments[1] && !t.disabled;";
    browser.wait_for("the head's switch", Duration::from_secs(30), || {
        (browser.execute(ready, vec![Value::from(layer.to_string()), Value::from(head.to_string())]) == Value::Bool(true)).then_some(())
    });
    browser.click(&browser.by_test_id("ablate-toggle"));
}

/// Waits until the text written (`written`: the translation's or the transcript's test id)
/// is `changed`, and the line under it gives `unchanged` as written with every head on.
fn wait_for_rewritten(browser: &Browser, written: &str, changed: &str, unchanged: &str) {
    browser.wait_for(&format!("{changed:?} written again, {unchanged:?} beside it"), LOAD, || {
        let status = browser.text_of("[data-testid=status]").unwrap_or_default();
        assert!(!status.starts_with("Error"), "the page shows an error: {status}");
        let shown = browser.text_of(&format!("[data-testid={written}]"))?;
        let before = browser.text_of("[data-testid=unchanged-text]")?;
        (shown.trim() == changed.trim() && before == unchanged.trim() && status.starts_with("Computed in")).then_some(())
    });
}

/// Weighs the selected head's map by value norms and checks the table against `report`'s.
fn assert_value_weighted_table(browser: &Browser, report: &AttentionReport, layer: usize, head: usize) {
    choose(browser, "layer-select", &layer.to_string());
    choose(browser, "head-select", &head.to_string());
    choose(browser, "weighting-select", "norms");
    let maps = report.attention();
    let expected = value_weighted(maps, report.value_norms.as_ref().expect("norms asked for"), layer, head);
    let n = maps.keys();
    browser.click(&browser.by_test_id("table-toggle"));
    let caption = browser.wait_for("the value-weighted table", Duration::from_secs(60), || {
        let caption = browser.text_of("[data-testid=weights-table] caption")?;
        (caption.contains("value-weighted") && table_numbers(browser).len() == maps.queries()).then_some(caption)
    });
    assert!(caption.contains("value-weighted"), "{caption}");
    for (q, row) in table_numbers(browser).iter().enumerate() {
        for (k, &shown) in row.iter().enumerate() {
            let want = expected[q * n + k];
            // The table prints four decimals: half of the last one, relative past 1.
            assert!((shown - want).abs() <= 1e-3 * want.abs().max(1.0), "L{layer} H{head} ({q}, {k}): the table shows {shown}, the engine {want}");
        }
    }
    browser.click(&browser.by_test_id("table-toggle"));
    choose(browser, "weighting-select", "attention");
}

/// The grid coloured by how far each map moved, against the engine's change.
fn assert_change_grid(browser: &Browser, changed: &AttentionReport, unchanged: &AttentionReport) {
    let expected = engine::analysis::summary::map_change(changed.attention(), unchanged.attention()).unwrap();
    choose(browser, "score-select", "change");
    let (layers, heads) = (expected.len(), expected[0].len());
    let shown = browser.wait_for("the grid coloured by change", Duration::from_secs(60), || {
        let values = browser.execute("return [...document.querySelectorAll('[data-testid=head-thumb]')].map(t => t.dataset.value || null);", vec![]);
        let values: Vec<f32> = values.as_array()?.iter().map(|v| v.as_str().and_then(|v| v.parse().ok())).collect::<Option<_>>()?;
        (values.len() == layers * heads).then_some(values)
    });
    for (i, (value, want)) in shown.iter().zip(expected.iter().flatten()).enumerate() {
        assert!((value - want).abs() <= 1e-3, "head {}.{}: the page shows {value}, the engine {want}", i / heads, i % heads);
    }
    assert!(expected.iter().flatten().any(|&v| v > 1e-3), "maps after the heads moved");
    choose(browser, "score-select", "maps");
}

#[test]
fn a_translators_encoder_heads_switch_off_and_the_translation_is_written_again() {
    let text = "The cat sat on the mat.";
    let model = load("en-pt");
    let plain = native(&model, Input::Text(text), &[]);
    let heads = [(0, 1), (3, 5)];
    let changed = native(&model, Input::Text(text), &heads);
    assert_ne!(changed.written(), plain.written(), "these heads change the translation");

    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "en-pt");
    type_text(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    // Value norms of the encoder's heads, as the engine keeps them.
    assert_value_weighted_table(&browser, &plain, 2, 3);
    for (layer, head) in heads {
        switch_off(&browser, layer, head);
    }
    wait_for_rewritten(&browser, "translation-text", changed.written().unwrap(), plain.written().unwrap());
    assert_eq!(browser.find_all("[data-testid=ablated-head]").len(), 2);
    assert!(browser.text_of("[data-testid=no-answer]").unwrap_or_default().contains("translator"));
    assert_change_grid(&browser, &changed, &plain);
    keep_screenshot_of(&browser, "translation-heads-off", Some("translation-text"));
    // Every head on again: the translation as it was, and no line of before.
    browser.click(&browser.by_test_id("ablate-clear"));
    browser.wait_for("the unchanged translation", LOAD, || {
        let shown = browser.text_of("[data-testid=translation-text]")?;
        (shown == plain.written().unwrap() && browser.find_all("[data-testid=unchanged-written]").is_empty()).then_some(())
    });
}

#[test]
fn a_speech_models_decoder_or_encoder_heads_are_zeroed_and_the_transcript_is_written_again() {
    let model = load("whisper-tiny-en");
    let samples = engine::audio::wav::read_wav(&std::fs::read(root().join("tests/fixtures/whisper/flite-cat.wav")).unwrap()).unwrap();
    let plain = native(&model, Input::Sound(&samples), &[]);
    let heads = [(0, 0), (1, 2), (2, 3)];
    let changed = native(&model, Input::Sound(&samples), &heads);
    assert_ne!(changed.written(), plain.written(), "these heads change the transcript");

    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "whisper-tiny-en");
    browser.wait_for("the sample's transcript", LOAD, || {
        let shown = browser.text_of("[data-testid=transcript-text]")?;
        (shown == plain.written().unwrap().trim() && browser.text_of("[data-testid=status]")?.starts_with("Computed in")).then_some(())
    });
    // The decoder's value norms.
    assert_value_weighted_table(&browser, &plain, 1, 2);
    // A decoder writing a token at a time has no mean to put in a head's place.
    let mean = browser.find_all("[data-testid=ablation-select] option[value=mean]").remove(0);
    assert!(browser.attribute(&mean, "disabled").is_some(), "mean ablation is not offered for a speech model");
    for (layer, head) in heads {
        switch_off(&browser, layer, head);
    }
    wait_for_rewritten(&browser, "transcript-text", changed.written().unwrap(), plain.written().unwrap());
    let ids = browser.execute("return [...document.querySelectorAll('[data-testid=transcript] [data-testid=token]')].map(t => +t.dataset.id);", vec![]);
    let expected: Vec<u32> = changed.sequence("transcript").unwrap().tokens.iter().map(|t| t.id).collect();
    assert_eq!(ids, serde_json::json!(expected), "the changed transcript's tokens");
    assert!(browser.text_of("[data-testid=no-answer]").unwrap_or_default().contains("speech model"));

    // The encoder's heads, with the switch above the encoder's map: the decoder's are
    // switched back on (a run changes the heads of one attention), and the transcript is
    // written again from the changed encoder, as the engine writes it (whose encoder run
    // tests/integration/speech.rs holds to transformers').
    let encoder_heads = [(1, 2), (2, 0), (3, 4)];
    let zeroed = Intervention {
        site: Some("encoder".into()),
        ..Intervention::ablate(encoder_heads.iter().map(|&(layer, head)| HeadId { layer, head }).collect(), Ablation::Zero)
    };
    let options = RunOptions { max_tokens: Some(WHOLE_MAX_TOKENS), ..RunOptions::default() };
    let encoder_changed = model.run_input(Input::Sound(&samples), model.native_mask(), options, Some(&zeroed), |_, _, _| {}).unwrap();
    assert_ne!(encoder_changed.written(), plain.written(), "these encoder heads change the transcript");
    for (layer, head) in encoder_heads {
        choose(&browser, "layer-select", &layer.to_string());
        choose(&browser, "head-select", &head.to_string());
        let ready = "const t = document.querySelector('[data-testid=encoder-ablate-toggle]');
                     return !!t && t.dataset.layer === arguments[0] && t.dataset.head === arguments[1];";
        browser.wait_for("the encoder head's switch", Duration::from_secs(30), || {
            (browser.execute(ready, vec![Value::from(layer.to_string()), Value::from(head.to_string())]) == Value::Bool(true)).then_some(())
        });
        browser.click(&browser.by_test_id("encoder-ablate-toggle"));
    }
    wait_for_rewritten(&browser, "transcript-text", encoder_changed.written().unwrap(), plain.written().unwrap());
    let chips = browser.execute(
        "return [...document.querySelectorAll('[data-testid=ablated-head]')].map(c => `${c.dataset.site}:${c.dataset.layer}.${c.dataset.head}`);",
        vec![],
    );
    assert_eq!(chips, serde_json::json!(["encoder:1.2", "encoder:2.0", "encoder:3.4"]), "only the encoder's heads are off");
    assert!(browser.text_of("[data-testid=unchanged-written]").unwrap_or_default().contains("encoder L1 H2"));
}

#[test]
fn a_pictures_heads_switch_off_and_the_later_maps_move_as_the_engines() {
    let model = load("dinov2-small");
    let picture = engine::image::decode::decode(&std::fs::read(root().join("tests/fixtures/vit/chelsea.png")).unwrap()).unwrap();
    let input = Input::Picture(&picture, engine::Framing::Letterbox);
    let plain = native(&model, input, &[]);
    let changed = native(&model, input, &[(5, 2)]);

    let browser = open_page();
    browser.goto(&format!("{}?model=dinov2-small", app_url()));
    wait_for_run(&browser);
    // The class token's value-weighted view of the last layer's head 3: the heatmap's top.
    choose(&browser, "layer-select", "11");
    choose(&browser, "head-select", "3");
    choose(&browser, "weighting-select", "norms");
    let expected = value_weighted(plain.attention(), plain.value_norms.as_ref().unwrap(), 11, 3);
    let top = expected.iter().copied().fold(0.0, f32::max);
    let heatmap = browser.by_test_id("heatmap");
    let shown_top: f32 = browser.wait_for("the value-weighted map", LOAD, || {
        let weighted = browser.attribute(&heatmap, "data-weighting")? == "norms" && browser.attribute(&heatmap, "data-head")? == "3";
        weighted.then(|| browser.attribute(&heatmap, "data-top")?.parse().ok())?
    });
    assert!((shown_top - top).abs() <= 1e-4 * top, "the scale's top {shown_top}, the map's largest cell {top}");
    choose(&browser, "weighting-select", "attention");

    switch_off(&browser, 5, 2);
    browser.wait_for("the changed run", LOAD, || {
        let ablated = browser.execute("return document.querySelector(\"[data-testid=head-thumb][data-layer='5'][data-head='2']\")?.dataset.ablated;", vec![]);
        let done = browser.text_of("[data-testid=status]")?.starts_with("Computed in");
        (done && ablated == Value::from("true")).then_some(())
    });
    assert!(browser.text_of("[data-testid=no-answer]").unwrap_or_default().contains("picture"));
    assert_change_grid(&browser, &changed, &plain);
    let moved = engine::analysis::summary::map_change(changed.attention(), plain.attention()).unwrap();
    assert!(moved[..6].iter().flatten().all(|&v| v == 0.0), "the layers up to the switched head attend as before");
    let hidden = browser.execute("return arguments[0].offsetParent === null;", vec![browser.by_test_id("sweep-ablation").as_arg()]);
    assert_eq!(hidden, Value::Bool(true), "no sweep without a next token");
}
