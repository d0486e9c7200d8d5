//! The command line's `ablate`, `scores` and `run --value-norms` for a translator, a speech
//! model and a vision model: the changed translation and transcript are the references'
//! (the fixtures the engine's own tests hold it to), the rest the engine's own numbers.

use std::collections::HashMap;

use attnscope_tests::{model_dir, root};
use candle_core::{Device, Tensor};
use engine::analysis::heads::{score_report, Exclusions};
use engine::{AnyModel, AttentionReport, HeadId, Intervention, RunOptions};

use super::cli::{assert_input_error, attnscope, report_of};

fn stdout(args: &[&str]) -> String {
    let output = attnscope(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn fixture(path: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(root().join(path), &Device::Cpu).unwrap()
}

fn ids(tensors: &HashMap<String, Tensor>, key: &str) -> Vec<u32> {
    tensors[key].flatten_all().unwrap().to_dtype(candle_core::DType::U32).unwrap().to_vec1().unwrap()
}

fn sequence_ids(report: &AttentionReport, name: &str) -> Vec<u32> {
    report.sequence(name).unwrap().tokens.iter().map(|t| t.id).collect()
}

fn load(name: &str) -> AnyModel {
    engine::load::files::open_path(name, &model_dir(name), engine::WeightChoice::Float32).unwrap()
}

fn zeroed(heads: &[(usize, usize)]) -> Intervention {
    Intervention::ablate(heads.iter().map(|&(layer, head)| HeadId { layer, head }).collect(), engine::Ablation::Zero)
}

/// The lines of `ablate`'s table that say what the model wrote: (before, after).
fn before_and_after(table: &str) -> (String, String) {
    let line = |prefix: &str| table.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in {table}")).to_string();
    (line("before: "), line("after:  "))
}

#[test]
fn ablate_writes_a_translation_again_with_encoder_heads_zeroed_as_the_reference_does() {
    let changes = fixture("tests/fixtures/marian/changes.safetensors");
    let text = "The cat sat on the mat.";
    let args = ["ablate", "--model", "en-pt", "--text", text, "--heads", "0.1,3.5"];
    let report = report_of(&attnscope(&[&args[..], &["--json"]].concat()));
    assert_eq!(sequence_ids(&report, "target"), ids(&changes, "zero.target_ids"), "the float64 reference's changed translation");
    assert_eq!(report.intervention.as_ref().map(|i| i.ablated.len()), Some(2), "the report says what changed");

    let model = load("en-pt");
    let unchanged = model.run_text(text, engine::Mask::None, RunOptions::default(), |_, _, _| {}).unwrap();
    assert_eq!(sequence_ids(&unchanged, "target"), ids(&changes, "plain.target_ids"));
    let table = stdout(&args);
    assert!(table.starts_with("heads 0.1, 3.5 zero-ablated\n"), "{table}");
    let (before, after) = before_and_after(&table);
    assert_eq!(before, unchanged.written().unwrap());
    assert_eq!(after, report.written().unwrap());
    assert_ne!(before, after, "the reference's translation changes with these heads");
    // The heads whose encoder maps moved most, as the engine measures them.
    let moved = engine::analysis::summary::map_change(report.attention(), unchanged.attention()).unwrap();
    let (layer, head, most) =
        moved.iter().enumerate().flat_map(|(l, row)| row.iter().enumerate().map(move |(h, &v)| (l, h, v))).max_by(|a, b| a.2.total_cmp(&b.2)).unwrap();
    let first = table.lines().find(|l| l.trim_start().starts_with("1 ")).unwrap();
    assert!(first.contains(&format!(" {layer}.{head} ")) && first.contains(&format!("{most:.4}")), "{first}");
}

#[test]
fn ablate_transcribes_again_with_decoder_heads_zeroed_as_transformers_does() {
    let changes = fixture("tests/fixtures/whisper/flite-cat.changes.safetensors");
    let audio = root().join("tests/fixtures/whisper/flite-cat.wav");
    let args = ["ablate", "--model", "whisper-tiny-en", "--audio", audio.to_str().unwrap(), "--heads", "0.1,2.3"];
    let report = report_of(&attnscope(&[&args[..], &["--json"]].concat()));
    assert_eq!(sequence_ids(&report, "transcript"), ids(&changes, "zero.ids"), "transformers' transcript with the heads zeroed");
    let table = stdout(&args);
    let (before, after) = before_and_after(&table);
    let AnyModel::Transcriber(model) = load("whisper-tiny-en") else { panic!("a speech model") };
    let samples = engine::audio::wav::read_wav(&std::fs::read(&audio).unwrap()).unwrap();
    assert_eq!(before, model.transcribe(&samples).unwrap().written().unwrap());
    assert_eq!(after, report.written().unwrap());
    // Zeroing is all a decoder that writes a token at a time offers.
    assert_input_error(&[&args[..], &["--mean"]].concat(), "mean is not offered");
    // The encoder's heads, as transformers zeroes them with hooks on its layers.
    let encoder = ["ablate", "--model", "whisper-tiny-en", "--audio", audio.to_str().unwrap(), "--heads", "1.2,2.0,3.4", "--site", "encoder"];
    let report = report_of(&attnscope(&[&encoder[..], &["--json"]].concat()));
    assert_eq!(sequence_ids(&report, "transcript"), ids(&changes, "encoder_zero.ids"), "transformers' transcript from the changed encoder");
    assert_eq!(report.intervention.as_ref().and_then(|i| i.site.as_deref()), Some("encoder"), "the report says whose heads changed");
    assert_input_error(&[&args[..], &["--site", "cross"]].concat(), "not in `cross`");
}

#[test]
fn ablate_changes_a_pictures_heads_as_the_engine_does() {
    let picture = root().join("tests/fixtures/vit/chelsea.png");
    let args = ["ablate", "--model", "dinov2-small", "--image", picture.to_str().unwrap(), "--heads", "5.2,7.0", "--mean"];
    let report = report_of(&attnscope(&[&args[..], &["--json"]].concat()));
    let model = load("dinov2-small");
    let rgb = engine::image::decode::decode(&std::fs::read(&picture).unwrap()).unwrap();
    let input = engine::any_model::Input::Picture(&rgb, engine::Framing::default());
    let mean = Intervention { ablation: engine::Ablation::Mean, ..zeroed(&[(5, 2), (7, 0)]) };
    let native = model.run_input(input, engine::Mask::None, RunOptions::default(), Some(&mean), |_, _, _| {}).unwrap();
    assert_eq!(report.attention().as_flat(), native.attention().as_flat(), "the engine's changed maps, bit for bit");
    let unchanged = model.run_input(input, engine::Mask::None, RunOptions::default(), None, |_, _, _| {}).unwrap();
    let moved = engine::analysis::summary::map_change(native.attention(), unchanged.attention()).unwrap();
    assert!(moved[..6].iter().flatten().all(|&v| v == 0.0), "the layers before the first head changed attend as before");
    assert!(moved[6].iter().any(|&v| v > 0.0), "the layers after it attend otherwise");
    let table = stdout(&args);
    assert!(table.starts_with("heads 5.2, 7.0 mean-ablated\nrank  head    map moved\n"), "{table}");
    assert_input_error(
        &["ablate", "--model", "dinov2-small", "--image", picture.to_str().unwrap(), "--heads", "1.1", "--patch-from", "x"],
        "needs a second picture",
    );
    assert_input_error(&["ablate", "--model", "smollm2-135m", "--image", picture.to_str().unwrap(), "--heads", "1.1"], "reads text: --audio and --image");
}

#[test]
fn scores_rank_a_speech_models_and_a_vision_models_heads_as_the_engine_does() {
    let audio = root().join("tests/fixtures/whisper/flite-cat.wav");
    let picture = root().join("tests/fixtures/vit/chelsea.png");
    for (model, flag, path) in [("whisper-tiny-en", "--audio", &audio), ("dinov2-small", "--image", &picture)] {
        let json = stdout(&["scores", "--model", model, flag, path.to_str().unwrap(), "--sort", "entropy_bits", "--json"]);
        let ours: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        let loaded = load(model);
        let rgb;
        let samples;
        let input = if flag == "--audio" {
            samples = engine::audio::wav::read_wav(&std::fs::read(path).unwrap()).unwrap();
            engine::any_model::Input::Sound(&samples)
        } else {
            rgb = engine::image::decode::decode(&std::fs::read(path).unwrap()).unwrap();
            engine::any_model::Input::Picture(&rgb, engine::Framing::default())
        };
        let report = loaded.run_input(input, loaded.native_mask(), RunOptions::default(), None, |_, _, _| {}).unwrap();
        let info = report.model.clone();
        assert_eq!(ours.len(), info.layers * info.heads, "{model}: every head");
        let mut native = score_report(&report, Exclusions::default());
        native.sort_by(|a, b| b.entropy_bits.total_cmp(&a.entropy_bits));
        for (row, scores) in ours.iter().zip(&native) {
            assert_eq!((row["layer"].as_u64(), row["head"].as_u64()), (Some(scores.layer as u64), Some(scores.head as u64)), "{model}: the same ranking");
            // The JSON's shortest decimal reads back as the same float32.
            assert_eq!(row["entropy_bits"].as_f64().map(|v| v as f32), Some(scores.entropy_bits), "{model}: the engine's score");
        }
    }
    assert_input_error(&["scores", "--model", "dinov2-small", "--image", picture.to_str().unwrap(), "--mask", "causal"], "--mask is for a text");
    assert_input_error(&["scores", "--model", "dinov2-small", "--text", "a", "--image", picture.to_str().unwrap()], "give one of");
}

#[test]
fn run_keeps_value_norms_for_a_translator_a_speech_model_and_a_vision_model() {
    let audio = root().join("tests/fixtures/whisper/flite-cat.wav");
    let picture = root().join("tests/fixtures/vit/chelsea.png");
    let cases = [
        ("en-pt", "--text", "The cat sat on the mat."),
        ("whisper-tiny-en", "--audio", audio.to_str().unwrap()),
        ("dinov2-small", "--image", picture.to_str().unwrap()),
    ];
    for (model, flag, input) in cases {
        let report = report_of(&attnscope(&["run", "--model", model, flag, input, "--value-norms"]));
        let norms = report.value_norms.as_ref().unwrap_or_else(|| panic!("{model}: --value-norms puts them in the report"));
        let first = &report.sites[0];
        assert_eq!(norms.norms.len(), first.maps.layers(), "{model}: a layer each");
        assert_eq!(norms.norms[0].len(), first.maps.heads(), "{model}: a head each");
        assert_eq!(norms.norms[0][0].len(), first.maps.keys(), "{model}: a norm per key of the first site");
        assert!(norms.norms.iter().flatten().flatten().all(|n| n.is_finite() && *n >= 0.0), "{model}: norms are lengths");
        let plain = report_of(&attnscope(&["run", "--model", model, flag, input]));
        assert_eq!(plain.attention().as_flat(), report.attention().as_flat(), "{model}: keeping norms changes no map");
    }
}
