//! The vision rows: DINOv2-small looking at chelsea.png with every map, in the page, beside
//! transformers on torch and the package's own ONNX graph on onnxruntime (one thread each),
//! and natively.

use std::time::Instant;

use attnscope_tests::bench::{median, Row};
use attnscope_tests::{model_dir, root};
use engine::vision::VisionModel;
use engine::Framing;
use serde_json::Value;

use crate::{numbers, python_script, TORCH_PYTHON};

/// The picture, as the bench page fetches it (dist/ holds it as the page's sample).
pub const PICTURE_URL: &str = "/samples/chelsea.png";

/// The native times: the engine, transformers, onnxruntime; and the engine's class-token rows.
pub struct VisionTimes {
    native: Vec<f64>,
    torch: Vec<f64>,
    onnx: Vec<f64>,
    /// Layer 0's head 0 class-token row, for the page's to equal.
    class_row: Vec<f32>,
}

pub fn vision_runs(runs: usize) -> VisionTimes {
    let picture_path = root().join("tests/fixtures/vit/chelsea.png");
    let model = VisionModel::from_path("dinov2-small", &model_dir("dinov2-small")).unwrap();
    let picture = engine::image::decode::decode(&std::fs::read(&picture_path).unwrap()).unwrap();
    let (mut native, mut class_row) = (Vec::new(), Vec::new());
    for i in 0..=runs {
        let started = Instant::now();
        let report = model.look(&picture, Framing::Letterbox).unwrap();
        if i > 0 {
            native.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        class_row = report.attention().head(0, 0)[..257].to_vec();
    }
    let (graph, runs) = (model_dir("dinov2-small").join("vit_s_focus.onnx"), runs.to_string());
    let result = python_script(TORCH_PYTHON, "vit_torch.py", &[graph.as_os_str(), picture_path.as_os_str(), runs.as_ref()]);
    VisionTimes { native, torch: numbers(&result["torch_ms"]), onnx: numbers(&result["onnx_ms"]), class_row }
}

/// The rows: the page (the aim: under 500 ms) and the engine natively, beside
/// transformers and onnxruntime.
pub fn vision_rows(in_page: &Value, times: &VisionTimes) -> Vec<Row> {
    let page_row: Vec<f32> = serde_json::from_value(in_page["classRow"].clone()).unwrap_or_default();
    let worst = page_row.iter().zip(&times.class_row).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(page_row.len() == 257 && worst < 1e-4, "the page's maps differ from the engine's by {worst}");
    let (torch, onnx) = (median(&times.torch), median(&times.onnx));
    let page = median(&numbers(&in_page["ms"]));
    eprintln!("vision in the page: {:?} ms; of which in the worker's engine: {:?} ms", in_page["ms"], in_page["engineMs"]);
    let what = format!(
        "DINOv2-small, a 451 × 300 photo letterboxed to 224 (257 items), every map (12 × 6 heads), in the page; \
         anchor: transformers on torch, 1 thread, preprocessing included (onnxruntime on the package's graph: {onnx:.0} ms)"
    );
    let mut rows = vec![Row::new(what, page).anchors(&[torch]).target(Some("under 500 ms".into()), Some(page < 500.0))];
    let ms = median(&times.native);
    rows.push(
        Row::new(format!("Native engine, the same look, 1 thread (ratio to transformers {:.2}, to onnxruntime {:.2})", ms / torch, ms / onnx), ms)
            .anchors(&[torch]),
    );
    rows.push(Row::new("DINOv2-small load (fetch + parse the 97 MB ONNX file)".into(), in_page["loadMs"].as_f64().unwrap_or(f64::NAN)));
    rows
}
