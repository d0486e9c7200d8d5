//! Typing at speed: no keystroke is lost, a text typed while the worker is busy
//! supersedes the ones before it (which never run), a causal run after an appended
//! word reuses the beginning and says so, and the maps are never shown as the box's
//! while they are of another text.

use std::time::Duration;

use engine::Mask;

use super::*;

/// Records, at every change of the views' text or staleness, what they show and
/// what the box holds at that moment.
const RECORD: &str = "
    const ws = document.querySelector('[data-testid=workspace]');
    const box = document.querySelector('[data-testid=prompt-input]');
    window.seen = [];
    new MutationObserver(() => window.seen.push({ text: ws.dataset.text, stale: ws.dataset.stale, box: box.value }))
        .observe(ws, { attributes: true, attributeFilter: ['data-text', 'data-stale'] });";

#[test]
fn fast_typing_loses_no_key_and_the_maps_follow_the_box() {
    let browser = open_page();
    wait_for_run(&browser);
    browser.execute(RECORD, vec![]);
    let input = browser.by_test_id("prompt-input");
    let text = "The cat sat on the mat. The dog sat on the rug.";
    type_text(&browser, &input, text);
    assert_eq!(browser.property(&input, "value").as_deref(), Some(text), "every keystroke landed");

    wait_until_shown(&browser, text);
    let seen = browser.execute("return window.seen;", vec![]);
    let seen = seen.as_array().unwrap();
    for record in seen {
        if record["stale"] == "false" {
            assert_eq!(record["text"], record["box"], "maps shown as current for another text: {record}");
        }
    }
    let shown: std::collections::BTreeSet<&str> = seen.iter().filter_map(|r| r["text"].as_str()).collect();
    assert!(shown.len() < text.len(), "texts typed while the worker was busy were superseded: {} texts ran for {} keystrokes", shown.len(), text.len());
    assert_table_after_toggle(&browser, text);

    // One more word: only the new tokens run, and the status says so.
    type_text_at_end(&browser, &input, " The");
    let status = browser.by_test_id("status");
    let said = browser.wait_for("a run that reused the beginning", Duration::from_secs(30), || {
        let said = browser.text(&status);
        said.contains("reused from the last run").then_some(said)
    });
    assert!(said.starts_with("Computed in") && said.contains("new of 15 tokens"), "{said}");
    assert_table_matches_engine(&browser, "smollm2-135m", &format!("{text} The"), Mask::Causal, 0, 0);

    // Without the mask every token runs again, and the status says that too.
    choose(&browser, "mask-select", "none");
    browser.wait_for("the unmasked run", Duration::from_secs(30), || browser.text(&status).contains("every token runs again").then_some(()));
    assert_table_matches_engine(&browser, "smollm2-135m", &format!("{text} The"), Mask::None, 0, 0);
}

fn assert_table_after_toggle(browser: &Browser, text: &str) {
    browser.click(&browser.by_test_id("table-toggle"));
    assert_table_matches_engine(browser, "smollm2-135m", text, Mask::Causal, 0, 0);
}

/// Types at the end of what the box holds.
fn type_text_at_end(browser: &Browser, input: &attnscope_tests::webdriver::Element, text: &str) {
    browser.execute("const el = arguments[0]; el.focus(); el.setSelectionRange(el.value.length, el.value.length);", vec![input.as_arg()]);
    browser.type_text(input, text);
}

#[test]
fn emptying_the_box_while_a_long_text_computes_never_brings_its_maps_back() {
    let browser = open_page();
    wait_for_run(&browser);
    let input = browser.by_test_id("prompt-input");
    let long = "Attention mechanisms allow a model to focus on the parts of its input that matter. ".repeat(6);
    paste(&browser, &input, &long);
    paste(&browser, &input, "");
    let status = browser.by_test_id("status");
    // The long run (about a second here) answers during this time; its maps must not show.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        assert!(browser.text(&status).starts_with("The text is empty"), "status: {}", browser.text(&status));
        assert!(browser.find_all("[data-testid=token-strip]").is_empty(), "the long text's tokens came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    // And the next text runs as usual.
    paste(&browser, &input, "The cat sat");
    assert_table_after_toggle(&browser, "The cat sat");
}

#[test]
fn keys_typed_during_a_long_run_wait_for_it_and_its_maps_still_show_meanwhile() {
    let browser = open_page();
    wait_for_run(&browser);
    browser.execute(RECORD, vec![]);
    let input = browser.by_test_id("prompt-input");
    // About a second of work: the keys below arrive while it runs, so their text waits.
    let long = "Attention mechanisms allow a model to focus on the parts of its input that matter. ".repeat(5);
    paste(&browser, &input, long.trim_end());
    type_text_at_end(&browser, &input, " Yes");
    let last = format!("{} Yes", long.trim_end());
    let workspace = browser.by_test_id("workspace");
    browser.wait_for("the last text's maps", Duration::from_secs(60), || {
        (browser.attribute(&workspace, "data-text").as_deref() == Some(last.as_str())).then_some(())
    });
    let seen = browser.execute("return window.seen;", vec![]);
    let shown: Vec<&str> = seen.as_array().unwrap().iter().filter_map(|r| r["text"].as_str()).collect();
    // The long run's answer came while a newer text waited: it is still the newest
    // answer there is, so it shows (marked stale) until the waiting text's comes.
    assert!(shown.contains(&long.trim_end()), "the long text's maps never showed: {shown:?}");
}

/// The status line says how long the person waited: from the text changing to its maps on
/// the screen. That wait holds the worker's time and lies inside the time this test saw pass
/// from the paste to reading it.
#[test]
fn the_status_line_says_how_long_the_person_waited_for_the_maps() {
    let browser = open_page();
    wait_for_run(&browser);
    let text = "The cat sat on the mat. The dog sat on the rug.";
    let input = browser.by_test_id("prompt-input");
    browser.execute(
        "window.pastedAt = performance.now(); const el = arguments[0]; el.value = arguments[1]; el.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![input.as_arg(), serde_json::json!(text)],
    );
    wait_until_shown(&browser, text);
    let (waited, _) = status_line_wait(&browser);
    let seen = browser.execute("return performance.now() - window.pastedAt;", vec![]).as_f64().unwrap();
    assert!(waited <= seen + 1.0, "the wait ({waited} ms) began at the paste, {seen:.0} ms before it was read");
}
