//! Export from the page, as a person gets it: the browser saves the file into a folder,
//! and the file is read back as XML, as pixels and as JSON and checked against the
//! engine's native numbers and against the command line's figure of the same head.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use attnscope_tests::cli_binary;
use attnscope_tests::figures::{decode_png, grid_cells, hex, parse_svg, pixel, without_first_key_by_hand, Svg};
use attnscope_tests::webdriver::Browser;
use engine::figure::colour::viridis;
use engine::AttentionReport;

use super::*;

/// A fresh folder for one test's downloads, removed when the test is done with it.
pub(super) struct Downloads(PathBuf);

impl Downloads {
    pub(super) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("attnscope-downloads-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Downloads(dir)
    }
}

impl std::ops::Deref for Downloads {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Downloads {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The page after its first run, in a browser that saves downloads into a fresh folder.
fn page_saving_to(name: &str) -> (Browser, Downloads) {
    let dir = Downloads::new(name);
    let browser = Browser::start_downloading_to(&dir);
    browser.goto(&app_url());
    wait_for_run(&browser);
    (browser, dir)
}

/// Chooses `what` in the export menu `menu` and waits for the file `name` to be saved whole.
pub(super) fn export(browser: &Browser, dir: &Path, menu: &str, what: &str, name: &str) -> Vec<u8> {
    choose(browser, menu, what);
    let path = dir.join(name);
    browser.wait_for(&format!("{name} to be saved"), Duration::from_secs(30), || {
        let partial = std::fs::read_dir(dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
        (!partial && path.is_file()).then(|| std::fs::read(&path).unwrap()).filter(|b| !b.is_empty())
    })
}

/// SmolLM2's (layer, head) on the opening text without its first key, rows renormalised.
fn renormalised(layer: usize, head: usize) -> (Vec<f32>, usize) {
    let report = opening_report();
    let n = report.tokens().len();
    (without_first_key_by_hand(report.attention().head(layer, head), n), n - 1)
}

fn near((a, b, c): (u8, u8, u8), (x, y, z): (u8, u8, u8)) -> bool {
    a.abs_diff(x) <= 1 && b.abs_diff(y) <= 1 && c.abs_diff(z) <= 1
}

fn parse_hex(fill: &str) -> (u8, u8, u8) {
    let channel = |i: usize| u8::from_str_radix(&fill[i..i + 2], 16).unwrap();
    (channel(1), channel(3), channel(5))
}

/// Two SVGs draw the same: the same texts, and the same rectangles in the same places
/// with colours within 1 (the page's wasm maps and the native ones may round apart).
fn assert_same_figure(page: &Svg, cli: &Svg) {
    assert_eq!((page.width, page.height), (cli.width, cli.height), "the same size");
    let texts = |svg: &Svg| svg.labels.iter().map(|l| (l.text.clone(), l.x as i64, l.y as i64, l.rotated)).collect::<Vec<_>>();
    assert_eq!(texts(page), texts(cli), "the same labels, title and ticks in the same places");
    assert_eq!(page.rects.len(), cli.rects.len());
    for (a, b) in page.rects.iter().zip(&cli.rects) {
        assert_eq!((a.x, a.y, a.width, a.height), (b.x, b.y, b.width, b.height));
        assert!(near(parse_hex(&a.fill), parse_hex(&b.fill)), "{a:?} vs {b:?}");
    }
}

#[test]
fn the_heatmap_leaves_as_svg_and_png_and_the_cli_draws_the_same_figure() {
    let (browser, dir) = page_saving_to("heatmap");
    choose(&browser, "layer-select", "10");
    choose(&browser, "head-select", "3");
    browser.click(&browser.by_test_id("hide-sink"));
    let (expected, columns) = renormalised(10, 3);

    let svg_text = String::from_utf8(export(&browser, &dir, "export-menu", "svg", "attnscope-smollm2-135m-L10H3.svg")).unwrap();
    let svg = parse_svg(&svg_text);
    let cells = grid_cells(&svg, (110.0, 38.0, 450.0));
    assert_eq!(cells.len(), expected.len(), "a rect per cell");
    for (i, (cell, &value)) in cells.iter().zip(&expected).enumerate() {
        assert!(near(parse_hex(&cell.fill), viridis(value)), "cell ({}, {}): {} for {value}", i / columns, i % columns, cell.fill);
    }
    let keys: Vec<&str> = svg.labels.iter().filter(|l| l.rotated).map(|l| l.text.as_str()).collect();
    assert_eq!(keys, ["cat", "sat", "on", "the", "mat"]);
    assert!(svg.labels.iter().any(|l| l.text.contains("first token hidden")), "the figure says what it shows");

    // The command line's figure of the same head and reading is the same picture.
    let out = dir.join("cli.svg");
    let status = Command::new(cli_binary())
        .args(["plot", "--model", "smollm2-135m", "--text", OPENING_TEXT, "--layer", "10", "--head", "3", "--hide-sink", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert_same_figure(&svg, &parse_svg(&std::fs::read_to_string(&out).unwrap()));

    // A PNG at 2×: twice the SVG's size, each cell's centre its colour.
    let png = decode_png(&export(&browser, &dir, "export-menu", "png2", "attnscope-smollm2-135m-L10H3@2x.png"));
    assert_eq!((png.0 as f64, png.1 as f64), (svg.width * 2.0, svg.height * 2.0));
    for (i, &value) in expected.iter().enumerate() {
        let (row, column) = (i / columns, i % columns);
        let (x, y) = ((110.0 + (column as f64 + 0.5) * 75.0) * 2.0, (38.0 + (row as f64 + 0.5) * 75.0) * 2.0);
        assert!(near(pixel(&png, x as usize, y as usize), viridis(value)), "PNG cell ({row}, {column})");
    }
    // The menu is ready for the next export.
    assert_eq!(browser.property(&browser.by_test_id("export-menu"), "value").as_deref(), Some(""));

    // The saved SVG opens in the browser as an image of its own size, its labels laid out as text.
    browser.goto(&format!("file://{}", dir.join("attnscope-smollm2-135m-L10H3.svg").display()));
    let opened = browser.execute(
        "const svg = document.documentElement;
         return [svg.tagName, svg.getBoundingClientRect().width, [...svg.querySelectorAll('text')].filter(t => t.getComputedTextLength() > 0).length];",
        vec![],
    );
    assert_eq!(opened[0], "svg");
    assert_eq!(opened[1].as_f64(), Some(svg.width));
    assert_eq!(opened[2].as_u64(), Some(svg.labels.len() as u64), "every label is laid out");
}

#[test]
fn the_report_leaves_as_json_in_both_formats_and_the_grid_and_lines_as_svg() {
    let (browser, dir) = page_saving_to("report");
    let native = opening_report();

    // The report: the one report type, with the engine's tokens and maps.
    let report: AttentionReport = serde_json::from_slice(&export(&browser, &dir, "export-menu", "json", "attnscope-smollm2-135m-report.json")).unwrap();
    assert_eq!(report.tokens(), native.tokens());
    let (page, engine) = (report.attention().as_flat(), native.attention().as_flat());
    assert_eq!(page.len(), engine.len());
    assert!(page.iter().zip(engine).all(|(a, b)| (a - b).abs() < 1e-4), "the page's maps are the engine's");

    // BertViz's names: tokens and attentions, [layer][head][query][key].
    let hf: serde_json::Value = serde_json::from_slice(&export(&browser, &dir, "export-menu", "hf", "attnscope-smollm2-135m-hf.json")).unwrap();
    let texts: Vec<&str> = native.tokens().iter().map(|t| t.text.as_str()).collect();
    assert_eq!(hf["tokens"], serde_json::json!(texts));
    let attentions = &hf["attentions"];
    assert_eq!(attentions.as_array().unwrap().len(), 30);
    let weight = attentions[12][4][5][1].as_f64().unwrap() as f32;
    assert!((weight - native.attention().weight(12, 4, 5, 1)).abs() < 1e-4);

    // The grid: every weight of every head, a rect each.
    let grid = parse_svg(&String::from_utf8(export(&browser, &dir, "grid-export", "svg", "attnscope-smollm2-135m-grid.svg")).unwrap());
    let mut drawn: Vec<String> = grid.rects.iter().filter(|r| r.fill != "#FFFFFF").map(|r| r.fill.clone()).collect();
    let legend = engine::figure::legend_colours(engine::figure::ColourScale::Viridis).map(hex);
    let mut expected: Vec<String> = engine.iter().map(|&w| hex(viridis(w))).chain(legend).collect();
    assert_eq!(drawn.len(), expected.len(), "a rect per weight, and the legend's bar");
    drawn.sort_unstable();
    expected.sort_unstable();
    let differing = drawn.iter().zip(&expected).filter(|(a, b)| !near(parse_hex(a), parse_hex(b))).count();
    assert_eq!(differing, 0, "every weight's colour");

    // The lines tab exports lines: a line per visible weight, the tokens as text.
    choose(&browser, "layer-select", "2");
    choose(&browser, "head-select", "1");
    browser.click(&browser.by_test_id("tab-lines"));
    let text = String::from_utf8(export(&browser, &dir, "export-menu", "svg", "attnscope-smollm2-135m-L2H1-lines.svg")).unwrap();
    let lines = parse_svg(&text);
    let visible = native.attention().head(2, 1).iter().filter(|&&w| w >= engine::figure::lines::FAINTEST).count();
    assert_eq!(text.matches("<polyline").count(), visible, "a line per visible weight");
    let tokens: Vec<String> = native.tokens().iter().map(|t| engine::figure::token_label(&t.text)).collect();
    let labels: Vec<String> = lines.labels.iter().map(|l| l.text.clone()).filter(|t| tokens.contains(t)).collect();
    assert_eq!(labels.len(), 2 * tokens.len(), "each token on both sides");
}

#[test]
fn the_offline_html_opens_from_a_file_with_no_network_and_shows_the_live_pages_table() {
    let (browser, dir) = page_saving_to("snapshot");
    // 21 tokens, the size the issue names.
    let text = "The quick brown fox jumps over the lazy dog while the cat sat on the warm mat today, and slept";
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    let tokens = opening_tokens(text);
    assert_eq!(tokens, 21, "the text is 21 tokens");
    choose(&browser, "layer-select", "17");
    choose(&browser, "head-select", "3");
    browser.click(&browser.by_test_id("hide-sink"));
    browser.click(&browser.by_test_id("tab-table"));
    let live = table_strings(&browser, "[data-testid=weights-table]");

    let html = export(&browser, &dir, "export-menu", "html", "attnscope-smollm2-135m-snapshot.html");
    assert!(html.len() < 5_000_000, "{} bytes", html.len());
    let path = dir.join("attnscope-smollm2-135m-snapshot.html");

    // Opened from the disk by a browser whose every connection fails.
    let offline = Browser::start_with(&["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]);
    offline.goto(&format!("file://{}", path.display()));
    offline.wait_for("the snapshot's grid", Duration::from_secs(30), || (offline.find_all("[data-testid=snapshot-thumb]").len() == 270).then_some(()));
    let thumb = offline.find_all("[data-testid=snapshot-thumb][data-layer='17'][data-head='3']").remove(0);
    offline.click(&thumb);
    offline.click(&offline.find_all("#tab-table").remove(0));
    let snapshot = table_strings(&offline, "[data-testid=snapshot-table]");
    assert_eq!(snapshot, live, "the same table as the live page, the first token hidden");
    let fetched = offline.execute("return performance.getEntriesByType('resource').map(e => e.name)", vec![]);
    assert_eq!(fetched, serde_json::json!([]), "nothing fetched");
    let facts = offline.text(&offline.find_all("#facts").remove(0));
    assert!(facts.contains("float32") && facts.contains("first token hidden"), "{facts}");

    // The heatmap and the lines are drawn from the stored maps.
    offline.click(&offline.find_all("#tab-lines").remove(0));
    let lines = offline.find_all("[data-testid=snapshot-lines] line").len();
    assert!(lines >= 20, "{lines} lines");
    offline.click(&offline.find_all("#tab-heatmap").remove(0));
    let (width, _) = canvas_pixels(&offline, "[data-testid=snapshot-heatmap]");
    assert_eq!(width, 570);
}

/// How many tokens SmolLM2 makes of `text`.
fn opening_tokens(text: &str) -> usize {
    attnscope_tests::shared_model("smollm2-135m").run_text(text, engine::Mask::Causal, None).unwrap().tokens().len()
}

/// A table's header and cells as the page shows them, row by row.
fn table_strings(browser: &Browser, css: &str) -> Vec<Vec<String>> {
    let rows = browser.execute(
        &format!(
            "return [...document.querySelector('{css}').querySelectorAll('tr')]
                .map(tr => [...tr.children].map(c => (c.firstChild ? c.firstChild.textContent : '').trim()));"
        ),
        vec![],
    );
    rows.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect()).collect()
}

#[test]
fn the_mask_comparison_and_a_translations_alignment_leave_as_svg() {
    let (browser, dir) = page_saving_to("compare");
    choose(&browser, "layer-select", "2");
    choose(&browser, "head-select", "1");
    browser.click(&browser.by_test_id("compare-toggle"));
    browser.wait_for("both masks", Duration::from_secs(60), || browser.find_all("[data-testid=lookahead-table]").first().map(|_| ()));
    let model = attnscope_tests::shared_model("smollm2-135m");
    let causal = model.run_text(OPENING_TEXT, engine::Mask::Causal, None).unwrap();
    let unmasked = model.run_text(OPENING_TEXT, engine::Mask::None, None).unwrap();
    let (a, b) = (causal.attention().head(2, 1), unmasked.attention().head(2, 1));

    let svg = parse_svg(&String::from_utf8(export(&browser, &dir, "compare-export", "svg", "attnscope-smollm2-135m-L2H1-masks.svg")).unwrap());
    // Three 640-pixel heatmaps side by side under a 30-pixel title, each with its own title.
    for (i, expected) in [
        a.iter().map(|&w| viridis(w)).collect::<Vec<_>>(),
        b.iter().map(|&w| viridis(w)).collect(),
        b.iter().zip(a).map(|(u, c)| engine::figure::colour::diverging(u - c)).collect(),
    ]
    .into_iter()
    .enumerate()
    {
        let cells = grid_cells(&svg, (640.0 * i as f64 + 110.0, 30.0 + 38.0, 450.0));
        assert_eq!(cells.len(), 36, "map {i}: a rect per cell");
        for (j, (cell, want)) in cells.iter().zip(expected).enumerate() {
            assert!(near(parse_hex(&cell.fill), want), "map {i}, cell {j}: {} for {want:?}", cell.fill);
        }
    }
    let titles: Vec<&str> =
        svg.labels.iter().map(|l| l.text.as_str()).filter(|t| ["causal mask", "no mask"].contains(t) || t.starts_with("difference")).collect();
    assert_eq!(titles.len(), 3, "each map says what it is");
    assert!(svg.labels.iter().any(|l| l.text == "-1"), "the difference's legend runs from -1");
    // The same three maps as a PNG: the SVG's size, the difference's first cell in its colour.
    let png = decode_png(&export(&browser, &dir, "compare-export", "png1", "attnscope-smollm2-135m-L2H1-masks@1x.png"));
    assert_eq!((png.0 as f64, png.1 as f64), (svg.width, svg.height));
    let corner = (2.0 * 640.0 + 110.0 + 37.5, 30.0 + 38.0 + 37.5);
    assert!(near(pixel(&png, corner.0 as usize, corner.1 as usize), engine::figure::colour::diverging(b[0] - a[0])));

    // A translation's cross-attention, as the alignment view shows it.
    let text = "The cat sat on the mat.";
    choose(&browser, "model-select", "en-pt");
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    browser.wait_for("the alignment", LOAD, || browser.find_all("[data-testid=alignment-map]").first().map(|_| ()));
    choose(&browser, "alignment-select", "L1H7");
    let native =
        engine::translator::Translator::from_dir("en-pt", &attnscope_tests::model_dir("en-pt")).unwrap().translate(text, WHOLE_MAX_TOKENS, true).unwrap();
    let cross = native.site("cross").unwrap();
    let (rows, columns) = (cross.maps.queries(), cross.maps.keys());
    let svg = parse_svg(&String::from_utf8(export(&browser, &dir, "alignment-export", "svg", "attnscope-en-pt-alignment-L1H7.svg")).unwrap());
    let cells = grid_cells(&svg, (110.0, 38.0, 450.0));
    assert_eq!(cells.len(), rows * columns, "target rows over source columns");
    for (i, cell) in cells.iter().enumerate() {
        assert!(near(parse_hex(&cell.fill), viridis(cross.maps.weight(1, 7, i / columns, i % columns))), "cross cell {i}");
    }
    let target: Vec<String> = native.sequence("target").unwrap().tokens.iter().map(|t| engine::figure::token_label(&t.text)).collect();
    let upright: Vec<String> = svg.labels.iter().filter(|l| !l.rotated && target.contains(&l.text)).map(|l| l.text.clone()).collect();
    assert_eq!(upright, target, "the translation's tokens down the side");
    assert!(svg.labels.iter().any(|l| l.text.contains("layer 1, head 7") && l.text.contains("cross")));

    // With the first token hidden, the alignment's numbers lose the first source column and
    // each row is renormalised over the rest.
    browser.click(&browser.by_test_id("hide-sink"));
    let rows_shown = browser.wait_for("the alignment without its first column", Duration::from_secs(10), || {
        let found = browser.execute(
            "return [...document.querySelectorAll('[data-testid=alignment-table] tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => +td.textContent));",
            vec![],
        );
        let rows: Vec<Vec<f64>> = serde_json::from_value(found).unwrap();
        (rows.first().map(Vec::len) == Some(columns - 1)).then_some(rows)
    });
    for (q, row) in rows_shown.iter().enumerate() {
        let model: Vec<f32> = (1..columns).map(|k| cross.maps.weight(1, 7, q, k)).collect();
        let rest: f32 = model.iter().sum();
        for (k, (&shown, want)) in row.iter().zip(model.iter().map(|w| w / rest)).enumerate() {
            assert!((shown as f32 - want).abs() < 1e-3, "alignment ({q}, {k}): {shown} vs {want}");
        }
    }

    // The offline page holds both sites; its cross-attention table is the alignment's.
    export(&browser, &dir, "export-menu", "html", "attnscope-en-pt-snapshot.html");
    let offline = Browser::start_with(&["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]);
    offline.goto(&format!("file://{}", dir.join("attnscope-en-pt-snapshot.html").display()));
    offline.wait_for("the snapshot's grid", Duration::from_secs(30), || (!offline.find_all("[data-testid=snapshot-thumb]").is_empty()).then_some(()));
    let sites = offline.execute("return [...document.querySelectorAll('[data-testid=snapshot-site] option')].map(o => o.textContent)", vec![]);
    assert_eq!(sites, serde_json::json!(["encoder", "cross"]));
    offline.select(&offline.by_test_id("snapshot-site"), "1");
    offline.click(&offline.find_all("[data-testid=snapshot-thumb][data-layer='1'][data-head='7']").remove(0));
    offline.click(&offline.find_all("#tab-table").remove(0));
    let snapshot = table_strings(&offline, "[data-testid=snapshot-table]");
    let numbers: Vec<Vec<f64>> = snapshot[1..].iter().map(|r| r[1..].iter().map(|c| c.parse().unwrap()).collect()).collect();
    assert_eq!(numbers.len(), rows_shown.len(), "a row per target token");
    for (q, (row, live)) in numbers.iter().zip(&rows_shown).enumerate() {
        assert!(row.iter().zip(live).all(|(a, b)| (a - b).abs() < 1e-4), "cross row {q}: {row:?} vs {live:?}");
    }
}
