//! The command line: `attnscope run` prints the engine's report as JSON;
//! usage and input errors exit 2 with one line on stderr.

use std::process::{Command, Output};

use attnscope_tests::{cli_binary, model_dir, root, shared_model, tiny_gpt2_dir};
use engine::{AttentionReport, Mask};

pub(crate) fn attnscope(args: &[&str]) -> Output {
    Command::new(cli_binary()).args(args).output().expect("the attnscope binary runs")
}

pub(crate) fn report_of(output: &Output) -> AttentionReport {
    assert!(output.status.success(), "exit {:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON report")
}

/// Exit 2 and exactly one line on stderr that contains `expected`.
pub(crate) fn assert_input_error(args: &[&str], expected: &str) {
    let output = attnscope(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line, got {stderr:?}");
    assert!(stderr.contains(expected), "{args:?}: {stderr:?} lacks {expected:?}");
    assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
}

#[test]
fn run_prints_the_engines_numbers_for_a_named_model() {
    let report = report_of(&attnscope(&["run", "--model", "smollm2-135m", "--text", "The cat sat on the mat"]));
    let native = shared_model("smollm2-135m").run_text("The cat sat on the mat", Mask::Causal, None).unwrap();
    assert_eq!(report, native);
    assert_eq!(report.mask, Mask::Causal, "a decoder's own mask is the default");
    assert_eq!(report.model.heads, 9);
    let texts: Vec<&str> = report.tokens().iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["The", " cat", " sat", " on", " the", " mat"]);
    assert_eq!(report.tokens()[1].span, Some([3, 7]));
    assert_eq!(report.next_tokens.unwrap()[0].text, ".");
}

#[test]
fn run_takes_the_mask_and_an_encoders_default_is_none() {
    let report = report_of(&attnscope(&["run", "--model", "all-minilm-l6-v2", "--text", "The cat sat"]));
    assert_eq!(report.mask, Mask::None);
    assert_eq!(report.tokens().first().unwrap().text, "[CLS]");
    let causal = report_of(&attnscope(&["run", "--model", "all-minilm-l6-v2", "--mask", "causal", "--text", "The cat sat"]));
    assert_eq!(causal.mask, Mask::Causal);
    assert_eq!(causal.attention().weight(0, 0, 0, 1), 0.0);
    assert!(report.attention().weight(0, 0, 0, 1) > 0.0);
}

#[test]
fn run_takes_ids_paths_and_writes_to_a_file() {
    let gguf = model_dir("smollm2-135m").join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let report = report_of(&attnscope(&["run", "--model", gguf.to_str().unwrap(), "--ids", "504, 2644,2643"]));
    let ids: Vec<u32> = report.tokens().iter().map(|t| t.id).collect();
    assert_eq!(ids, [504, 2644, 2643]);
    assert_eq!(report.tokens()[1].text, " cat");

    let out = std::env::temp_dir().join(format!("attnscope-cli-{}.json", std::process::id()));
    let gpt2 = tiny_gpt2_dir();
    let output = attnscope(&["run", "--model", gpt2.to_str().unwrap(), "--mask", "none", "--ids", "1,2,3", "--out", out.to_str().unwrap()]);
    assert!(output.status.success() && output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: AttentionReport = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).ok();
    assert_eq!(report.model.architecture, "gpt2");
    assert_eq!(report.mask, Mask::None);
    assert_eq!(report, shared_model("tiny-gpt2").run_ids(&[1, 2, 3], Mask::None).unwrap());
}

#[test]
fn run_adds_value_norms_when_asked() {
    let text = "The cat sat on the mat";
    let report = report_of(&attnscope(&["run", "--model", "all-minilm-l6-v2", "--text", text, "--value-norms"]));
    let options = engine::RunOptions { value_norms: true, ..engine::RunOptions::default() };
    let native = shared_model("all-minilm-l6-v2").run_text_with(text, Mask::None, options).unwrap();
    assert_eq!(report, native);
    let norms = report.value_norms.as_ref().expect("--value-norms puts them in the report");
    assert_eq!((norms.norms.len(), norms.norms[0].len(), norms.norms[0][0].len()), (6, 12, report.tokens().len()));
    let plain = report_of(&attnscope(&["run", "--model", "all-minilm-l6-v2", "--text", text]));
    assert!(plain.value_norms.is_none(), "only when asked");
}

#[test]
fn a_translator_runs_from_the_command_line_with_both_sites_and_its_translation() {
    let text = "The cat sat on the mat.";
    let report = report_of(&attnscope(&["run", "--model", "en-pt", "--text", text]));
    let native = engine::translator::Translator::from_dir("en-pt", &model_dir("en-pt")).unwrap().translate(text, engine::DEFAULT_MAX_TOKENS, true).unwrap();
    assert_eq!(report, native);
    // The package's own translation (tests/fixtures/marian/translations.json).
    assert_eq!(report.translation.as_ref().unwrap().text, "O gato sentou-se no tapete.");
    let names: Vec<(&str, &str, &str)> = report.sites.iter().map(|s| (s.name.as_str(), s.queries.as_str(), s.keys.as_str())).collect();
    assert_eq!(names, [("encoder", "source", "source"), ("cross", "target", "source")]);

    // BertViz's names, the same numbers.
    let output = attnscope(&["run", "--model", "en-pt", "--format", "hf", "--text", text]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let hf: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut keys: Vec<&str> = hf.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cross_attentions", "decoder_tokens", "encoder_attentions", "encoder_tokens"]);
    let texts = |name: &str| -> Vec<String> { report.sequence(name).unwrap().tokens.iter().map(|t| t.text.clone()).collect() };
    assert_eq!(hf["encoder_tokens"], serde_json::json!(texts("source")));
    assert_eq!(hf["decoder_tokens"], serde_json::json!(texts("target")));
    let cross: engine::AttentionMaps = serde_json::from_value(hf["cross_attentions"].clone()).unwrap();
    assert_eq!(&cross, &report.site("cross").unwrap().maps);
    let encoder: engine::AttentionMaps = serde_json::from_value(hf["encoder_attentions"].clone()).unwrap();
    assert_eq!(&encoder, &report.site("encoder").unwrap().maps);

    // Without the shortlist, as the reference has it for a sentence the shortlist changes.
    let changed = report_of(&attnscope(&["run", "--model", "en-pt", "--no-shortlist", "--text", "WARNING: DO NOT OPEN THIS DOOR."]));
    let shortlisted = report_of(&attnscope(&["run", "--model", "en-pt", "--text", "WARNING: DO NOT OPEN THIS DOOR."]));
    assert_ne!(changed.translation, shortlisted.translation);
    assert_input_error(&["run", "--model", "en-pt", "--ids", "1,2"], "a translator takes --text");
    assert_input_error(&["run", "--model", "en-pt", "--mask", "causal", "--text", "a"], "its own masks");
    assert_input_error(&["scores", "--model", "en-pt", "--probe", "induction"], "is a translator");

    // On a text, a translator's encoder heads are scored as a text model's heads are: the
    // numbers of the engine's scores of its report, every head once.
    let text = "The cat sat on the mat. The cat sat on the mat.";
    let output = attnscope(&["scores", "--model", "en-pt", "--text", text, "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let translator = engine::translator::Translator::from_dir("en-pt", &model_dir("en-pt")).unwrap();
    let native = translator.translate(text, engine::DEFAULT_MAX_TOKENS, true).unwrap();
    let scores = engine::analysis::heads::score_report(&native, engine::analysis::heads::Exclusions::default());
    let (layers, heads) = (native.attention().layers(), native.attention().heads());
    assert_eq!((rows.len(), scores.len()), (layers * heads, 6 * 8), "every encoder head once");
    for row in &rows {
        let (layer, head) = (row["layer"].as_u64().unwrap() as usize, row["head"].as_u64().unwrap() as usize);
        let ours = &scores[layer * heads + head];
        for name in engine::analysis::heads::HeadScores::NAMES {
            assert_eq!(row[name].as_f64().unwrap() as f32, ours.get(name).unwrap(), "{layer}.{head} {name}");
        }
    }
    // Marian's encoder has a previous-token head, as text models do (5.5 puts 0.81 of its
    // attention on the token before on this text), and it ranks first by that score.
    let ranked = attnscope(&["scores", "--model", "en-pt", "--text", text, "--sort", "previous_token", "--json"]);
    let ranked: Vec<serde_json::Value> = serde_json::from_slice(&ranked.stdout).unwrap();
    let top = &ranked[0];
    assert!(top["previous_token"].as_f64().unwrap() > 0.7, "a previous-token head in the encoder: {top}");
}

#[test]
fn the_hf_format_of_a_one_sequence_model_is_tokens_and_attentions() {
    let text = "The cat sat";
    let output = attnscope(&["run", "--model", "all-minilm-l6-v2", "--format", "hf", "--text", text]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let hf: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let native = shared_model("all-minilm-l6-v2").run_text(text, Mask::None, None).unwrap();
    assert_eq!(hf.as_object().unwrap().len(), 2);
    let tokens: Vec<&str> = native.tokens().iter().map(|t| t.text.as_str()).collect();
    assert_eq!(hf["tokens"], serde_json::json!(tokens));
    let attentions: engine::AttentionMaps = serde_json::from_value(hf["attentions"].clone()).unwrap();
    assert_eq!(&attentions, native.attention());
    assert_input_error(&["run", "--model", "all-minilm-l6-v2", "--format", "png", "--text", "a"], "unknown format `png`");
}

#[test]
fn long_text_is_cut_with_a_note() {
    let text = "word ".repeat(100);
    let output = attnscope(&["run", "--model", "all-minilm-l6-v2", "--max-tokens", "10", "--text", &text]);
    let report = report_of(&output);
    assert_eq!(report.tokens().len(), 10);
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), "note: the text gives 102 tokens; only the first 10 were run");
}

#[test]
fn usage_and_input_errors_exit_2_with_one_line() {
    let gpt2 = tiny_gpt2_dir();
    let gpt2 = gpt2.to_str().unwrap();
    assert_input_error(&[], "no command given");
    assert_input_error(&["explain"], "unknown command `explain`");
    assert_input_error(&["run", "--text", "hi"], "--model is required");
    assert_input_error(&["run", "--model", "all-minilm-l6-v2"], "give --text TEXT, --ids 1,2,3, --audio FILE.wav or --image FILE");
    assert_input_error(&["run", "--model", "all-minilm-l6-v2", "--text", "a", "--ids", "1"], "give one of --text, --ids, --audio and --image");
    assert_input_error(&["run", "--model", "whisper-tiny-en", "--audio", "no-such.wav"], "cannot read no-such.wav");
    assert_input_error(&["run", "--model", "all-minilm-l6-v2", "--text"], "--text needs a value");
    assert_input_error(&["run", "--model", "all-minilm-l6-v2", "--mask", "diagonal", "--text", "a"], "unknown mask `diagonal`");
    assert_input_error(&["run", "--model", "all-minilm-l6-v2", "--ids", "1,x"], "not `x`");
    assert_input_error(&["run", "--model", "all-minilm-l6-v2", "--bogus"], "unknown argument `--bogus`");
    assert_input_error(&["run", "--model", "all-minilm-l6-v2", "--text", "   "], "the text is empty");
    assert_input_error(&["run", "--model", "no-such-model", "--text", "a"], "no model `no-such-model`");
    assert_input_error(&["run", "--model", gpt2, "--text", "a"], "no tokenizer");
    assert_input_error(&["run", "--model", gpt2, "--ids", "5000"], "out of range");

    let bad = std::env::temp_dir().join(format!("attnscope-bad-{}.gguf", std::process::id()));
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00 and then nothing sensible").unwrap();
    assert_input_error(&["run", "--model", bad.to_str().unwrap(), "--text", "a"], "cannot read the model file");
    std::fs::remove_file(&bad).ok();
}

#[test]
fn run_looks_at_a_picture_as_the_engine_does() {
    let chelsea = root().join("tests/fixtures/vit/chelsea.png");
    let chelsea = chelsea.to_str().unwrap();
    let report = report_of(&attnscope(&["run", "--model", "dinov2-small", "--image", chelsea, "--framing", "centre-crop"]));
    let model = engine::vision::VisionModel::from_path("dinov2-small", &model_dir("dinov2-small")).unwrap();
    let picture = engine::image::decode::decode(&std::fs::read(chelsea).unwrap()).unwrap();
    assert_eq!(report, model.look(&picture, engine::Framing::CentreCrop).unwrap());
    // 451 × 300: the shorter side to 224 (the longer to 337), the middle 224 kept.
    let source = report.picture.unwrap().source;
    assert!((source[0] - 56.5 * 300.0 / 224.0).abs() < 1.0 && source[1] == 0.0, "{source:?}");

    assert_input_error(&["run", "--model", "dinov2-small", "--text", "a cat"], "is a vision model: give it --image FILE");
    assert_input_error(&["run", "--model", "smollm2-135m", "--image", chelsea], "--image is for a vision model");
    assert_input_error(&["run", "--model", "dinov2-small", "--image", chelsea, "--framing", "stretch"], "unknown framing `stretch`");
    assert_input_error(&["run", "--model", "smollm2-135m", "--text", "a", "--framing", "letterbox"], "--framing is for --image");
    let readme = root().join("README.md");
    assert_input_error(&["run", "--model", "dinov2-small", "--image", readme.to_str().unwrap()], "this is not an image");
    assert_input_error(&["scores", "--model", "dinov2-small", "--text", "a"], "is a vision model");
}

/// `plot --image`: the picture with a query's attention over it, as the page draws it. The
/// SVG's cells are the engine's values in their colours; the PNG mixes them into the picture
/// (on the letterbox's black band, the colour at the heat layer's opacity).
#[test]
fn plot_lays_a_heads_attention_over_the_picture() {
    use engine::analysis::patches::{PatchMap, PatchSource};
    use engine::figure::picture::HEAT_OPACITY;
    let chelsea = root().join("tests/fixtures/vit/chelsea.png");
    let dir = std::env::temp_dir().join(format!("attnscope-plot-picture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = engine::vision::VisionModel::from_path("dinov2-small", &model_dir("dinov2-small")).unwrap();
    let report = model.look(&engine::image::decode::decode(&std::fs::read(&chelsea).unwrap()).unwrap(), engine::Framing::Letterbox).unwrap();
    let query = 1 + 16 * 6 + 9;
    let map = PatchMap::of(&report, 11, PatchSource::Head(3), query).unwrap();
    let colour = |v: f32| engine::figure::colour::viridis(v / map.top);

    let svg_path = dir.join("over.svg");
    let args = ["plot", "--model", "dinov2-small", "--image", chelsea.to_str().unwrap(), "--layer", "11", "--head", "3", "--query", &query.to_string()];
    let output = attnscope(&[&args[..], &["--out", svg_path.to_str().unwrap()]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let svg = attnscope_tests::figures::parse_svg(&std::fs::read_to_string(&svg_path).unwrap());
    assert_eq!(svg.rects.len(), 256);
    for (rect, &value) in svg.rects.iter().zip(&map.values) {
        assert_eq!(rect.fill, attnscope_tests::figures::hex(colour(value)));
    }
    assert!(svg.labels.iter().any(|l| l.text.contains("layer 11, head 3 · from row 6, col 9")), "{:?}", svg.labels);

    let png_path = dir.join("over.png");
    let output = attnscope(&[&args[..], &["--out", png_path.to_str().unwrap()]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let png = attnscope_tests::figures::decode_png(&std::fs::read(&png_path).unwrap());
    assert_eq!((png.0, png.1), (448, 448));
    // Row 0 lies in the black band above the picture (which starts 37 input pixels down).
    for column in 0..16 {
        let (r, g, b) = colour(map.at(0, column));
        let want = [r, g, b].map(|c| (f32::from(c) * HEAT_OPACITY).round() as i64);
        let (pr, pg, pb) = attnscope_tests::figures::pixel(&png, column * 28 + 14, 14);
        let got = [pr, pg, pb].map(i64::from);
        assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() <= 1), "patch (0, {column}): {got:?} against {want:?}");
    }
    assert_input_error(
        &["plot", "--model", "dinov2-small", "--image", chelsea.to_str().unwrap(), "--mean", "--rollout", "--out", "x.png"],
        "give --head, --mean or --rollout",
    );
    assert_input_error(&["plot", "--model", "smollm2-135m", "--text", "a", "--rollout", "--out", "x.png"], "are for --image");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_lists_the_usage() {
    let output = attnscope(&["--help"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("usage: attnscope run --model NAME_OR_PATH"));
}

#[test]
fn scores_rank_the_heads_on_the_induction_probe_as_the_engine_does() {
    use engine::analysis::probe::ProbeSpec;
    let output = attnscope(&["scores", "--model", "smollm2-135m", "--probe", "induction", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 270);
    let induction: Vec<f64> = rows.iter().map(|r| r["induction"].as_f64().unwrap()).collect();
    assert!(induction.windows(2).all(|w| w[0] >= w[1]), "ranked by induction, highest first");

    // The same numbers as the engine's own probe, in the same order.
    let (mut native, _) = shared_model("smollm2-135m").induction_probe(&ProbeSpec::default(), |_, _| {}).unwrap();
    native.sort_by(|a, b| b.induction.total_cmp(&a.induction));
    for (row, head) in rows.iter().zip(&native) {
        assert_eq!((row["layer"].as_u64().unwrap() as usize, row["head"].as_u64().unwrap() as usize), (head.layer, head.head));
        assert_eq!(row["induction"].as_f64().unwrap() as f32, head.induction);
    }
    // And the top head is one the reference maps' own probe ranks highest too
    // (there: L18H7 0.97, L17H3 0.93, L18H6 0.87, L17H4 0.83).
    let top = (rows[0]["layer"].as_u64().unwrap(), rows[0]["head"].as_u64().unwrap());
    assert!([(18, 7), (17, 3), (18, 6), (17, 4)].contains(&top), "top induction head {top:?}");
    assert!(induction[0] > 0.8, "a real induction head: {}", induction[0]);
}

/// Over the probe's random tokens, where no head has words to look by, `--sort positional`
/// ranks the heads by how much of each map its offset profile explains: the engine's own
/// probe's numbers (the mean over its four runs), highest first; and a pooled probe, whose
/// maps are block means, is refused the sort by name.
#[test]
fn scores_rank_the_heads_by_how_positional_they_are_over_random_tokens() {
    use engine::analysis::probe::ProbeSpec;
    let output = attnscope(&["scores", "--model", "smollm2-135m", "--probe", "induction", "--sort", "positional", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let positional: Vec<f64> = rows.iter().map(|r| r["positional"].as_f64().unwrap()).collect();
    assert!(positional.windows(2).all(|w| w[0] >= w[1]), "ranked by positional, highest first");
    let (native, _) = shared_model("smollm2-135m").induction_probe(&ProbeSpec::default(), |_, _| {}).unwrap();
    for row in &rows {
        let (layer, head) = (row["layer"].as_u64().unwrap() as usize, row["head"].as_u64().unwrap() as usize);
        let engine = native.iter().find(|s| (s.layer, s.head) == (layer, head)).unwrap();
        assert_eq!(row["positional"].as_f64().unwrap() as f32, engine.positional.unwrap());
    }
    // The most positional head over random tokens is one that reads the token before (its
    // previous-token score is high), the least one that does not.
    assert!(rows[0]["previous_token"].as_f64().unwrap() > 0.5, "{}", rows[0]);
    assert_input_error(&["scores", "--model", "smollm2-135m", "--probe", "induction", "--length", "300", "--sort", "positional"], "runs pooled");
}

/// A long probe (300 random tokens a copy) runs pooled and gives the engine's pooled probe's
/// scores, which the whole probe's equal (tests/integration/long_texts.rs).
#[test]
fn scores_on_a_long_probe_run_pooled() {
    use engine::analysis::probe::ProbeSpec;
    let output = attnscope(&["scores", "--model", "smollm2-135m", "--probe", "induction", "--length", "300", "--seeds", "1", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("probe: 30 of 30 layers"), "its progress is told a layer at a time");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let spec = ProbeSpec { length: 300, seeds: vec![0] };
    let (mut native, _) = shared_model("smollm2-135m").induction_probe_pooled(&spec, 5, |_, _| {}).unwrap();
    native.sort_by(|a, b| b.induction.total_cmp(&a.induction));
    assert_eq!(rows.len(), native.len());
    for (row, head) in rows.iter().zip(&native) {
        assert_eq!((row["layer"].as_u64().unwrap() as usize, row["head"].as_u64().unwrap() as usize), (head.layer, head.head));
        assert!((row["induction"].as_f64().unwrap() as f32 - head.induction).abs() <= 1e-6);
    }
    assert!(rows[0]["induction"].as_f64().unwrap() > 0.8, "a real induction head at 601 tokens: {}", rows[0]);
}

#[test]
fn scores_on_a_text_print_a_ranked_table() {
    let output = attnscope(&["scores", "--model", "all-minilm-l6-v2", "--text", "The cat sat. The cat sat.", "--sort", "previous_token"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["rank", "layer", "head", "induction", "previous_token", "duplicate_token", "first_token", "current_token", "entropy_bits", "positional"]
    );
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 6 * 12);
    assert!(rows.windows(2).all(|w| w[0][4] >= w[1][4]), "ranked by previous_token");
    assert_eq!(rows[0][0], 1.0);
}

/// `--sort positional`: every head ranked by how much its offset profile alone explains of its
/// map, the engine's numbers. On SmolLM2 the heads that look at the previous token come first
/// and the attention sinks last: a sink looks at one absolute position, a different offset on
/// every row, which no offset profile predicts.
#[test]
fn scores_sort_the_heads_by_how_positional_they_are() {
    let text = "The cat sat on the mat. The dog lay on the rug. A bird sang in the tree.";
    let output = attnscope(&["scores", "--model", "smollm2-135m", "--text", text, "--sort", "positional", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 30 * 9);
    let positional: Vec<f64> = rows.iter().map(|r| r["positional"].as_f64().unwrap()).collect();
    assert!(positional.windows(2).all(|w| w[0] >= w[1]), "ranked by positional");
    let report = shared_model("smollm2-135m").run_text(text, engine::Mask::Causal, None).unwrap();
    let scores = engine::analysis::heads::score_report(&report, engine::analysis::heads::Exclusions::default());
    let rank_of =
        |layer: usize, head: usize| rows.iter().position(|r| (r["layer"].as_u64(), r["head"].as_u64()) == (Some(layer as u64), Some(head as u64))).unwrap();
    for row in &rows {
        let (layer, head) = (row["layer"].as_u64().unwrap() as usize, row["head"].as_u64().unwrap() as usize);
        let ours = scores.iter().find(|s| (s.layer, s.head) == (layer, head)).unwrap();
        assert_eq!(row["positional"].as_f64().map(|v| v as f32), ours.positional, "{layer}.{head}: the engine's score");
    }
    let most_previous = scores.iter().max_by(|a, b| a.previous_token.total_cmp(&b.previous_token)).unwrap();
    assert!(
        rank_of(most_previous.layer, most_previous.head) < 5,
        "the strongest previous-token head {}.{} ranks among the first",
        most_previous.layer,
        most_previous.head
    );
    for sink in scores.iter().filter(|s| s.first_token > 0.99) {
        assert!(rank_of(sink.layer, sink.head) >= 3 * rows.len() / 4, "the sink {}.{} ranks in the last quarter", sink.layer, sink.head);
    }
    assert!(scores.iter().any(|s| s.first_token > 0.99), "SmolLM2 has sinks on this text");
}

#[test]
fn scores_usage_errors_exit_2_with_one_line() {
    assert_input_error(&["scores", "--model", "all-minilm-l6-v2"], "give --probe induction or --text TEXT");
    assert_input_error(&["scores", "--model", "all-minilm-l6-v2", "--probe", "copying"], "unknown probe `copying`");
    assert_input_error(&["scores", "--model", "all-minilm-l6-v2", "--probe", "induction", "--sort", "entropy_bits"], "cannot sort by `entropy_bits`");
    assert_input_error(&["scores", "--model", "all-minilm-l6-v2", "--probe", "induction", "--seeds", "0"], "--seeds takes a positive whole number");
}

#[test]
fn inspect_says_what_a_model_is_from_its_headers() {
    let text = |output: std::process::Output| {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let smollm2 = text(attnscope(&["inspect", "smollm2-135m"]));
    for line in
        ["format:        GGUF file", "architecture:  llama", "layers:        30", "heads:         9 query, 3 key/value", "head size:     64", "Q4_1 × 210"]
    {
        assert!(smollm2.contains(line), "`{line}` missing from:\n{smollm2}");
    }
    assert!(smollm2.contains("pre-tokenizer `smollm`") && smollm2.contains("from text"), "{smollm2}");

    // llama.cpp's conversion of the tiny Gemma 3: five windowed layers of six, its scale.
    let gguf = std::env::temp_dir().join(format!("attnscope-gemma3-{}.gguf", std::process::id()));
    std::fs::write(&gguf, attnscope_tests::tiny_gguf("gemma3")).unwrap();
    let gemma3 = text(attnscope(&["inspect", gguf.to_str().unwrap()]));
    std::fs::remove_file(&gguf).ok();
    assert!(gemma3.contains("windows:       5 of 6 layers (layer:window) 0:4 1:4 2:4 3:4 4:4"), "{gemma3}");
    assert!(gemma3.contains("tokenizer:     `llama` in the metadata, 96 tokens") && gemma3.contains("from text"), "{gemma3}");
    // GPT-NeoX from llama.cpp's GGUF, read through Hugging Face's layout.
    let gguf = std::env::temp_dir().join(format!("attnscope-neox-{}.gguf", std::process::id()));
    std::fs::write(&gguf, attnscope_tests::tiny_gguf("gpt_neox")).unwrap();
    let neox = text(attnscope(&["inspect", gguf.to_str().unwrap()]));
    std::fs::remove_file(&gguf).ok();
    for line in
        ["architecture:  gptneox", "layers:        2", "heads:         4 query, 4 key/value", "head size:     8", "every head's attention (2 layers × 4 heads)"]
    {
        assert!(neox.contains(line), "`{line}` missing from:\n{neox}");
    }
    // The real one: 5 local : 1 global layers with 512-token windows, and its SentencePiece vocabulary.
    let real = text(attnscope(&["inspect", "gemma3-270m"]));
    for line in [
        "layers:        18",
        "heads:         4 query, 1 key/value",
        "head size:     256",
        "scores:        × 0.0625",
        "windows:       15 of 18 layers",
        "vocabulary:    262144",
        "Q4K × 27",
        "Q6K × 9",
        "`llama` in the metadata, 262144 tokens",
    ] {
        assert!(real.contains(line), "`{line}` missing from:\n{real}");
    }
    let folder = root().join("tests/fixtures/tiny/gemma2");
    let gemma2 = text(attnscope(&["inspect", folder.to_str().unwrap()]));
    assert!(gemma2.contains("then capped at 3·tanh(·/3)") && gemma2.contains("no tokenizer.json"), "{gemma2}");

    // A file that is not a model, and an architecture attnscope does not run.
    let junk = std::env::temp_dir().join(format!("attnscope-inspect-{}.gguf", std::process::id()));
    std::fs::write(&junk, b"not a model").unwrap();
    let output = attnscope(&["inspect", junk.to_str().unwrap()]);
    std::fs::remove_file(&junk).ok();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a GGUF file"), "{}", String::from_utf8_lossy(&output.stderr));
    let mamba = std::env::temp_dir().join(format!("attnscope-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&mamba).unwrap();
    std::fs::write(mamba.join("config.json"), br#"{"model_type": "mamba"}"#).unwrap();
    std::fs::copy(root().join("tests/fixtures/tiny/llama/model.safetensors"), mamba.join("model.safetensors")).unwrap();
    let said = text(attnscope(&["inspect", mamba.to_str().unwrap()]));
    std::fs::remove_dir_all(&mamba).ok();
    assert!(said.contains("architecture:  mamba") && said.contains("nothing yet: this model's architecture `mamba` is not supported"), "{said}");
}

/// `--weights quantized` keeps SmolLM2's Q4_1 matrices as stored: the report says so, and its
/// maps are the float32 run's (the same weights, de-quantized as they are used); `fit` keeps a
/// model that fits in float32; a word that is no weight path is a usage error.
#[test]
fn run_takes_the_weight_path() {
    let text = "The cat sat on the mat";
    let float32 = report_of(&attnscope(&["run", "--model", "smollm2-135m", "--text", text]));
    let quantized = report_of(&attnscope(&["run", "--model", "smollm2-135m", "--weights", "quantized", "--text", text]));
    let fit = report_of(&attnscope(&["run", "--model", "smollm2-135m", "--weights", "fit", "--text", text]));
    assert_eq!(float32.model.weights, engine::WeightPath::Float32);
    assert_eq!(quantized.model.weights, engine::WeightPath::Quantized);
    assert_eq!(fit.model.weights, engine::WeightPath::Float32, "SmolLM2 fits float32");
    let (diff, _) = attnscope_tests::max_abs_diff(quantized.attention().as_flat(), float32.attention().as_flat());
    // The same weights in another layout: gemm may sum them in another order.
    assert!(diff <= attnscope_tests::REORDERED, "the quantized path's maps differ by {diff:e}");
    assert_eq!(quantized.next_tokens.unwrap()[0].id, float32.next_tokens.unwrap()[0].id);
    assert_input_error(&["run", "--model", "smollm2-135m", "--weights", "int8", "--text", text], "unknown weights `int8`");
}

#[test]
fn run_keeps_a_long_texts_maps_pooled_when_asked() {
    let prompts: Vec<String> = serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/bench/prompts.json")).unwrap()).unwrap();
    let text = prompts.last().unwrap();
    let report = report_of(&attnscope(&["run", "--model", "smollm2-135m", "--text", text, "--pool", "16"]));
    let whole = shared_model("smollm2-135m").run_text(text, Mask::Causal, None).unwrap();
    let t = whole.tokens().len();
    assert_eq!(report.sites[0].form, engine::MapForm::Pooled { block: 16, queries: t, keys: t });
    assert_eq!(report.tokens().len(), t, "every token is in the report, only the maps are pooled");
    let (diff, _) = attnscope_tests::max_abs_diff(report.attention().as_flat(), whole.attention().pooled(16).as_flat());
    assert!(diff <= 1e-6, "the CLI's pooled maps differ from the whole run's by {diff:e}");
    assert_eq!(report.next_tokens, whole.next_tokens);
    assert_input_error(&["run", "--model", "smollm2-135m", "--text", "a", "--pool", "0"], "--pool takes a block size");
    assert_input_error(&["run", "--model", "smollm2-135m", "--text", "a", "--pool", "8", "--format", "hf"], "BertViz reads whole maps");
    assert_input_error(&["run", "--model", "en-pt", "--text", "a", "--pool", "8"], "has no --pool");
}
