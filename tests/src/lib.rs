//! Helpers the integration tests share: where things are, the reference maps,
//! and comparisons that print readable failures.

pub mod bench;
pub mod figures;
pub mod reference;
pub mod serve;
pub mod webdriver;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use engine::Model;

/// The workspace's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the workspace").to_path_buf()
}

/// The folder of a fetched model. `make models` puts them there; a test run that finds a
/// file of assets/models.json or assets/aligners.json missing (plain `cargo test` on a fresh clone) fetches them
/// itself first, once, with the same script, which checks every file's sha256.
pub fn model_dir(name: &str) -> PathBuf {
    models_ready();
    let dir = root().join("assets").join("models").join(name);
    assert!(dir.is_dir(), "{} is missing after `python3 scripts/fetch_models.py`: is {name} in assets/models.json?", dir.display());
    dir
}

/// The folder of fetched data (assets/datasets.json), fetched first as [`model_dir`]'s models are.
pub fn data_dir(name: &str) -> PathBuf {
    models_ready();
    let dir = root().join("assets").join("data").join(name);
    assert!(dir.is_dir(), "{} is missing after `python3 scripts/fetch_models.py`: is {name} in assets/datasets.json?", dir.display());
    dir
}

/// Every file assets/models.json lists is in place, fetched by scripts/fetch_models.py if one
/// was not: checked once for this test binary, and every test that asks meanwhile waits (a
/// model's folder appears before its last file does), failing with what the script said.
fn models_ready() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let mut files = Vec::new();
        // The page's models, and the RNN aligners with what scripts/convert_rnn.py makes of them.
        // The data the training learns from, in assets/data/.
        let converted = &["model.safetensors", "config.json", "vocabulary.json"][..];
        for (catalog, into, made) in [("models.json", "models", &[][..]), ("aligners.json", "models", converted), ("datasets.json", "data", &[][..])] {
            let path = root().join("assets").join(catalog);
            let catalog: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            for model in catalog["models"].as_array().into_iter().flatten() {
                let dir = root().join("assets").join(into).join(model["id"].as_str().unwrap_or(""));
                let names = model["files"].as_array().into_iter().flatten().filter_map(|f| f["name"].as_str()).chain(made.iter().copied());
                files.extend(names.map(|name| dir.join(name)));
            }
        }
        if files.iter().all(|path| path.is_file()) {
            return Ok(());
        }
        eprintln!("[tests] a model file is missing: fetching them with scripts/fetch_models.py (as `make models` does)");
        let output = std::process::Command::new("python3")
            .arg(root().join("scripts").join("fetch_models.py"))
            .output()
            .map_err(|e| format!("python3 did not run ({e}): install Python 3, or run `make models`"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("scripts/fetch_models.py failed:\n{}", String::from_utf8_lossy(&output.stderr)))
        }
    });
    if let Err(why) = ready {
        panic!("{why}");
    }
}

/// The tiny random GPT-2 of the reference set, a model folder without a tokenizer.
pub fn tiny_gpt2_dir() -> PathBuf {
    root().join("tests").join("fixtures").join("reference").join("tiny-gpt2")
}

/// Loads each real model once per test binary: SmolLM2 takes a second to de-quantize.
pub fn shared_model(name: &str) -> Arc<Model> {
    type Loaded = Vec<(String, Arc<Model>)>;
    static MODELS: OnceLock<Mutex<Loaded>> = OnceLock::new();
    let models = MODELS.get_or_init(Default::default);
    let mut models = models.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, model)) = models.iter().find(|(n, _)| n == name) {
        return model.clone();
    }
    let dir = if name == "tiny-gpt2" { tiny_gpt2_dir() } else { model_dir(name) };
    let model = Arc::new(Model::from_path(name, &dir).unwrap_or_else(|e| panic!("loading {name}: {e}")));
    models.push((name.to_string(), model.clone()));
    model
}

/// The bound between two float32 runs of the same maps whose projections sum in different
/// orders: the engine natively (gemm blocks a product's inner dimension by the operands'
/// sizes and the processor's caches, so a run continued from a cached beginning, with a few
/// rows, sums otherwise than the whole run), the page (its own product in WebAssembly) and
/// transformers (torch). Each projection's sum of 576 to 1,536 terms rounds differently in
/// the last bits, and the difference travels through every layer: measured, the engine and
/// transformers differ by at most about 5e-6 on SmolLM2's and Gemma 3's maps. 1e-4 is
/// twenty times that, so that another processor's order passes and a wrong map (a wrong
/// mask or position is off by 1e-2 and more) does not.
pub const REORDERED: f32 = 1e-4;

/// Asserts that two computations that are the same by construction (the same kernels in
/// the same order, on any processor and any number of threads: see
/// `engine::products::attention_product`) gave the same bits, naming the first cell
/// that differs.
#[track_caller]
pub fn assert_same_bits(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: the maps differ in size");
    if let Some(at) = ours.iter().zip(theirs).position(|(a, b)| a.to_bits() != b.to_bits()) {
        let differing = ours.iter().zip(theirs).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        panic!("{what}: {differing} values differ, the first at {at}: {:e} against {:e}", ours[at], theirs[at]);
    }
}

/// The largest absolute difference between two equally long slices, and where it is.
pub fn max_abs_diff(ours: &[f32], theirs: &[f32]) -> (f32, usize) {
    assert_eq!(ours.len(), theirs.len(), "the maps differ in size");
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0.0, 0), |(best, at), (i, d)| if d > best || d.is_nan() { (d, i) } else { (best, at) })
}

/// The built `attnscope` binary. `make test` builds it before the tests run
/// (a test binary cannot ask cargo to build another package's binary);
/// $ATTNSCOPE_BIN overrides.
pub fn cli_binary() -> PathBuf {
    // The CLI's tests name the fetched models (`--model smollm2-135m`): fetch them first.
    models_ready();
    if let Some(path) = std::env::var_os("ATTNSCOPE_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/integration-<hash> -> target/<profile>/attnscope
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let bin = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps").join("attnscope");
    assert!(
        bin.is_file(),
        "{} is missing: `cargo test` builds it with the CLI's own tests; alone, run `cargo build -p attnscope-cli --bin attnscope` first",
        bin.display()
    );
    bin
}

/// Checks what every attention map must be: finite, in [0, 1], rows summing to 1,
/// and zero above the diagonal under the causal mask.
pub fn assert_valid_maps(report: &engine::AttentionReport) {
    let maps = &report.attention();
    let n = maps.tokens();
    assert_eq!(n, report.tokens().len());
    for layer in 0..maps.layers() {
        for head in 0..maps.heads() {
            for (q, row) in maps.head(layer, head).chunks(n).enumerate() {
                assert!(row.iter().all(|w| w.is_finite() && (0.0..=1.0 + 1e-6).contains(w)), "layer {layer} head {head} row {q}: {row:?}");
                let sum: f32 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-4, "layer {layer} head {head} row {q} sums to {sum}");
                if report.mask == engine::Mask::Causal {
                    assert!(row[q + 1..].iter().all(|&w| w == 0.0), "layer {layer} head {head} row {q} looks ahead");
                }
            }
        }
    }
}

/// A tiny model's GGUF, as llama.cpp's converter wrote it: its tensors and metadata
/// (tests/fixtures/tiny/<name>/gguf.safetensors and gguf-metadata.json, unpacked by
/// scripts/tiny_gguf.py) written back with candle's GGUF writer. The repository keeps no
/// .gguf files; the contents are llama.cpp's, the byte layout candle's.
pub fn tiny_gguf(name: &str) -> Vec<u8> {
    use candle_core::quantized::gguf_file::{self, Value};
    use candle_core::quantized::{GgmlDType, QTensor};
    let folder = root().join("tests/fixtures/tiny").join(name);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(folder.join("gguf-metadata.json")).unwrap()).unwrap();
    let scalar = |kind: &str, v: &serde_json::Value| -> Value {
        match kind {
            "UINT32" => Value::U32(v.as_u64().unwrap() as u32),
            "INT32" => Value::I32(v.as_i64().unwrap() as i32),
            "FLOAT32" => Value::F32(v.as_f64().unwrap() as f32),
            "STRING" => Value::String(v.as_str().unwrap().to_string()),
            "BOOL" => Value::Bool(v.as_bool().unwrap()),
            other => panic!("{name}: a metadata type {other} the fixtures do not use"),
        }
    };
    let metadata: Vec<(String, Value)> = entries
        .iter()
        .map(|e| {
            let kinds: Vec<&str> = e["type"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            let value = match kinds.as_slice() {
                ["ARRAY", inner] => Value::Array(e["value"].as_array().unwrap().iter().map(|v| scalar(inner, v)).collect()),
                [kind] => scalar(kind, &e["value"]),
                other => panic!("{name}: metadata type {other:?}"),
            };
            (e["key"].as_str().unwrap().to_string(), value)
        })
        .collect();
    let tensors = candle_core::safetensors::load(folder.join("gguf.safetensors"), &candle_core::Device::Cpu).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let quantized: Vec<(String, QTensor)> = names.into_iter().map(|n| (n.clone(), QTensor::quantize(&tensors[n], GgmlDType::F32).unwrap())).collect();
    let mut bytes = std::io::Cursor::new(Vec::new());
    let metadata_refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = quantized.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut bytes, &metadata_refs, &tensor_refs).unwrap();
    bytes.into_inner()
}

/// `samples` (16 kHz mono, in [-1, 1]) as a 16-bit PCM WAV file's bytes.
pub fn wav_16k(samples: &[f32]) -> Vec<u8> {
    let pcm: Vec<u8> = samples.iter().flat_map(|s| ((s * 32768.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes()).collect();
    let mut wav = Vec::with_capacity(44 + pcm.len());
    wav.extend(b"RIFF");
    wav.extend((36 + pcm.len() as u32).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes()); // PCM
    wav.extend(1u16.to_le_bytes()); // mono
    wav.extend(16_000u32.to_le_bytes());
    wav.extend(32_000u32.to_le_bytes()); // bytes per second
    wav.extend(2u16.to_le_bytes()); // bytes per frame
    wav.extend(16u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend((pcm.len() as u32).to_le_bytes());
    wav.extend(pcm);
    wav
}

/// An 8-bit RGBA PNG of `width` × `height` pixels, every one `rgba`.
pub fn png_rgba(width: u32, height: u32, rgba: &[u8; 4]) -> Vec<u8> {
    png_of(width, height, png::ColorType::Rgba, &rgba.repeat((width * height) as usize))
}

/// An 8-bit gray PNG of `side` × `side` pixels, black where `ink(x, y)`, else white: a
/// drawing on paper.
pub fn png_drawing(side: u32, ink: impl Fn(u32, u32) -> bool) -> Vec<u8> {
    let pixels: Vec<u8> = (0..side * side).map(|i| if ink(i % side, i / side) { 0 } else { 255 }).collect();
    png_of(side, side, png::ColorType::Grayscale, &pixels)
}

fn png_of(width: u32, height: u32, color: png::ColorType, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(pixels).unwrap();
    writer.finish().unwrap();
    bytes
}

/// A PNG's signature and a well-formed header (its checksum right) claiming `width` ×
/// `height` RGB pixels, and no pixels at all: a file that lies about its size.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut chunk = b"IHDR".to_vec();
    chunk.extend(width.to_be_bytes());
    chunk.extend(height.to_be_bytes());
    chunk.extend([8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&chunk);
    png.extend(crc32(&chunk).to_be_bytes());
    png
}

/// The CRC-32 PNG's chunks carry (ISO 3309), bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
