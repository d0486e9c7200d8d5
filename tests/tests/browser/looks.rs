//! Looks and manners: a phone-sized window, light and dark themes.

use std::time::Duration;

use attnscope_tests::webdriver::Browser;

use super::*;

#[test]
fn a_phone_sized_window_never_scrolls_sideways() {
    let browser = open_page();
    wait_for_run(&browser);
    for (width, height) in [(390, 844), (1280, 800)] {
        browser.set_window_size(width, height);
        for tab in ["heatmap", "lines", "table", "math", "overlay"] {
            browser.click(&browser.by_test_id(&format!("tab-{tab}")));
            if tab == "math" {
                browser
                    .wait_for("the math table", Duration::from_secs(30), || (!browser.find_all("[data-testid=math-view] tbody tr").is_empty()).then_some(()));
            }
            let overflow = browser.execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];", vec![]);
            let (scroll, client) = (overflow[0].as_i64().unwrap(), overflow[1].as_i64().unwrap());
            let culprits = browser.execute(
                "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                    .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));",
                vec![],
            );
            assert!(scroll <= client, "{width}×{height}, {tab} tab: the page is {scroll} wide in a {client} window: {culprits}");
        }
        if width == 390 {
            browser.click(&browser.by_test_id("tab-heatmap"));
            keep_screenshot_of(&browser, "phone", Some("prompt-input"));
        }
    }
}

#[test]
fn the_theme_follows_the_system() {
    for (scheme, background) in [("1", "rgb(251, 251, 253)"), ("0", "rgb(21, 22, 28)")] {
        // Chromium's preferredColorScheme: 0 is dark, 1 is light.
        let browser = Browser::start_with(&[&format!("--blink-settings=preferredColorScheme={scheme}")]);
        browser.goto(&app_url());
        wait_for_run(&browser);
        let shown = browser.execute("return getComputedStyle(document.documentElement).backgroundColor", vec![]);
        assert_eq!(shown, background, "preferredColorScheme={scheme}");
        if scheme == "0" {
            keep_screenshot(&browser, "dark");
        }
    }
}

#[test]
fn every_control_is_reachable_with_the_tab_key() {
    const TAB: &str = "\u{E004}";
    let browser = open_page();
    wait_for_run(&browser);
    let input = browser.by_test_id("prompt-input");
    browser.click(&input);
    let mut reached = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let active = browser.execute("return document.activeElement", vec![]);
        let element = attnscope_tests::webdriver::Element::from_reference(&active);
        browser.type_text(&element, TAB);
        let id = browser.execute("return document.activeElement.dataset.testid || document.activeElement.tagName", vec![]);
        reached.insert(id.as_str().unwrap_or_default().to_string());
    }
    for id in [
        "model-select",
        "layer-select",
        "head-select",
        "mask-select",
        "table-toggle",
        "copy-link",
        "token",
        "head-grid",
        "tab-heatmap",
        "tab-lines",
        "tab-table",
        "tab-math",
        "colour-scale",
        "compare-toggle",
    ] {
        assert!(reached.contains(id), "{id} is not reached by Tab; reached: {reached:?}");
    }
}
