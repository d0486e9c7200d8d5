//! A translator in the page: the translation, token by token, as the engine makes it,
//! and the encoder's self-attention in the views that show one sequence.

use std::time::Duration;

use app::components::token_label;
use attnscope_tests::model_dir;
use engine::translator::Translator;

use super::head_views::math_rows;
use super::*;

#[test]
fn a_translator_translates_in_the_page_and_its_encoder_fills_the_views() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "en-pt");
    let text = "The cat sat on the mat.";
    type_text(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    let native = Translator::from_dir("en-pt", &model_dir("en-pt")).unwrap().translate(text, PAGE_MAX_TOKENS, true).unwrap();

    // The translation, as the package's engine gives it, and its tokens one by one.
    let shown = browser.wait_for("the translation", LOAD, || {
        let found = browser.find_all("[data-testid=translation-text]");
        found.first().map(|e| browser.text(e)).filter(|t| !t.is_empty())
    });
    assert_eq!(shown, "O gato sentou-se no tapete.");
    assert_eq!(native.translation.as_ref().unwrap().text, shown);
    let tokens = browser.execute(
        "return [...document.querySelectorAll('[data-testid=translation-output] [data-testid=token]')].map(t => [+t.dataset.index, t.textContent]);",
        vec![],
    );
    let target = &native.sequence("target").unwrap().tokens;
    let expected: Vec<serde_json::Value> = target.iter().enumerate().map(|(i, t)| serde_json::json!([i, token_label(&t.text)])).collect();
    assert_eq!(tokens, serde_json::Value::Array(expected));
    assert!(browser.text(&browser.by_test_id("status")).contains("the translation token by token"));

    // The views show the encoder's self-attention: the table's numbers are the engine's.
    choose(&browser, "layer-select", "2");
    choose(&browser, "head-select", "3");
    browser.click(&browser.by_test_id("table-toggle"));
    let encoder = &native.site("encoder").unwrap().maps;
    let n = encoder.keys();
    let rows = browser.wait_for("the encoder's table", Duration::from_secs(30), || {
        let rows = table_numbers(&browser);
        (rows.len() == n).then_some(rows)
    });
    for (q, row) in rows.iter().enumerate() {
        for (k, &weight) in row.iter().enumerate() {
            assert!((weight - encoder.weight(2, 3, q, k)).abs() < 1e-3, "encoder L2H3 ({q}, {k}): {weight}");
        }
    }
    keep_screenshot(&browser, "translation");

    // The arithmetic: the encoder layer's real q·k, scaled by 1/√32, no mask.
    browser.click(&browser.by_test_id("tab-math"));
    let math = browser.wait_for("the math rows", Duration::from_secs(30), || {
        let rows = math_rows(&browser);
        (rows.len() == n).then_some(rows)
    });
    for (k, [_, _, weight, model]) in math.iter().enumerate() {
        assert!((weight - model).abs() < 1e-3, "key {k}: the steps give the model's weight");
        assert!((model - encoder.weight(2, 3, n - 1, k)).abs() < 1e-3, "key {k}");
    }

    // What does not apply to a translator says so and cannot be pressed.
    for id in ["compare-toggle", "find-induction", "mask-select"] {
        let disabled = browser.execute("return arguments[0].disabled;", vec![browser.by_test_id(id).as_arg()]);
        assert_eq!(disabled, serde_json::json!(true), "{id} is disabled for a translator");
    }
    assert!(browser.text(&browser.by_test_id("probe-status")).contains("translator"));

    // And back to SmolLM2: no translation, its own maps.
    choose(&browser, "model-select", "smollm2-135m");
    browser.wait_for("SmolLM2's run", LOAD, || {
        (browser.find_all("[data-testid=translation-text]").is_empty() && browser.text(&browser.by_test_id("status")).starts_with("Computed in")).then_some(())
    });
}
