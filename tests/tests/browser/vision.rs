//! A Vision Transformer in the page: the sample photo on choosing the model, a file given
//! to the image input, the framing, a click on a patch; the overlays' numbers and pixels
//! equal the engine's own, run natively on the same file.

use std::time::Duration;

use attnscope_tests::webdriver::Browser;
use attnscope_tests::{model_dir, root};
use engine::analysis::patches::{PatchMap, PatchSource};
use engine::image::decode::decode;
use engine::vision::VisionModel;
use engine::{AttentionReport, Framing};

use super::*;

fn picture_path(name: &str) -> std::path::PathBuf {
    root().join(format!("tests/fixtures/vit/{name}.png"))
}

/// The engine's own look at a reference photo.
fn native(name: &str, framing: Framing) -> AttentionReport {
    let model = VisionModel::from_path("dinov2-small", &model_dir("dinov2-small")).unwrap();
    model.look(&decode(&std::fs::read(picture_path(name)).unwrap()).unwrap(), framing).unwrap()
}

/// An overlay's numbers as the page shows them: (layer, head, query, values).
fn overlay(browser: &Browser, test_id: &str) -> (String, String, usize, Vec<f32>) {
    let element = browser.by_test_id(test_id);
    let attribute = |name: &str| browser.attribute(&element, name).unwrap_or_default();
    let values = attribute("data-values").split_whitespace().map(|v| v.parse().unwrap()).collect();
    (attribute("data-layer"), attribute("data-head"), attribute("data-query").parse().unwrap(), values)
}

/// Waits until the main overlay shows (layer, head, query) of a finished run.
fn wait_for_overlay(browser: &Browser, layer: &str, head: &str, query: usize) -> Vec<f32> {
    browser.wait_for(&format!("the overlay of layer {layer}, {head}, query {query}"), LOAD, || {
        let status = browser.text(&browser.by_test_id("status"));
        assert!(!status.starts_with("Error"), "the page shows an error: {status}");
        let shown = browser.find_all("[data-testid=patch-overlay]").first().map(|_| overlay(browser, "patch-overlay"))?;
        (status.starts_with("Computed in") && shown.0 == layer && shown.1 == head && shown.2 == query && shown.3.len() == 256).then_some(shown.3)
    })
}

fn assert_close(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: sizes");
    let worst = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "{what}: off by {worst}");
}

fn expected(report: &AttentionReport, layer: usize, source: PatchSource, query: usize) -> PatchMap {
    PatchMap::of(report, layer, source, query).unwrap()
}

#[test]
fn a_vision_model_looks_at_the_sample_and_a_file_and_the_overlays_hold_the_engines_numbers() {
    let browser = open_page();
    browser.goto(&format!("{}?model=dinov2-small", app_url()));
    // The sample photo comes on its own: the class token's view of layer 0, head 0.
    let chelsea = native("chelsea", Framing::Letterbox);
    let shown = wait_for_overlay(&browser, "0", "0", 0);
    assert_close(&shown, &expected(&chelsea, 0, PatchSource::Head(0), 0).values, "chelsea L0 H0");
    assert!(browser.text(&browser.by_test_id("picture-seen")).contains("sample photo"));

    // The last layer's head 3: its heat layer's pixels are the colours of its numbers.
    choose(&browser, "layer-select", "11");
    choose(&browser, "head-select", "3");
    let shown = wait_for_overlay(&browser, "11", "3", 0);
    let map = expected(&chelsea, 11, PatchSource::Head(3), 0);
    assert_close(&shown, &map.values, "chelsea L11 H3");
    let (side, pixels) = canvas_pixels(&browser, "[data-testid=patch-overlay] canvas.heat");
    assert_eq!(side, 16);
    assert_pixels("the heat layer", &pixels, map.values.iter().map(|&v| viridis(v / map.top)));
    // Every head of the layer side by side, every head of every layer below.
    assert_eq!(browser.find_all("[data-testid=layer-head]").len(), 6);
    assert_eq!(browser.find_all("[data-testid=all-heads-cell]").len(), 72);
    // The README's picture: head 0 of the last layer, which outlines the cat's head.
    choose(&browser, "head-select", "0");
    wait_for_overlay(&browser, "11", "0", 0);
    keep_screenshot_of(&browser, "vision", Some("image-input"));
    choose(&browser, "head-select", "3");
    wait_for_overlay(&browser, "11", "3", 0);

    // A click on a patch makes it the query: row 5, column 8 of 16, on a 448-pixel overlay.
    let main = browser.by_test_id("patch-overlay");
    browser.click_at(&main, 8 * 28 + 14, 5 * 28 + 14);
    let query = 1 + 5 * 16 + 8;
    let shown = wait_for_overlay(&browser, "11", "3", query);
    assert_close(&shown, &expected(&chelsea, 11, PatchSource::Head(3), query).values, "patch (5, 8)");
    // Hovering a patch marks it in every overlay.
    browser.hover(&main, 2 * 28 + 14, 3 * 28 + 14);
    browser.wait_for("the hovered patch marked", Duration::from_secs(10), || (browser.find_all(".patch-focus").len() == 1 + 6 + 72).then_some(()));
    // The layer's mean and the rollout, from the class token again (Escape).
    browser.execute("arguments[0].focus();", vec![browser.find_all(".vision-main")[0].as_arg()]);
    browser.type_text(&browser.find_all(".vision-main")[0], "\u{E00C}");
    browser.click(&browser.by_test_id("patch-view-layer-mean"));
    assert_close(&wait_for_overlay(&browser, "11", "mean", 0), &expected(&chelsea, 11, PatchSource::LayerMean, 0).values, "layer mean");
    browser.click(&browser.by_test_id("patch-view-rollout"));
    assert_close(&wait_for_overlay(&browser, "11", "rollout", 0), &expected(&chelsea, 11, PatchSource::Rollout, 0).values, "rollout");
    browser.click(&browser.by_test_id("patch-view-head"));

    // The table shows the 257 items' weights as the engine has them.
    browser.click(&browser.by_test_id("table-toggle"));
    let maps = chelsea.attention();
    let table = browser.wait_for("the table of 257 items", Duration::from_secs(60), || {
        let rows = table_numbers(&browser);
        (rows.len() == 257).then_some(rows)
    });
    for (q, row) in table.iter().enumerate().step_by(16) {
        for (k, &w) in row.iter().enumerate() {
            assert!((w - maps.weight(11, 3, q, k)).abs() < 1e-3, "L11 H3 ({q}, {k}): {w}");
        }
    }

    // A file given to the image input: a grey photo, then the same under a centre crop.
    let input = browser.by_test_id("image-file");
    browser.type_text(&input, &picture_path("coins").display().to_string());
    let coins = native("coins", Framing::Letterbox);
    browser.wait_for("coins.png seen", LOAD, || browser.text(&browser.by_test_id("picture-seen")).contains("coins.png").then_some(()));
    let shown = wait_for_overlay(&browser, "11", "3", 0);
    assert_close(&shown, &expected(&coins, 11, PatchSource::Head(3), 0).values, "coins L11 H3");
    // The status line says how long the person waited for the picture's maps.
    status_line_wait(&browser);
    // The overlay shows the picture its numbers are of: coins.png's 384 × 303, letterboxed to
    // 177 of the 224 input rows (303 · 224 / 384 = 176.75, rounded), 354 pixels on the overlay.
    let shown_size = browser.execute(
        "const i = document.querySelector('[data-testid=patch-overlay] img'); return i && i.complete ? [i.naturalWidth, i.naturalHeight, Math.round(i.getBoundingClientRect().height)] : null;",
        vec![],
    );
    assert_eq!(shown_size, serde_json::json!([384, 303, 354]));
    choose(&browser, "framing", "centre-crop");
    let cropped = native("coins", Framing::CentreCrop);
    let want = expected(&cropped, 11, PatchSource::Head(3), 0).values;
    browser.wait_for("the centre crop's overlay", LOAD, || {
        let shown = overlay(&browser, "patch-overlay").3;
        (shown.len() == 256 && shown.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-4)).then_some(())
    });

    // A picture dropped on the page, then one pasted: the sample's bytes under other names,
    // handed over as a person's drag and a paste hand them (a DataTransfer holding a File).
    for (event, name) in [("drop", "dropped.png"), ("paste", "a pasted picture")] {
        browser.execute_async(
            "const [event, done] = [arguments[0], arguments[arguments.length - 1]];
             fetch('samples/chelsea.png').then(r => r.blob()).then(blob => {
                 const data = new DataTransfer();
                 data.items.add(new File([blob], 'dropped.png', { type: 'image/png' }));
                 const fired = event === 'drop'
                     ? new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true })
                     : new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
                 (event === 'drop' ? document.querySelector('main') : document).dispatchEvent(fired);
                 done(true);
             });",
            vec![serde_json::json!(event)],
        );
        browser.wait_for(&format!("the {event}ped picture seen"), LOAD, || browser.text(&browser.by_test_id("picture-seen")).contains(name).then_some(()));
        let want = expected(&native("chelsea", Framing::CentreCrop), 11, PatchSource::Head(3), 0).values;
        browser.wait_for(&format!("the {event}ped picture's overlay"), LOAD, || {
            let shown = overlay(&browser, "patch-overlay").3;
            (shown.len() == 256 && shown.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-4)).then_some(())
        });
    }

    // Something that is not a picture: a clear message, and the picture before stays.
    browser.type_text(&input, &root().join("assets/models.json").display().to_string());
    let notice = browser.wait_for("the notice", Duration::from_secs(30), || {
        browser.find_all("[data-testid=picture-notice]").first().map(|n| browser.text(n)).filter(|t| t.contains("is not a picture"))
    });
    assert!(notice.contains("models.json"), "{notice}");
    assert!(browser.text(&browser.by_test_id("picture-seen")).contains("a pasted picture"));
}
