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
        for tab in ["heatmap", "lines", "table", "math"] {
            browser.click(&browser.by_test_id(&format!("tab-{tab}")));
            if tab == "math" {
                browser.wait_for("the math table", Duration::from_secs(30), || {
                    (!browser.find_all("[data-testid=math-view] tbody tr").is_empty()).then_some(())
                });
            }
            let overflow = browser.execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            );
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
