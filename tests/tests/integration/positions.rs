//! The models' own positions (issue 32): every shipped model's position sets, as the engine
//! reports them, against what each model's own package makes (scripts/positions_reference.py:
//! transformers' rotary classes and `sinusoids`, the checkpoints' tables, DINOv2's own
//! interpolation), and `attnscope positions` on them.

use attnscope_tests::{cli_binary, model_dir, root};
use engine::report::positions::{PositionKind, Positions, Table};
use serde_json::Value;

/// `name`'s positions, each table's first `shown` rows.
fn positions_of(name: &str, shown: usize) -> Positions {
    let model = engine::load::files::open_path(name, &model_dir(name), engine::WeightChoice::Float32).unwrap();
    model.positions(shown).unwrap()
}

fn positions(name: &str) -> Positions {
    positions_of(name, 128)
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/positions/positions.json")).unwrap()).unwrap()
}

fn floats(value: &Value) -> Vec<f32> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

/// Table rows `which` against the reference's rows, within `bound`.
fn assert_rows(what: &str, table: &Table, want: &Value, bound: f32) {
    for (row, &i) in
        want["rows"].as_array().unwrap().iter().zip(want["which"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as usize).collect::<Vec<_>>().iter())
    {
        let worst = table.row(i).iter().zip(floats(row)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= bound, "{what}: row {i} differs by {worst}");
    }
}

#[test]
fn rotary_frequencies_and_gemma3s_two_bases_are_transformers_own() {
    let reference = reference();
    for name in ["smollm2-135m", "gemma3-270m"] {
        assert_rotary(name, &positions(name).sets, &reference[name]["rotary"]);
    }
}

/// Rotary sets against transformers': the same layers, and θ for every pair.
fn assert_rotary(name: &str, sets: &[engine::report::positions::PositionSet], want: &Value) {
    let want = want.as_array().unwrap();
    assert_eq!(sets.len(), want.len(), "{name}: one set a base");
    for (set, want) in sets.iter().zip(want) {
        let PositionKind::Rotary { inv_freq, rotated, .. } = &set.kind else { panic!("{name}: {} is not rotary", set.name) };
        let layers: Vec<usize> = want["layers"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap() as usize).collect();
        assert_eq!(set.layers, layers, "{name}: {}'s layers", set.name);
        let theirs = floats(&want["inv_freq"]);
        assert_eq!((inv_freq.len(), *rotated), (theirs.len(), 2 * theirs.len()), "{name}: pairs");
        // Both are 1 / base^(2i/d) in float32; `powf` and torch's `pow` round apart by up to
        // 2 units in the last place (docs/notes/positions.md), 2.4e-7 relative: 1e-6 holds on
        // any machine's libm and catches a base or a width that is not theirs (a factor of 10
        // in the base moves θ_1 by 7%).
        for (i, (ours, theirs)) in inv_freq.iter().zip(&theirs).enumerate() {
            assert!((ours - theirs).abs() <= 1e-6 * theirs.abs(), "{name} {}: pair {i}: {ours} against {theirs}", set.name);
        }
    }
}

#[test]
fn learned_and_sinusoidal_tables_are_the_checkpoints_and_the_packages() {
    let reference = reference();
    // MiniLM: the checkpoint's table, read as stored, all 512 rows.
    let minilm = positions_of("all-minilm-l6-v2", 512);
    let PositionKind::Learned { rows, width, offset, table } = &minilm.sets[0].kind else { panic!("MiniLM's table is learned") };
    assert_eq!((*rows, *width, *offset, table.shown), (512, 384, 0, 512));
    assert_rows("MiniLM", table, &reference["all-minilm-l6-v2"]["learned"][0], 0.0);
    for (i, &sum) in floats(&reference["all-minilm-l6-v2"]["learned"][0]["sums"]).iter().enumerate() {
        let ours: f64 = table.row(i).iter().map(|&x| f64::from(x)).sum();
        // A sum of 384 float32 values below 0.2, in float64 here and there: equal to their
        // 9 digits (1e-6 of magnitudes below 10).
        assert!((ours - f64::from(sum)).abs() < 1e-5, "MiniLM row {i}'s sum {ours} against {sum}");
    }
    // Marian: the engine's sinusoids are transformers' `sinusoids`. It computes in float32,
    // the engine in float64 kept as float32: measured 3e-6 apart over 64 rows, more at larger
    // angles; 1e-5 over these 128.
    let marian = positions("en-pt");
    let PositionKind::Sinusoidal { width, table } = &marian.sets[0].kind else { panic!("Marian's positions are sinusoidal") };
    assert_eq!(*width, 256);
    assert_rows("Marian", table, &reference["en-pt"]["sinusoidal"][0], 1e-5);
    // Whisper: both tables as the CTranslate2 file stores them (float16, read the same way),
    // and the encoder's within float16's rounding of the formula transformers fills it with
    // (2.4e-4 measured; a float16 step at these magnitudes is 4.9e-4).
    let whisper = positions("whisper-tiny-en");
    let want = &reference["whisper-tiny-en"]["learned"];
    for (set, want) in whisper.sets.iter().zip(want.as_array().unwrap()) {
        let PositionKind::Learned { table, .. } = &set.kind else { panic!("Whisper's tables are stored") };
        assert_rows(&format!("Whisper's {}", set.name), table, want, 0.0);
        if let Some(sinusoids) = want.get("sinusoids") {
            let formula = serde_json::json!({"rows": sinusoids, "which": want["which"]});
            assert_rows("Whisper's encoder against sinusoids(1500, 384)", table, &formula, 5e-4);
        }
    }
    assert_eq!(whisper.sets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["encoder (sinusoidal, as stored)", "decoder"]);
}

#[test]
fn dinov2s_grid_is_its_own_interpolation_at_224_pixels() {
    let reference = reference();
    let dinov2 = positions("dinov2-small");
    let PositionKind::Grid { leading, rows, columns, trained, table, .. } = &dinov2.sets[0].kind else { panic!("DINOv2's positions are a grid") };
    assert_eq!((*leading, *rows, *columns, *trained, table.shown), (1, 16, 16, 37, 257));
    let want = &reference["dinov2-small"]["grid"][0];
    // torch's bicubic and the engine's, both float32 sums of 16 products of values below
    // 0.17: 1.5e-8 measured; 1e-5 is the bound.
    assert_rows("DINOv2", table, want, 1e-5);
    let middle = 1 + 8 * 16 + 8;
    for (j, &s) in floats(&want["middle_similarity"]).iter().enumerate() {
        let ours = table.similarity[middle * table.shown + 1 + j];
        assert!((ours - s).abs() < 1e-5, "patch (8, 8) with patch {j}: {ours} against {s}");
    }
}

#[test]
fn the_command_line_tells_each_models_positions() {
    let run = |model: &str, json: bool| {
        let mut args = vec!["positions", "--model", model];
        if json {
            args.push("--json");
        }
        let output = std::process::Command::new(cli_binary()).args(&args).output().unwrap();
        assert!(output.status.success(), "{model}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let gemma = run("gemma3-270m", false);
    assert!(gemma.contains("windowed layers — rotary, base 10000") && gemma.contains("on layers 0-4, 6-10, 12-16"), "{gemma}");
    assert!(gemma.contains("global layers — rotary, base 1000000") && gemma.contains("on layers 5, 11, 17"), "{gemma}");
    assert!(run("smollm2-135m", false).contains("32 adjacent pairs"), "a GGUF Llama turns adjacent pairs");
    let dinov2 = run("dinov2-small", false);
    assert!(dinov2.contains("37 × 37 as trained, resized to 16 × 16"), "{dinov2}");
    let json: Positions = serde_json::from_str(&run("en-pt", true)).unwrap();
    assert_eq!(json, positions("en-pt"));
    assert!(run("khmer-translit", false).contains("no positions"));
}

/// Every family a person's files may be (the tiny models of tests/fixtures/tiny): the engine's
/// sets against the model transformers builds from the same config.json (its rotary buffers;
/// Gemma 3's two bases and its windowed layers) and against the checkpoints' learned tables
/// from the row position 0 reads (RoBERTa's third).
#[test]
fn every_familys_positions_are_its_packages() {
    let reference = reference();
    let tiny = reference["tiny"].as_object().unwrap();
    assert!(tiny.len() >= 17, "every tiny family: {}", tiny.len());
    for (name, want) in tiny {
        let folder = root().join("tests/fixtures/tiny").join(name);
        let model = engine::load::files::open_path(name, &folder, engine::WeightChoice::Float32).unwrap();
        let sets = model.positions(64).unwrap().sets;
        if let Some(rotary) = want.get("rotary") {
            assert_rotary(name, &sets, rotary);
        } else {
            let want = &want["learned"][0];
            let PositionKind::Learned { table, offset, .. } = &sets[0].kind else { panic!("{name}: a learned table") };
            assert_eq!(*offset as u64, want["offset"].as_u64().unwrap(), "{name}: the row position 0 reads");
            assert_rows(name, table, want, 0.0);
        }
    }
}
