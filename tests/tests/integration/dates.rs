//! The dates models trained by the project (issue 31): `attnscope train dates` from a seed,
//! measured on held-out days by the engine's own run of the written files (not the
//! trainer's measure), run from the command line, and refused clearly when broken.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use attnscope_tests::cli_binary;
use engine::rnn::seq2seq::Score;
use engine::rnn::{Aligner, AlignerFiles};
use engine::train::dates::{iso_field, DateDraws, Example};
use engine::train::dates_training::{DatesSettings, DatesTraining};

/// Trains a model with `attnscope train dates` into a fresh folder; its stderr.
fn train(score: &str, extra: &[&str]) -> (PathBuf, String) {
    let out = std::env::temp_dir().join(format!("attnscope-dates-{score}-{}-{}", extra.len(), std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(cli_binary()).args(["train", "dates", "--score", score, "--seed", "1", "--out"]).arg(&out).args(extra).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "train failed: {stderr}");
    (out, stderr)
}

/// The additive model of seed 1, trained once for every test here: 250 batches at most
/// (it measured 99.9% exact at 125 on the trainer's held-out dates), stopping only if every
/// held-out date is exact.
fn additive() -> &'static Path {
    static TRAINED: OnceLock<PathBuf> = OnceLock::new();
    TRAINED.get_or_init(|| train("additive", &["--steps", "250", "--until", "1"]).0)
}

fn load(dir: &Path) -> engine::Result<Aligner> {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let (config, vocabulary, weights) = (read("config.json"), read("vocabulary.json"), read("model.safetensors"));
    Aligner::from_bytes("dates", AlignerFiles { config: &config, vocabulary: &vocabulary, weights: &weights })
}

/// The share of `examples` written exactly, and of their digits whose highest weight is
/// inside the source field (year, month, day) that writes them: each run alone, as `run`
/// and the page run them.
fn measure(aligner: &Aligner, examples: &[Example]) -> (f64, f64) {
    let (mut exact, mut digits, mut in_field) = (0, 0, 0);
    for example in examples {
        let report = aligner.align(&example.text, |_, _, _| {}).unwrap();
        exact += usize::from(report.translation.as_ref().unwrap().text == example.iso);
        let site = &report.sites[0];
        let keys = site.maps.shape()[3];
        for i in (0..10).filter(|&i| iso_field(i).is_some()) {
            let row: Vec<f32> = (0..keys).map(|j| site.maps.weight(0, 0, i, j)).collect();
            let looked = row.iter().enumerate().fold(0, |best, (j, &w)| if w > row[best] { j } else { best });
            digits += 1;
            in_field += usize::from(example.fields[iso_field(i).unwrap()].contains(&looked));
        }
    }
    (exact as f64 / examples.len() as f64, in_field as f64 / digits as f64)
}

/// 1,000 held-out dates the trainer's own measure does not use (another seed).
fn held_out() -> Vec<Example> {
    let mut draws = DateDraws::new(77);
    (0..1000).map(|_| draws.draw(true)).collect()
}

#[test]
fn bahdanaus_model_writes_unseen_dates_and_reads_each_digits_field() {
    let (exact, in_field) = measure(&load(additive()).unwrap(), &held_out());
    // The issue's aim: 99% exact and 95% of digits read from their field, on days never drawn.
    assert!(exact >= 0.99, "{:.1}% exact", 100.0 * exact);
    assert!(in_field >= 0.95, "{:.1}% of digits read from their field", 100.0 * in_field);
}

#[test]
fn luongs_dot_model_learns_the_same_dates() {
    let (dir, stderr) = train("dot", &["--steps", "300"]);
    let (exact, in_field) = measure(&load(&dir).unwrap(), &held_out());
    // Measured 99.4% exact and 98.4% in field at 125 batches.
    assert!(exact >= 0.99 && in_field >= 0.95, "{:.1}% exact, {:.1}% in field; {stderr}", 100.0 * exact, 100.0 * in_field);
    assert!(stderr.contains("held-out exact"), "no progress on stderr: {stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_same_seed_gives_the_same_model_and_another_seed_another() {
    let weights = |seed: u64| {
        let mut training = DatesTraining::new(DatesSettings::new(Score::General, seed), 0).unwrap();
        for _ in 0..15 {
            training.step().unwrap();
        }
        training.files().unwrap().weights
    };
    let first = weights(4);
    assert!(first == weights(4), "seed 4 twice gave two models");
    assert!(first != weights(5), "seeds 4 and 5 gave one model");
}

#[test]
fn the_command_line_runs_a_trained_model_like_any_other() {
    let output =
        Command::new(cli_binary()).args(["run", "--model"]).arg(additive()).args(["--text", "Saturday, December 5, 2026", "--format", "hf"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let hf: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let strings = |key: &str| hf[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(strings("encoder_tokens").concat(), "Saturday, December 5, 2026");
    assert_eq!(strings("decoder_tokens"), ["2", "0", "2", "6", "-", "1", "2", "-", "0", "5", "<end>"]);
    // [layers = 1][heads = 1][11 steps][26 characters], each row a distribution.
    let rows = hf["cross_attentions"][0][0].as_array().unwrap();
    assert_eq!(rows.len(), 11);
    for row in rows {
        let row: Vec<f64> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(row.len(), 26);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{row:?}");
    }
    // The year's first digit reads "2026" (characters 22 to 25).
    let first: Vec<f64> = rows[0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let looked = first.iter().enumerate().fold(0, |best, (j, &w)| if w > first[best] { j } else { best });
    assert!((22..26).contains(&looked), "the year's first digit read character {looked}");
}

#[test]
fn a_trained_models_steps_taken_apart_give_the_weights_it_used() {
    let report = load(additive()).unwrap().align("Saturday, December 5, 2026", |_, _, _| {}).unwrap();
    // The model's tanh is float32's 1 − 2/(e^{2x} + 1), within 3e-7 of the report's; over 32
    // terms of |v| < 1 a score moves by 1e-5 at most, a weight by as much.
    let worst = super::aligners::arithmetic_against_maps(&report);
    assert!(worst < 1e-4, "{worst}");
    let arithmetic = report.alignment_arithmetic.unwrap();
    assert!(arithmetic.formula.starts_with("Bahdanau's additive"), "{}", arithmetic.formula);
    assert_eq!(arithmetic.keys[0].len(), 32, "the attention's 32 units");
}

#[test]
fn odd_text_gets_the_unknown_symbol_a_cut_or_a_clear_refusal() {
    let aligner = load(additive()).unwrap();
    let report = aligner.align("5 Déc 2026", |_, _, _| {}).unwrap();
    let source: Vec<&str> = report.sequences[0].tokens.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(source, ["5", " ", "D", "<unk>", "c", " ", "2", "0", "2", "6"]);
    let long = "Saturday, December 5, 2026 and some more words to read".to_string();
    let report = aligner.align(&long, |_, _, _| {}).unwrap();
    let cut = report.truncated.expect("a notice of the cut");
    assert_eq!((cut.limit, cut.total_tokens), (40, long.chars().count()));
    assert_eq!(report.sequences[0].tokens.len(), 40);
    let empty = aligner.align("   ", |_, _, _| {}).map(|_| ()).expect_err("empty text refused").to_string();
    assert!(empty.contains("empty"), "{empty}");
}

#[test]
fn a_broken_or_lying_model_folder_is_refused_with_a_reason() {
    let dir = additive();
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let (config, vocabulary, weights) = (read("config.json"), read("vocabulary.json"), read("model.safetensors"));
    let refused = |config: &[u8], vocabulary: &[u8], weights: &[u8]| match Aligner::from_bytes("dates", AlignerFiles { config, vocabulary, weights }) {
        Ok(_) => panic!("a broken model loaded"),
        Err(e) => e.to_string(),
    };
    let cut = refused(&config, &vocabulary, &weights[..weights.len() / 2]);
    assert!(cut.contains("model.safetensors"), "{cut}");
    let wider = String::from_utf8(config.clone()).unwrap().replace("\"encoder_units\": 32", "\"encoder_units\": 4096");
    let lie = refused(wider.as_bytes(), &vocabulary, &weights);
    // The forward GRU's input weights would be [16, 3 × 4096].
    assert!(lie.contains("encoder.forward.input") && lie.contains("12288"), "{lie}");
    let huge = String::from_utf8(config.clone()).unwrap().replace("\"source_slots\": 40", "\"source_slots\": 100000000");
    assert!(refused(huge.as_bytes(), &vocabulary, &weights).contains("source slots"));
    let nothing = String::from_utf8(config.clone()).unwrap().replace("\"attention_units\": 32", "\"attention_units\": 0");
    let none = refused(nothing.as_bytes(), &vocabulary, &weights);
    assert!(none.contains("attention_units") && none.contains("is 0"), "{none}");
    let no_target = refused(&config, br#"{"source": ["<pad>", "<unk>"]}"#, &weights);
    assert!(no_target.contains("vocabulary.json") && no_target.contains("target"), "{no_target}");
}

#[test]
fn a_run_stopped_early_still_writes_a_model_that_runs() {
    let (dir, stderr) = train("concat", &["--steps", "3"]);
    assert!(stderr.contains("step     3"), "{stderr}");
    let report = load(&dir).unwrap().align("5 December 2026", |_, _, _| {}).unwrap();
    // Three batches teach it little, but it writes at most the 11 steps of a date, each a
    // distribution over the 15 characters.
    let [_, _, steps, keys] = report.sites[0].maps.shape();
    assert!((1..=11).contains(&steps) && keys == 15, "{steps} steps over {keys} characters");
    for step in 0..steps {
        let total: f32 = (0..keys).map(|j| report.sites[0].maps.weight(0, 0, step, j)).sum();
        assert!((total - 1.0).abs() < 1e-5, "step {step} sums to {total}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
