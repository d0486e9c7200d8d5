//! Masked against unmasked, the token strip, and a link that brings back the view.

use std::time::Duration;

use attnscope_tests::shared_model;
use attnscope_tests::webdriver::Browser;
use engine::Mask;

use super::*;

#[test]
fn comparing_masks_shows_both_maps_their_difference_and_the_lookahead_mass() {
    use engine::analysis::summary::lookahead_mass;
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "layer-select", "10");
    choose(&browser, "head-select", "2");
    assert!(browser.find_all("[data-testid=compare-view]").is_empty(), "the comparison starts hidden");
    browser.click(&browser.by_test_id("compare-toggle"));
    let view = browser.by_test_id("compare-view");
    browser.wait_for("both masks", LOAD, || browser.text(&view).starts_with("Layer 10, head 2").then_some(()));

    let model = shared_model("smollm2-135m");
    let text = "The cat sat on the mat";
    let causal = model.run_text(text, Mask::Causal, None).unwrap();
    let unmasked = model.run_text(text, Mask::None, None).unwrap();
    let (side, pixels) = canvas_pixels(&browser, "[data-testid=diff-map] canvas");
    assert_eq!(side, 6);
    let diff = unmasked.attention().head(10, 2).iter().zip(causal.attention().head(10, 2)).map(|(u, c)| diverging(u - c));
    assert_pixels("diff-map", &pixels, diff);
    let (_, pixels) = canvas_pixels(&browser, "[data-testid=unmasked-map] canvas");
    assert_pixels("unmasked-map", &pixels, unmasked.attention().head(10, 2).iter().map(|&w| viridis(w)));
    let (_, pixels) = canvas_pixels(&browser, "[data-testid=causal-map] canvas");
    assert_pixels("causal-map", &pixels, causal.attention().head(10, 2).iter().map(|&w| viridis(w)));

    let mass = lookahead_mass(&unmasked.attention());
    let rows = browser.execute(
        "return [...document.querySelectorAll('[data-testid=lookahead-table] tr')].map(tr => [tr.dataset.layer, tr.dataset.head, tr.dataset.mass]);",
        vec![],
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 9, "one row per head of the layer");
    for row in rows {
        let (layer, head): (usize, usize) = (row[0].as_str().unwrap().parse().unwrap(), row[1].as_str().unwrap().parse().unwrap());
        let shown: f32 = row[2].as_str().unwrap().parse().unwrap();
        assert_eq!(layer, 10);
        assert!((shown - mass[10][head]).abs() < 1e-4, "head {head}: {shown} vs {}", mass[10][head]);
    }
    keep_screenshot_of(&browser, "compare", Some("compare-view"));

    // The grid coloured by that mass: each thumbnail one colour, the largest mass brightest.
    choose(&browser, "score-select", "lookahead");
    let top = mass.iter().flatten().copied().fold(f32::MIN_POSITIVE, f32::max);
    for (layer, head) in [(0, 0), (10, 2), (29, 8)] {
        let (side, pixels) = browser.wait_for("a one-colour thumbnail", Duration::from_secs(10), || {
            let found = grid_cell_pixels(&browser, layer, head);
            (found.0 == 1).then_some(found)
        });
        assert_eq!(side, 1);
        assert_pixels(&format!("thumb {layer}/{head}"), &pixels, std::iter::once(viridis(mass[layer][head] / top)));
    }
}

#[test]
fn hovering_a_token_highlights_it_everywhere_and_a_click_pins_it() {
    let browser = open_page();
    wait_for_run(&browser);
    browser.click(&browser.by_test_id("table-toggle"));
    let tokens = browser.find_all("[data-testid=token-strip] [data-testid=token]");
    assert_eq!(tokens.len(), 6);
    assert_eq!(browser.text(&tokens[1]), "cat");
    let focus = |browser: &Browser| browser.attribute(&browser.by_test_id("heatmap"), "data-focus");
    let table_focus = |browser: &Browser| {
        browser.execute(
            "const t = document.querySelector('[data-testid=weights-table]');
             return [[...t.querySelectorAll('tbody tr')].findIndex(tr => tr.classList.contains('focused')),
                     [...t.querySelectorAll('tbody tr:first-child td')].findIndex(td => td.classList.contains('focused'))];",
            vec![],
        )
    };
    browser.hover_centre(&tokens[1]);
    browser.wait_for("the hovered token", Duration::from_secs(5), || (focus(&browser).as_deref() == Some("1")).then_some(()));
    assert_eq!(table_focus(&browser), serde_json::json!([1, 1]), "row 1 (what it attends to) and column 1 (what attends to it)");
    browser.hover_centre(&browser.by_test_id("status"));
    browser.wait_for("no focus", Duration::from_secs(5), || focus(&browser).is_none().then_some(()));

    browser.click(&tokens[4]);
    browser.hover_centre(&browser.by_test_id("status"));
    assert_eq!(focus(&browser).as_deref(), Some("4"), "a pinned token stays highlighted");
    assert_eq!(browser.attribute(&tokens[4], "aria-pressed").as_deref(), Some("true"));
    assert_eq!(table_focus(&browser), serde_json::json!([4, 4]));
    keep_screenshot_of(&browser, "tokens", Some("token-strip"));
    // The pixel maps show it too: the selected thumbnail and the comparison's three maps.
    browser.click(&browser.by_test_id("compare-toggle"));
    browser.wait_for("the comparison", LOAD, || browser.text(&browser.by_test_id("compare-view")).starts_with("Layer").then_some(()));
    for map in ["[data-testid=head-thumb][aria-selected=true]", "[data-testid=causal-map]", "[data-testid=unmasked-map]", "[data-testid=diff-map]"] {
        let bands = browser.find_all(&format!("{map} .focus-row"));
        assert_eq!(bands.len(), 1, "{map}");
        let style = browser.attribute(&bands[0], "style").unwrap();
        assert!(style.contains("top: 66.667%"), "{map}: token 4 of 6 starts two thirds down: {style}");
    }
    browser.click(&browser.by_test_id("compare-toggle"));
    // The lines: only the pinned token's, both what it attends to and what attends to it.
    browser.click(&browser.by_test_id("tab-lines"));
    let ends = browser.execute("return [...document.querySelectorAll('[data-testid=lines-view] line')].map(l => [+l.dataset.left, +l.dataset.right]);", vec![]);
    let ends = ends.as_array().unwrap();
    assert!(!ends.is_empty() && ends.iter().all(|e| e[0] == 4 || e[1] == 4), "{ends:?}");
    assert!(ends.iter().any(|e| e[0] == 4) && ends.iter().any(|e| e[1] == 4 && e[0] == 5), "both ways: {ends:?}");
    browser.click(&tokens[4]);
    browser.hover_centre(&browser.by_test_id("status"));
    browser.wait_for("the pin released", Duration::from_secs(5), || focus(&browser).is_none().then_some(()));
}

#[test]
fn a_copied_link_opens_the_same_view_in_a_fresh_page() {
    let browser = open_page();
    wait_for_run(&browser);
    let text = "Attention is all you need: 12345 tokens, naïve café";
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    choose(&browser, "mask-select", "none");
    choose(&browser, "layer-select", "7");
    choose(&browser, "head-select", "4");
    browser.click(&browser.by_test_id("tab-lines"));
    browser.wait_for("the new text's tokens", Duration::from_secs(30), || (browser.find_all("[data-testid=token]").len() > 10).then_some(()));
    browser.click(&browser.find_all("[data-testid=token][data-index='3']").remove(0));
    browser.click(&browser.by_test_id("copy-link"));
    let link = browser.attribute(&browser.by_test_id("copied-link"), "href").expect("the link is shown");
    assert!(link.starts_with(&app_url()), "{link}");
    drop(browser);

    let fresh = Browser::start();
    fresh.goto(&link);
    wait_for_run(&fresh);
    assert_eq!(fresh.property(&fresh.by_test_id("prompt-input"), "value").as_deref(), Some(text));
    assert_eq!(heatmap_attributes(&fresh), ("7".into(), "4".into(), "none".into()));
    assert_eq!(fresh.attribute(&fresh.by_test_id("tab-lines"), "aria-selected").as_deref(), Some("true"));
    fresh.by_test_id("lines-view");
    let pinned = fresh.find_all("[data-testid=token][aria-pressed=true]");
    assert_eq!(pinned.len(), 1);
    assert_eq!(fresh.attribute(&pinned[0], "data-index").as_deref(), Some("3"));
    // And the numbers are this text's under this mask.
    fresh.click(&fresh.by_test_id("tab-table"));
    assert_table_matches_engine(&fresh, "smollm2-135m", text, Mask::None, 7, 4);
}
