//! An RNN aligner in the page (issue 31): picked like any model, a word typed, its output and
//! its one alignment drawn from the engine's numbers.

use std::time::Duration;

use app::components::token_label;
use attnscope_tests::model_dir;

use super::*;

#[test]
fn khmer_translit_transliterates_in_the_page_and_draws_its_alignment_over_every_slot() {
    let browser = open_page();
    wait_for_run(&browser);
    let many_heads =
        || browser.find_all("[data-testid=head-grid], [data-testid=scores-table], [data-testid=scores-placeholder], [data-testid=probe-status]").len();
    assert_eq!(many_heads(), 3, "a Transformer's views of many heads");
    assert!(browser.find_all("[data-testid=aligner-note]").is_empty());
    choose(&browser, "model-select", "khmer-translit");
    let text = "phnom penh";
    type_text(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    let native = match engine::load::files::open_path("khmer-translit", &model_dir("khmer-translit"), engine::WeightChoice::Float32).unwrap() {
        engine::AnyModel::Aligner(aligner) => aligner.align(text, |_, _, _| {}).unwrap(),
        _ => panic!("khmer-translit is an aligner"),
    };
    let shown = browser.wait_for("the transliteration", LOAD, || {
        let found = browser.find_all("[data-testid=translation-text]");
        found.first().map(|e| browser.text(e)).filter(|t| !t.is_empty())
    });
    assert_eq!(shown, "ភ្នំពេញ");
    assert_eq!(native.translation.as_ref().unwrap().text, shown);
    assert!(browser.text(&browser.by_test_id("status")).starts_with("Computed in"));
    // One attention: the views of many heads step aside, and the page says why; the head's
    // own views (heatmap, lines, table) stay.
    assert_eq!(many_heads(), 0, "an aligner's report sets the grid of heads, the head scores and the probe aside");
    assert!(browser.text(&browser.by_test_id("aligner-note")).starts_with("An RNN aligner has one attention"));
    assert_eq!(browser.find_all("[data-testid=heatmap]").len(), 1, "the head detail shows the alignment too");

    // The alignment: one layer, one head, a pixel per weight, the padding's 16 columns too.
    let attribute = |name: &str| browser.attribute(&browser.by_test_id("alignment-map"), name).unwrap_or_default();
    let cross = &native.site("cross").unwrap().maps;
    let [_, _, rows, columns] = cross.shape();
    assert_eq!(columns, 25);
    browser.wait_for("the alignment map", Duration::from_secs(30), || (attribute("data-rows") == rows.to_string()).then_some(()));
    assert_eq!(attribute("data-columns"), columns.to_string());
    let (width, pixels) = canvas_pixels(&browser, "[data-testid=alignment-map] canvas");
    assert_eq!(width, columns);
    assert_pixels("the alignment", &pixels, cross.as_flat().iter().copied().map(viridis));
    let labels = browser.execute("return [...document.querySelectorAll('[data-testid=alignment-map] .key-labels li')].map(li => li.textContent);", vec![]);
    let source: Vec<String> = native.sequence("source").unwrap().tokens.iter().map(|t| token_label(&t.text)).collect();
    assert_eq!(labels, serde_json::json!(source));
    // The arithmetic of the first step: each slot's score (Σ_a scale_a tanh(s_a + k_ja)) and
    // weight as the engine takes them apart, to the table's four decimals.
    let arithmetic = native.alignment_arithmetic.as_ref().unwrap();
    let column = |class: &str| -> Vec<f64> {
        let script = format!("return [...document.querySelectorAll('[data-testid=aligner-math-slots] td.{class}')].map(td => +td.textContent);");
        browser.execute(&script, vec![]).as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    browser.wait_for("the arithmetic of a step", Duration::from_secs(30), || (column("score").len() == columns).then_some(()));
    for (slot, (score, weight)) in column("score").into_iter().zip(column("weight")).enumerate() {
        assert!((score - f64::from(arithmetic.scores(0)[slot])).abs() <= 5e-5, "slot {slot}: score {score}");
        assert!((weight - f64::from(cross.weight(0, 0, 0, slot))).abs() <= 5e-5, "slot {slot}: weight {weight}");
    }
    assert!(browser.text(&browser.by_test_id("aligner-math")).contains("Keras's AdditiveAttention"));
    browser.execute("document.querySelector('section.alignment').scrollIntoView({block: 'start'});", vec![]);
    keep_screenshot(&browser, "khmer-translit");
}
