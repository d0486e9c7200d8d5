//! `attnscope plot`: the figures the command line draws, read back as XML and as pixels
//! and checked against the engine's native maps (renormalised here, by hand).

use std::path::PathBuf;
use std::process::{Command, Output};

use attnscope_tests::figures::{decode_png, grid_cells, hex, parse_svg, pixel, without_first_key_by_hand};
use attnscope_tests::{cli_binary, shared_model};
use engine::figure::colour::viridis;
use engine::Mask;

const TEXT: &str = "The cat sat on the mat";

fn attnscope(args: &[&str]) -> Output {
    Command::new(cli_binary()).args(args).output().expect("the attnscope binary runs")
}

fn out_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("attnscope-plot-{}-{name}", std::process::id()))
}

/// Plots into `name` and returns its bytes.
fn plot(args: &[&str], name: &str) -> Vec<u8> {
    let out = out_file(name);
    let mut all = vec!["plot"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let output = attnscope(&all);
    assert!(output.status.success(), "{all:?}: {}", String::from_utf8_lossy(&output.stderr));
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    bytes
}

/// SmolLM2's (layer, head) on TEXT without its first key, each row over the rest.
fn without_sink(layer: usize, head: usize) -> (Vec<f32>, usize, usize) {
    let report = shared_model("smollm2-135m").run_text(TEXT, Mask::Causal, None).unwrap();
    let n = report.tokens().len();
    let values = without_first_key_by_hand(report.attention().head(layer, head), n);
    (values, n, n - 1)
}

#[test]
fn a_heads_svg_has_a_rect_per_cell_in_the_engines_colour_and_its_tokens_as_text() {
    let svg = String::from_utf8(plot(&["--model", "smollm2-135m", "--text", TEXT, "--layer", "10", "--head", "3", "--hide-sink"], "head.svg")).unwrap();
    let svg = parse_svg(&svg);
    let (expected, rows, columns) = without_sink(10, 3);
    // The grid: 110 pixels of labels on the left, under a 28-pixel title; 450 pixels square.
    let cells = grid_cells(&svg, (110.0, 38.0, 450.0));
    assert_eq!(cells.len(), rows * columns, "a rect per cell");
    for (i, (cell, &value)) in cells.iter().zip(&expected).enumerate() {
        assert_eq!(cell.fill, hex(viridis(value)), "cell ({}, {}) of value {value}", i / columns, i % columns);
    }
    // Square cells, the longer side (6 rows) filling the grid.
    assert!(cells.iter().all(|c| (c.width - 75.0).abs() <= 1.0 && (c.height - 75.0).abs() <= 1.0), "{:?}", cells[0]);
    let texts = |rotated: bool| -> Vec<String> { svg.labels.iter().filter(|l| l.rotated == rotated).map(|l| l.text.clone()).collect() };
    let upright = texts(false);
    let queries: Vec<&str> = upright.iter().map(String::as_str).filter(|t| ["The", "cat", "sat", "on", "the", "mat"].contains(t)).collect();
    assert_eq!(queries, ["The", "cat", "sat", "on", "the", "mat"], "the query labels, in order");
    assert_eq!(texts(true), ["cat", "sat", "on", "the", "mat"], "the key labels read upwards, the first token left out");
    assert!(upright.iter().any(|t| t.contains("layer 10, head 3")), "a title: {upright:?}");
    assert!(upright.iter().any(|t| t.contains("first token hidden")), "the note says so: {upright:?}");
    assert!(upright.iter().any(|t| t == "0.5"), "the legend's ticks");
}

#[test]
fn a_png_is_zoomed_and_its_pixels_are_the_engines_colours() {
    let (expected, _, columns) = without_sink(10, 3);
    let svg =
        parse_svg(&String::from_utf8(plot(&["--model", "smollm2-135m", "--text", TEXT, "--layer", "10", "--head", "3", "--hide-sink"], "sized.svg")).unwrap());
    for zoom in [1usize, 2, 4] {
        let png = decode_png(&plot(
            &["--model", "smollm2-135m", "--text", TEXT, "--layer", "10", "--head", "3", "--hide-sink", "--zoom", &zoom.to_string()],
            "head.png",
        ));
        assert_eq!((png.0 as f64, png.1 as f64), (svg.width * zoom as f64, svg.height * zoom as f64), "{zoom}×");
        for (i, &value) in expected.iter().enumerate() {
            let (row, column) = (i / columns, i % columns);
            let (x, y) = ((110.0 + (column as f64 + 0.5) * 75.0) * zoom as f64, (38.0 + (row as f64 + 0.5) * 75.0) * zoom as f64);
            assert_eq!(pixel(&png, x as usize, y as usize), viridis(value), "{zoom}×: cell ({row}, {column})");
        }
    }
}

#[test]
fn the_grid_draws_every_heads_map_and_a_translators_cross_attention_plots_too() {
    let svg = parse_svg(&String::from_utf8(plot(&["--model", "smollm2-135m", "--text", TEXT, "--grid"], "grid.svg")).unwrap());
    let report = shared_model("smollm2-135m").run_text(TEXT, Mask::Causal, None).unwrap();
    // Every weight's colour once, and the legend's bar.
    let legend = engine::figure::legend_colours(engine::figure::ColourScale::Viridis).map(hex);
    let mut expected: Vec<String> = report.attention().as_flat().iter().map(|&w| hex(viridis(w))).chain(legend).collect();
    let mut drawn: Vec<String> = svg.rects.iter().filter(|r| r.fill != "#FFFFFF").map(|r| r.fill.clone()).collect();
    expected.sort_unstable();
    drawn.sort_unstable();
    assert_eq!(drawn.len(), 30 * 9 * 36 + engine::figure::LEGEND_STEPS, "a rect per weight of every head, and the legend's");
    assert_eq!(drawn, expected, "every weight's colour, once");
    assert!(svg.labels.iter().any(|l| l.text == "0.5"), "the legend's ticks");
    let labels: Vec<&str> = svg.labels.iter().map(|l| l.text.as_str()).collect();
    assert!(labels.contains(&"L29") && labels.contains(&"H8"), "layers and heads are labelled");

    // A translation's cross-attention: target rows over source columns.
    let text = "The cat sat on the mat.";
    let run = attnscope(&["run", "--model", "en-pt", "--text", text]);
    let report: engine::AttentionReport = serde_json::from_slice(&run.stdout).unwrap();
    let cross = report.site("cross").unwrap();
    let svg =
        parse_svg(&String::from_utf8(plot(&["--model", "en-pt", "--text", text, "--site", "cross", "--layer", "1", "--head", "7"], "cross.svg")).unwrap());
    let (rows, columns) = (cross.maps.queries(), cross.maps.keys());
    let cell = 450.0 / rows.max(columns) as f64;
    let cells = grid_cells(&svg, (110.0, 38.0, 450.0));
    assert_eq!(cells.len(), rows * columns);
    for (i, cell_rect) in cells.iter().enumerate() {
        assert_eq!(cell_rect.fill, hex(viridis(cross.maps.weight(1, 7, i / columns, i % columns))), "cross cell {i}");
        assert!((cell_rect.width - cell).abs() <= 1.0);
    }
    let keys: Vec<&str> = svg.labels.iter().filter(|l| l.rotated).map(|l| l.text.as_str()).collect();
    let source: Vec<String> = report.sequence("source").unwrap().tokens.iter().map(|t| engine::figure::token_label(&t.text)).collect();
    assert_eq!(keys, source, "the source along the bottom");
}

#[test]
fn plot_usage_errors_exit_2_with_one_line() {
    for (args, expected) in [
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--grid", "--layer", "1", "--out", "x.svg"], "not both"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--out", "x.pdf"], "must end in .svg or .png"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a"], "--out FILE.svg or FILE.png is required"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--site", "cross", "--out", "x.svg"], "no site `cross`: its sites are self"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--layer", "30", "--out", "x.svg"], "no layer 30, head 0"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--scale", "cubic", "--out", "x.svg"], "unknown scale"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--zoom", "0", "--out", "x.png"], "--zoom takes 1 to 8"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--heads", "1,x", "--out", "x.svg"], "--heads takes comma-separated"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--head", "1", "--heads", "1,2", "--out", "x.svg"], "not both"),
        (vec!["plot", "--model", "smollm2-135m", "--text", "a", "--heads", "1,9", "--out", "x.svg"], "no layer 0, head 9"),
    ] {
        let output = attnscope(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr:?} lacks {expected:?}");
        assert!(!std::path::Path::new("x.svg").exists() && !std::path::Path::new("x.png").exists());
    }
}

#[test]
fn lines_and_an_overlay_of_heads_plot_as_the_page_draws_them() {
    let report = shared_model("smollm2-135m").run_text(TEXT, Mask::Causal, None).unwrap();
    let text = String::from_utf8(plot(&["--model", "smollm2-135m", "--text", TEXT, "--layer", "2", "--head", "1", "--lines"], "lines.svg")).unwrap();
    let visible = report.attention().head(2, 1).iter().filter(|&&w| w >= engine::figure::lines::FAINTEST).count();
    assert_eq!(text.matches("<polyline").count(), visible, "a line per visible weight");
    let svg = parse_svg(&text);
    assert_eq!(svg.labels.iter().filter(|l| l.text == "cat").count(), 2, "each token on both sides");

    // Heads 0, 2 and 5 of layer 3: each cell the strongest head's hue, as strong as its weight.
    let svg = parse_svg(&String::from_utf8(plot(&["--model", "smollm2-135m", "--text", TEXT, "--layer", "3", "--heads", "0,2,5"], "overlay.svg")).unwrap());
    let cells = grid_cells(&svg, (110.0, 38.0, 450.0));
    assert_eq!(cells.len(), 36);
    let hues = engine::figure::colour::HEAD_HUES;
    for (i, cell) in cells.iter().enumerate() {
        let (q, k) = (i / 6, i % 6);
        let (head, w) = [0usize, 2, 5].iter().map(|&h| (h, report.attention().weight(3, h, q, k))).fold((0, f32::MIN), |b, c| if c.1 > b.1 { c } else { b });
        let hue = hues[head];
        let mix = |c: u8| (255.0 - (255.0 - c as f32) * w).round() as u8;
        assert_eq!(cell.fill, hex((mix(hue.0), mix(hue.1), mix(hue.2))), "cell ({q}, {k}): head {head} at {w}");
    }
    let legend: Vec<&str> = svg.labels.iter().map(|l| l.text.as_str()).filter(|t| t.starts_with("L3 H")).collect();
    assert_eq!(legend, ["L3 H0", "L3 H2", "L3 H5"], "a swatch per head");
}
