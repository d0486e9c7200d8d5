//! The Positions panel (issue 32): each model's position sets as the engine holds them, read in
//! the page's worker and drawn: SmolLM2's rotary angles, MiniLM's learned table and its
//! similarity (each pixel the engine's number in the page's colours), DINOv2's grid by a
//! chosen patch.

use engine::report::figure::colour::ColourScale;
use engine::report::positions::{PositionKind, Positions};

use super::*;

fn engine_positions(name: &str) -> Positions {
    let model = engine::load::files::open_path(name, &attnscope_tests::model_dir(name), engine::WeightChoice::Float32).unwrap();
    model.positions(engine::positions::SHOWN_ROWS).unwrap()
}

fn heading(browser: &Browser, index: usize) -> Option<String> {
    browser
        .execute(&format!("const h = document.querySelector('[data-testid=positions-{index}] h3'); return h && h.textContent;"), vec![])
        .as_str()
        .map(String::from)
}

fn dims(browser: &Browser, id: &str) -> serde_json::Value {
    browser.execute(&format!("const c = document.querySelector('[data-testid={id}]'); return c && [+c.dataset.rows, +c.dataset.columns];"), vec![])
}

#[test]
fn the_positions_panel_draws_each_models_positions_as_the_engine_holds_them() {
    let browser = open_page();
    wait_for_run(&browser);
    browser.execute("document.querySelector('[data-testid=positions] summary').click();", vec![]);

    // SmolLM2: one rotary set, its heading the engine's own sentence (base, pairs, θ), its
    // angles 64 positions × 32 pairs.
    let smollm2 = engine_positions("smollm2-135m");
    let shown = browser.wait_for("SmolLM2's positions", LOAD, || heading(&browser, 0));
    assert_eq!(shown, smollm2.sets[0].describe());
    assert_eq!(dims(&browser, "positions-0-angles"), serde_json::json!([64, 32]));
    assert!(browser.find_all("[data-testid=positions-1]").is_empty(), "one base");

    // MiniLM: its learned table and the similarity of its first 128 rows, pixel by pixel the
    // engine's numbers in the page's colour scale.
    choose(&browser, "model-select", "all-minilm-l6-v2");
    let minilm = engine_positions("all-minilm-l6-v2");
    let want = minilm.sets[0].describe();
    browser.wait_for("MiniLM's positions", LOAD, || heading(&browser, 0).filter(|h| *h == want));
    assert_eq!(dims(&browser, "positions-0-table"), serde_json::json!([128, 384]));
    assert_eq!(dims(&browser, "positions-0-similarity"), serde_json::json!([128, 128]));
    let PositionKind::Learned { table, .. } = &minilm.sets[0].kind else { panic!("MiniLM's table is learned") };
    for (i, j) in [(10, 9), (10, 50), (100, 3), (127, 127)] {
        let pixel = browser.execute(
            &format!("const c = document.querySelector('[data-testid=positions-0-similarity]'); return [...c.getContext('2d').getImageData({j}, {i}, 1, 1).data].slice(0, 3);"),
            vec![],
        );
        let (r, g, b) = ColourScale::Viridis.colour(table.similarity[i * table.shown + j].clamp(0.0, 1.0));
        assert_eq!(pixel, serde_json::json!([r, g, b]), "similarity of rows {i} and {j}");
    }
    keep_screenshot_of(&browser, "positions", Some("positions"));

    // DINOv2: the 16 × 16 grid, coloured by the middle patch, then by the one clicked.
    choose(&browser, "model-select", "dinov2-small");
    let dinov2 = engine_positions("dinov2-small");
    let want = dinov2.sets[0].describe();
    browser.wait_for("DINOv2's positions", LOAD, || heading(&browser, 0).filter(|h| *h == want));
    assert_eq!(dims(&browser, "positions-0-grid"), serde_json::json!([16, 16]));
    let caption = || browser.text(&browser.by_test_id("positions-0-chosen"));
    assert!(caption().contains("patch (8, 8)"), "{}", caption());
    let grid = browser.by_test_id("positions-0-grid");
    browser.click_at(&grid, 2, 2);
    browser.wait_for("the corner patch chosen", Duration::from_secs(10), || caption().contains("patch (0, 0)").then_some(()));
}
