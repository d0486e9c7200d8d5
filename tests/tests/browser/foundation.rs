//! The foundation: the page computes real maps in its worker and shows the engine's
//! numbers; hover, masks, both models, empty, long and odd text, a missing model.

use std::time::Duration;

use engine::Mask;

use super::*;

#[test]
fn default_page_shows_smollm2_and_its_numbers_match_the_engine() {
    let browser = open_page();
    let input = browser.by_test_id("prompt-input");
    assert_eq!(browser.property(&input, "value").as_deref(), Some("The cat sat on the mat"));
    let status = wait_for_run(&browser);
    let facts = browser.text(&browser.find_all(".facts")[0]);
    assert!(facts.contains("smollm2-135m loaded in") && facts.contains("6 tokens"), "{facts}");
    assert!(status.ends_with(" ms"), "the compute time is shown: {status}");
    assert_eq!(heatmap_attributes(&browser), ("0".into(), "0".into(), "causal".into()));
    // SmolLM2: 30 layers, 9 heads.
    assert_eq!(browser.find_all("[data-testid=layer-select] option").len(), 30);
    assert_eq!(browser.find_all("[data-testid=head-select] option").len(), 9);

    choose(&browser, "layer-select", "3");
    choose(&browser, "head-select", "2");
    assert_eq!(heatmap_attributes(&browser), ("3".into(), "2".into(), "causal".into()));
    assert!(browser.find_all("[data-testid=weights-table]").is_empty(), "the table starts hidden");
    browser.click(&browser.by_test_id("table-toggle"));
    assert_table_matches_engine(&browser, "smollm2-135m", "The cat sat on the mat", Mask::Causal, 3, 2);
    let cells = browser.find_all("[data-testid=weights-table] td").len();
    assert_eq!(cells, 36, "one cell per weight");
    keep_screenshot(&browser, "smollm2-table");
}

#[test]
fn typing_recomputes_and_the_unmasked_run_matches_the_engine() {
    let browser = open_page();
    wait_for_run(&browser);
    keep_screenshot(&browser, "smollm2-default");
    let text = "When Mary and John went to the store, John gave a drink to";
    type_text(&browser, &browser.by_test_id("prompt-input"), text);
    choose(&browser, "mask-select", "none");
    choose(&browser, "layer-select", "29");
    choose(&browser, "head-select", "8");
    browser.click(&browser.by_test_id("table-toggle"));
    assert_table_matches_engine(&browser, "smollm2-135m", text, Mask::None, 29, 8);
    assert_eq!(heatmap_attributes(&browser), ("29".into(), "8".into(), "none".into()));
    browser.click(&browser.by_test_id("table-toggle"));
    keep_screenshot(&browser, "smollm2-unmasked");
    browser.click(&browser.by_test_id("table-toggle"));
    // Unmasked, an early query looks ahead: the cell above the diagonal is not zero.
    let rows = table_numbers(&browser);
    assert!(rows[0][1] > 0.0);
}

#[test]
fn minilm_matches_the_engine_under_both_masks() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "all-minilm-l6-v2");
    let text = "The cat sat on the mat";
    browser.wait_for("MiniLM's 6 layers", LOAD, || (browser.find_all("[data-testid=layer-select] option").len() == 6).then_some(()));
    wait_for_run(&browser);
    assert_eq!(browser.find_all("[data-testid=head-select] option").len(), 12);
    choose(&browser, "layer-select", "5");
    choose(&browser, "head-select", "11");
    browser.click(&browser.by_test_id("table-toggle"));
    assert_table_matches_engine(&browser, "all-minilm-l6-v2", text, Mask::Causal, 5, 11);
    choose(&browser, "mask-select", "none");
    assert_table_matches_engine(&browser, "all-minilm-l6-v2", text, Mask::None, 5, 11);
    // WordPiece pieces are shown as they are, with [CLS] and [SEP].
    let headers = browser.execute("return [...document.querySelectorAll('[data-testid=weights-table] thead th')].map(th => th.textContent)", vec![]);
    assert_eq!(headers[1], "[CLS]");
    assert_eq!(headers[8], "[SEP]");
    keep_screenshot(&browser, "minilm-table");
}

#[test]
fn hovering_a_cell_shows_query_key_and_weight() {
    let browser = open_page();
    wait_for_run(&browser);
    let native = opening_report();
    let canvas = browser.find_all("[data-testid=heatmap] canvas").remove(0);
    // The app's layout for 6 tokens: cells start at (110, 10) canvas pixels and are
    // 450 / 6 wide; the page may draw the 640-pixel canvas smaller.
    let shown = browser.execute("return arguments[0].getBoundingClientRect().width", vec![canvas.as_arg()]);
    let ratio = shown.as_f64().unwrap() / 640.0;
    let cell = 450.0 / 6.0;
    let (q, k) = (5usize, 1usize);
    let (x, y) = (110.0 + (k as f64 + 0.5) * cell, 10.0 + (q as f64 + 0.5) * cell);
    browser.hover(&canvas, (x * ratio) as i64, (y * ratio) as i64);
    let tooltip = browser.by_test_id("heatmap-tooltip");
    let expected = format!("mat → cat: {:.4}", native.attention().weight(0, 0, q, k));
    assert_eq!(browser.text(&tooltip), expected);
    keep_screenshot(&browser, "smollm2-hover");
}

#[test]
fn empty_text_shows_a_message_and_runs_nothing() {
    let browser = open_page();
    wait_for_run(&browser);
    let input = browser.by_test_id("prompt-input");
    browser.clear(&input);
    browser.type_text(&input, "   ");
    let status = browser.by_test_id("status");
    browser.wait_for("the empty-text message", Duration::from_secs(10), || {
        (browser.text(&status) == "The text is empty: type a sentence to see its attention.").then_some(())
    });
    let heatmap = browser.by_test_id("heatmap");
    assert!(browser.attribute(&heatmap, "class").unwrap().contains("empty"), "no map is shown for no text");
}

#[test]
fn long_and_odd_text_is_cut_with_a_notice_and_never_breaks_the_page() {
    let browser = open_page();
    wait_for_run(&browser);
    let input = browser.by_test_id("prompt-input");
    // Pasted at once (typing 17,000 characters key by key would only test patience): 4,900
    // tokens, cut to the page's 4,096, which run as a long text; the notice says so as soon
    // as the run begins, and the odd texts below end it between its layers.
    let long = "The cat sat on the mat. ".repeat(700);
    paste(&browser, &input, &long);
    let notice = browser.wait_for("the notice", LOAD, || browser.find_all("[data-testid=notice]").into_iter().next());
    let text = browser.text(&notice);
    assert!(text.contains("only the first 4096 (this page's limit)"), "{text}");
    let status = browser.text(&browser.by_test_id("status"));
    assert!(status.starts_with("A long text (4096 tokens"), "{status}");

    for odd in ["I 🙂 attention 👩‍👩‍👧", "注意力就是你所需要的一切", "الانتباه هو كل ما تحتاجه", "\u{301}", "tab\there\u{0}nul\u{7}bell\u{1b}[31m"]
    {
        paste(&browser, &input, odd);
        browser.click(&browser.by_test_id("table-toggle"));
        assert_table_matches_engine(&browser, "smollm2-135m", odd, Mask::Causal, 0, 0);
        browser.click(&browser.by_test_id("table-toggle"));
    }
}

#[test]
fn a_missing_model_file_is_reported_in_the_page() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "missing-model");
    let status = browser.by_test_id("status");
    let text = browser.wait_for("the error", LOAD, || {
        let text = browser.text(&status);
        text.starts_with("Error").then_some(text)
    });
    assert!(text.contains("cannot fetch models/missing-model/missing.gguf: 404"), "{text}");
}

/// Where the page is cross-origin isolated its engine computes on every core, elsewhere on
/// one, and the status line says which and why; the numbers are the engine's either way.
#[test]
fn the_engine_uses_every_core_where_the_page_is_isolated_and_says_which() {
    let threads_of = |url: &str| {
        let browser = Browser::start();
        browser.goto(url);
        wait_for_run(&browser);
        let threads = browser.by_test_id("threads");
        let said = browser.text(&threads);
        browser.click(&browser.by_test_id("table-toggle"));
        assert_table_matches_engine(&browser, "smollm2-135m", OPENING_TEXT, Mask::Causal, 0, 0);
        (browser.attribute(&threads, "data-threads").unwrap(), said)
    };
    let (count, said) = threads_of(&app_url_one_thread());
    assert_eq!(count, "1");
    assert_eq!(said, "1 thread (the page is not cross-origin isolated, so the engine cannot share memory between threads)");
    if std::env::var_os("ATTNSCOPE_ONE_THREAD").is_none() {
        let (count, said) = threads_of(&app_url());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(count, cores.to_string(), "{said}");
        assert_eq!(said, format!("{cores} threads"));
    }
}
