//! Gemma 3 270M, built in: too big for float32 in a tab by default (1.07 GB de-quantized), it
//! loads on the quantized path, says so, and still shows the model's own numbers; asked for
//! float32, it reloads on that path and says so.

use engine::Mask;

use super::*;

fn weights_note(browser: &Browser) -> String {
    browser.text(&browser.by_test_id("weights-note"))
}

#[test]
fn gemma3_runs_quantized_by_default_and_float32_on_request_with_the_same_numbers() {
    let browser = open_page();
    wait_for_run(&browser);
    // SmolLM2 fits float32 (540 MB de-quantized): the default keeps it exact.
    browser.wait_for("SmolLM2's weight path", LOAD, || weights_note(&browser).starts_with("float32").then_some(()));

    choose(&browser, "model-select", "gemma3-270m");
    browser.wait_for("Gemma 3 on the quantized path", LOAD, || weights_note(&browser).starts_with("quantized").then_some(()));
    wait_for_run(&browser);
    // A local layer (5-of-6 windowed) and a global one, against the engine's float32 numbers.
    choose(&browser, "mask-select", "causal");
    browser.click(&browser.by_test_id("table-toggle"));
    for (layer, head) in [(3, 1), (5, 2)] {
        choose(&browser, "layer-select", &layer.to_string());
        choose(&browser, "head-select", &head.to_string());
        assert_table_matches_engine(&browser, "gemma3-270m", "The cat sat on the mat", Mask::Causal, layer, head);
    }
    // The README's picture of it: the map, the weights picker and what the status bar says.
    browser.click(&browser.by_test_id("table-toggle"));
    keep_screenshot(&browser, "gemma3");
    browser.click(&browser.by_test_id("table-toggle"));

    choose(&browser, "weights-select", "float32");
    browser.wait_for("Gemma 3 reloaded in float32", LOAD, || weights_note(&browser).starts_with("float32").then_some(()));
    wait_for_run(&browser);
    assert_table_matches_engine(&browser, "gemma3-270m", "The cat sat on the mat", Mask::Causal, 5, 2);
}
