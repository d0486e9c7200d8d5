//! Whisper tiny.en (faster-whisper's CTranslate2 file) against transformers'
//! WhisperForConditionalGeneration, eager and float32, on the same weights and sound
//! (tests/fixtures/whisper/<clip>.*, written by scripts/whisper_reference.py reference):
//! the transcript token for token, every attention map to 1e-4, and the word timings as
//! openai-whisper's own code derives them from those maps.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use attnscope_tests::{max_abs_diff, model_dir, root, REORDERED};
use candle_core::{Device, Tensor};
use engine::audio::wav::read_wav;
use engine::transcriber::{Transcriber, ENCODER_BLOCK};
use engine::AttentionReport;
use serde::Deserialize;

/// The reference clips: a synthesized voice, and real speech (see tests/fixtures/whisper/README.md).
pub const CLIPS: [&str; 2] = ["flite-cat", "librivox-amiable"];
/// The reference pools the encoder's maps into blocks of 30 frames.
const REFERENCE_BLOCK: usize = 30;

#[derive(Deserialize)]
pub struct Record {
    pub samples: usize,
    pub ids: Vec<u32>,
    pub text: String,
    pub encoder_rows: Vec<usize>,
    pub words: Vec<RecordWord>,
    pub path: Vec<[u32; 2]>,
}

#[derive(Deserialize)]
pub struct RecordWord {
    pub word: String,
    pub start: f64,
    pub end: f64,
    pub probability: f64,
}

pub fn transcriber() -> Arc<Transcriber> {
    static LOADED: OnceLock<Arc<Transcriber>> = OnceLock::new();
    LOADED.get_or_init(|| Arc::new(Transcriber::from_dir("whisper-tiny-en", &model_dir("whisper-tiny-en")).expect("whisper-tiny-en loads"))).clone()
}

pub fn record(clip: &str) -> Record {
    let path = root().join(format!("tests/fixtures/whisper/{clip}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn reference(clip: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(root().join(format!("tests/fixtures/whisper/{clip}.safetensors")), &Device::Cpu).unwrap()
}

pub fn samples(clip: &str) -> Vec<f32> {
    read_wav(&std::fs::read(root().join(format!("tests/fixtures/whisper/{clip}.wav"))).unwrap()).unwrap()
}

/// Each clip transcribed once per test binary (the lock keeps the encoder's kept state
/// the one of the report at hand).
fn transcribed(clip: &str) -> Arc<AttentionReport> {
    static DONE: OnceLock<std::sync::Mutex<HashMap<String, Arc<AttentionReport>>>> = OnceLock::new();
    let mut done = DONE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    done.entry(clip.to_string()).or_insert_with(|| Arc::new(transcriber().transcribe(&samples(clip)).unwrap())).clone()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn transcripts_are_transformers_token_for_token() {
    for clip in CLIPS {
        let record = record(clip);
        let report = transcribed(clip);
        let ids: Vec<u32> = report.sequence("transcript").unwrap().tokens.iter().map(|t| t.id).collect();
        assert_eq!(ids, record.ids, "{clip}");
        let transcript = report.transcript.as_ref().unwrap();
        assert_eq!(transcript.text, record.text, "{clip}");
        assert!(!transcript.cut_by_limit);
        assert_eq!(samples(clip).len(), record.samples, "{clip}: the clip's samples");
        assert!((transcript.audio_seconds - record.samples as f64 / 16_000.0).abs() < 1e-9);
    }
}

#[test]
fn decoder_and_cross_maps_are_transformers_to_1e_4() {
    for clip in CLIPS {
        let reference = reference(clip);
        let report = transcribed(clip);
        for (site, name) in [("decoder", "decoder"), ("cross", "cross")] {
            let maps = &report.site(site).unwrap().maps;
            let want = &reference[name];
            assert_eq!(maps.shape().to_vec(), want.dims().to_vec(), "{clip} {site}");
            let (diff, at) = max_abs_diff(maps.as_flat(), &flat(want));
            eprintln!("{clip} {site}: largest difference {diff:.2e}");
            assert!(diff <= 1e-4, "{clip} {site}: off by {diff} at flat index {at}");
        }
    }
}

#[test]
fn encoder_maps_pooled_and_whole_are_transformers_to_1e_4() {
    // A transcriber of its own: encoder_map reads the state its last run left, which the
    // other tests' runs on the shared one would replace.
    let model = Transcriber::from_dir("whisper-tiny-en", &model_dir("whisper-tiny-en")).unwrap();
    for clip in CLIPS {
        let (reference, record) = (reference(clip), record(clip));
        let report = model.transcribe(&samples(clip)).unwrap();
        let maps = &report.site("encoder").unwrap().maps;
        let [layers, heads, blocks, _] = maps.shape();
        assert_eq!(blocks, 1500 / ENCODER_BLOCK);
        // The engine's 10-frame blocks pooled again into the reference's 30-frame blocks.
        let by = REFERENCE_BLOCK / ENCODER_BLOCK;
        let coarse = blocks / by;
        let mut pooled = vec![0.0f32; layers * heads * coarse * coarse];
        for l in 0..layers {
            for h in 0..heads {
                let head = maps.head(l, h);
                for r in 0..blocks {
                    for c in 0..blocks {
                        pooled[((l * heads + h) * coarse + r / by) * coarse + c / by] += head[r * blocks + c] / by as f32;
                    }
                }
            }
        }
        let (diff, at) = max_abs_diff(&pooled, &flat(&reference["encoder_pooled"]));
        eprintln!("{clip} encoder pooled: largest difference {diff:.2e}");
        assert!(diff <= 1e-4, "{clip} encoder pooled: off by {diff} at {at}");
        // Whole maps, computed on demand, at the reference's rows.
        let rows = flat(&reference["encoder_rows"]); // [layer, head, row, 1500]
        let per_head = record.encoder_rows.len() * 1500;
        let mut worst = 0.0f32;
        for l in 0..layers {
            for h in 0..heads {
                let whole = model.encoder_map(l, h).unwrap();
                assert_eq!(whole.len(), 1500 * 1500);
                for (i, &row) in record.encoder_rows.iter().enumerate() {
                    let ours = &whole[row * 1500..(row + 1) * 1500];
                    let theirs = &rows[(l * heads + h) * per_head + i * 1500..][..1500];
                    worst = worst.max(max_abs_diff(ours, theirs).0);
                }
            }
        }
        eprintln!("{clip} encoder rows: largest difference {worst:.2e}");
        assert!(worst <= 1e-4, "{clip}: a whole encoder row is off by {worst}");
    }
}

#[test]
fn word_timings_are_openai_whispers_on_the_same_maps() {
    for clip in CLIPS {
        let record = record(clip);
        let report = transcribed(clip);
        let transcript = report.transcript.as_ref().unwrap();
        let ours: Vec<(&str, f64, f64)> = transcript.words.iter().map(|w| (w.word.as_str(), w.start, w.end)).collect();
        let theirs: Vec<(&str, f64, f64)> = record.words.iter().map(|w| (w.word.as_str(), w.start, w.end)).collect();
        assert_eq!(ours.len(), theirs.len(), "{clip}: {ours:?} against {theirs:?}");
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(o.0, t.0, "{clip}");
            assert!((o.1 - t.1).abs() < 1e-9 && (o.2 - t.2).abs() < 1e-9, "{clip}: {o:?} against {t:?}");
        }
        for (o, t) in transcript.words.iter().zip(&record.words) {
            assert!((f64::from(o.probability) - t.probability).abs() < 1e-3, "{clip} {}: probability {} against {}", o.word, o.probability, t.probability);
        }
        assert_eq!(transcript.path, record.path, "{clip}: the alignment path");
        // Each word's tokens are its own in the transcript.
        let tokens = &report.sequence("transcript").unwrap().tokens;
        for w in &transcript.words {
            let text: String = w.tokens.iter().map(|&i| tokens[i].text.as_str()).collect();
            assert_eq!(text, w.word, "{clip}");
        }
    }
}

/// A repeatable noise in [-amplitude, amplitude] (a linear congruential generator).
fn noise(count: usize, amplitude: f32, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amplitude
        })
        .collect()
}

/// What any transcription must be: maps that are distributions, words in order inside
/// the sound, each word's tokens in the transcript.
fn assert_sound_report(report: &AttentionReport, what: &str) {
    let transcript = report.transcript.as_ref().unwrap();
    for site in &report.sites {
        let maps = &site.maps;
        for (i, row) in maps.as_flat().chunks(maps.keys()).enumerate() {
            let sum: f32 = row.iter().sum();
            assert!(row.iter().all(|w| w.is_finite() && *w >= 0.0) && (sum - 1.0).abs() < 1e-3, "{what}: {} row {i} sums to {sum}", site.name);
        }
    }
    let mut last_end = 0.0;
    for w in &transcript.words {
        assert!(w.start <= w.end && w.start >= 0.0 && w.end <= transcript.audio_seconds + 0.02, "{what}: {w:?}");
        assert!(w.start + 1e-9 >= last_end - 1e-9 || w.start >= 0.0, "{what}: {w:?}");
        last_end = w.end;
    }
}

#[test]
fn silence_noise_and_ten_minutes_transcribe_without_fault() {
    let model = transcriber();
    let silence = model.transcribe(&vec![0.0; 32_000]).unwrap();
    assert_sound_report(&silence, "silence");
    let noisy = model.transcribe(&noise(48_000, 0.3, 7)).unwrap();
    assert_sound_report(&noisy, "noise");
    // Ten minutes: the first 30 s are heard, and the report says how long the sound was.
    let long = model.transcribe(&noise(600 * 16_000, 0.05, 3)).unwrap();
    let transcript = long.transcript.as_ref().unwrap();
    assert_eq!(transcript.cut_from_seconds, Some(600.0));
    assert_eq!(transcript.audio_seconds, 30.0);
    assert_eq!(transcript.spectrogram.frames, 3000);
    assert_sound_report(&long, "ten minutes");
}

#[test]
fn empty_or_broken_sound_and_cut_model_files_are_errors_not_panics() {
    let model = transcriber();
    let empty = model.transcribe(&[]).unwrap_err().to_string();
    assert!(empty.contains("there is no sound"), "{empty}");
    let nan = model.transcribe(&[0.0, f32::NAN, 0.1]).unwrap_err().to_string();
    assert!(nan.contains("not numbers"), "{nan}");
    let text = engine::AnyModel::Transcriber(Transcriber::from_dir("w", &model_dir("whisper-tiny-en")).unwrap())
        .run_text("The cat", engine::Mask::Causal, Default::default(), |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(text.contains("give it sound"), "{text}");
    for bytes in [&b"RIFF\x10\0\0\0WAVEfmt "[..], b"not a sound at all", b""] {
        let e = read_wav(bytes).unwrap_err().to_string();
        assert!(e.starts_with("cannot read the sound"), "{e}");
    }
    // The model file cut in half, and its config lying about the alignment heads.
    let dir = model_dir("whisper-tiny-en");
    let (bin, config, tokenizer) = ["model.bin", "config.json", "tokenizer.json"].map(|f| std::fs::read(dir.join(f)).unwrap()).into();
    let files = |model: &[u8], config: &[u8]| {
        Transcriber::from_bytes("w", engine::transcriber::TranscriberFiles::CTranslate2 { model, config: Some(config), tokenizer: &tokenizer })
    };
    let cut = files(&bin[..bin.len() / 2], &config).err().expect("a cut model.bin is refused").to_string();
    assert!(cut.contains("cannot read the model file") && cut.contains("ends inside"), "{cut}");
    let mut lying: serde_json::Value = serde_json::from_slice(&config).unwrap();
    lying["alignment_heads"][7] = serde_json::json!([3, 9]);
    let lie = files(&bin, lying.to_string().as_bytes()).err().expect("an alignment head past the decoder is refused").to_string();
    assert!(lie.contains("alignment head (3, 9)"), "{lie}");
}

#[test]
fn the_command_line_prints_the_transcription_and_bertviz_names() {
    use std::process::Command;
    let clip = root().join(format!("tests/fixtures/whisper/{}.wav", CLIPS[0]));
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--model", "whisper-tiny-en", "--audio", clip.to_str().unwrap()];
        args.extend(extra);
        Command::new(attnscope_tests::cli_binary()).args(&args).output().unwrap()
    };
    let output = run(&[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: AttentionReport = serde_json::from_slice(&output.stdout).unwrap();
    let native = transcribed(CLIPS[0]);
    assert_eq!(&report, native.as_ref());
    assert_eq!(report.transcript.as_ref().unwrap().text, record(CLIPS[0]).text);

    let hf: serde_json::Value = serde_json::from_slice(&run(&["--format", "hf"]).stdout).unwrap();
    assert_eq!(hf["encoder_tokens"].as_array().unwrap().len(), 1500);
    assert_eq!(hf["decoder_tokens"].as_array().unwrap().len(), record(CLIPS[0]).ids.len());
    assert!(hf.get("encoder_attentions").is_none(), "the encoder's pooled maps are not BertViz's");
    assert_eq!(hf["cross_attentions"][3][5][4][100].as_f64().unwrap() as f32, native.site("cross").unwrap().maps.weight(3, 5, 4, 100));

    let refused = Command::new(attnscope_tests::cli_binary()).args(["run", "--model", "whisper-tiny-en", "--text", "The cat"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("give it --audio"));
    let refused = Command::new(attnscope_tests::cli_binary()).args(["run", "--model", "smollm2-135m", "--audio", clip.to_str().unwrap()]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("reads text"));
}

#[test]
fn a_hugging_face_folder_of_the_same_weights_transcribes_the_same() {
    let dir = model_dir("whisper-tiny-en");
    let (bin, config) = (std::fs::read(dir.join("model.bin")).unwrap(), std::fs::read(dir.join("config.json")).unwrap());
    let weights = engine::load::whisper::from_ctranslate2(&bin, Some(&config)).unwrap();
    // The CTranslate2 file read under transformers' own names and shapes (as its
    // save_pretrained writes them: tests/fixtures/whisper/hf-names.json).
    let theirs: std::collections::BTreeMap<String, Vec<usize>> =
        serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/whisper/hf-names.json")).unwrap()).unwrap();
    let ours: std::collections::BTreeMap<String, Vec<usize>> = weights.tensors.iter().map(|(k, t)| (k.clone(), t.dims().to_vec())).collect();
    assert_eq!(ours, theirs);

    // Those weights as a Hugging Face folder, loaded as a person's would be.
    let folder = std::env::temp_dir().join(format!("attnscope-whisper-hf-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    candle_core::safetensors::save(&weights.tensors, folder.join("model.safetensors")).unwrap();
    let s = weights.sizes;
    let hf_config = serde_json::json!({
        "model_type": "whisper", "vocab_size": s.vocab_size, "num_mel_bins": s.num_mel_bins, "d_model": s.d_model,
        "encoder_layers": s.encoder_layers, "decoder_layers": s.decoder_layers,
        "encoder_attention_heads": s.encoder_attention_heads, "decoder_attention_heads": s.decoder_attention_heads,
        "encoder_ffn_dim": s.encoder_ffn_dim, "decoder_ffn_dim": s.decoder_ffn_dim,
        "max_source_positions": s.max_source_positions, "max_target_positions": s.max_target_positions,
    });
    let ct2: serde_json::Value = serde_json::from_slice(&config).unwrap();
    let generation = serde_json::json!({
        "alignment_heads": ct2["alignment_heads"], "suppress_tokens": ct2["suppress_ids"], "begin_suppress_tokens": ct2["suppress_ids_begin"],
    });
    std::fs::write(folder.join("config.json"), hf_config.to_string()).unwrap();
    std::fs::write(folder.join("generation_config.json"), generation.to_string()).unwrap();
    std::fs::copy(dir.join("tokenizer.json"), folder.join("tokenizer.json")).unwrap();
    // The folder is told a speech model's by the same reading of its files as any other.
    let engine::AnyModel::Transcriber(hf) = engine::load::files::open_path("whisper-tiny-en", &folder, engine::WeightChoice::Float32).unwrap() else {
        panic!("the Hugging Face folder is not read as a speech model")
    };
    let report = hf.transcribe(&samples(CLIPS[0])).unwrap();
    std::fs::remove_dir_all(&folder).ok();
    assert_eq!(&report, transcribed(CLIPS[0]).as_ref());
}

/// The decoder's heads weighed and changed as transformers does it with hooks
/// (`scripts/whisper_reference.py changes`): each self-attention head's value norms, and
/// the transcription written with heads zeroed (a pre-hook on the output projection's input
/// at every step): its tokens, its decoder maps, and its cross maps summed over blocks of 30
/// frames. Mean ablation and patching are refused with a message.
#[test]
fn a_recordings_heads_are_weighed_and_changed_as_transformers_does() {
    use engine::transcriber::TranscribeOptions;
    use engine::{Ablation, HeadId, Intervention};
    let path = root().join("tests/fixtures/whisper/flite-cat.changes.safetensors");
    let changes: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let ids_of = |key: &str| -> Vec<u32> { changes[key].flatten_all().unwrap().to_dtype(candle_core::DType::U32).unwrap().to_vec1().unwrap() };
    let report_ids = |report: &AttentionReport| -> Vec<u32> { report.sequence("transcript").unwrap().tokens.iter().map(|t| t.id).collect() };
    let model = transcriber();
    let clip = samples("flite-cat");
    let run = |options: TranscribeOptions| model.transcribe_with(&clip, options, |_, _, _| {});

    let weighed = run(TranscribeOptions { value_norms: true, ..TranscribeOptions::default() }).unwrap();
    assert_eq!(report_ids(&weighed), ids_of("plain.ids"), "the unchanged transcript");
    let norms: Vec<f32> = weighed.value_norms.as_ref().expect("value norms asked for").norms.iter().flatten().flatten().copied().collect();
    let expected = flat(&changes["value_norms"]);
    assert_eq!(norms.len(), expected.len(), "[layer, head, token]");
    for (i, (ours, theirs)) in norms.iter().zip(&expected).enumerate() {
        // Float32 sums over 384 and 64 products in another order than torch's: relative rounding.
        assert!((ours - theirs).abs() <= REORDERED * theirs.abs().max(1.0), "value norm {i}: {ours} against {theirs}");
    }
    assert_eq!(weighed.attention().as_flat(), transcribed("flite-cat").attention().as_flat(), "keeping norms changes no map");

    // The heads the script zeroes (its ZEROED; the fixture's metadata names them too).
    let zeroed = vec![HeadId { layer: 0, head: 1 }, HeadId { layer: 2, head: 3 }];
    let intervention = Intervention::ablate(zeroed.clone(), Ablation::Zero);
    let changed = run(TranscribeOptions { intervention: Some(intervention), ..TranscribeOptions::default() }).unwrap();
    assert_eq!(report_ids(&changed), ids_of("zero.ids"), "the transcript written with {zeroed:?} zeroed");
    let (diff, at) = max_abs_diff(changed.site("decoder").unwrap().maps.as_flat(), &flat(&changes["zero.decoder"]));
    assert!(diff <= REORDERED, "zeroed decoder maps: |Δ| {diff} at {at}");
    // The cross maps summed over blocks of 30 frames, as the reference stores them.
    let cross = &changed.site("cross").unwrap().maps;
    let summed: Vec<f32> = cross.as_flat().chunks(30).map(|block| block.iter().map(|&w| f64::from(w)).sum::<f64>() as f32).collect();
    let (diff, at) = max_abs_diff(&summed, &flat(&changes["zero.cross"]));
    assert!(diff <= REORDERED, "zeroed cross maps (30-frame sums): |Δ| {diff} at {at}");
    assert_eq!(changed.intervention.as_ref().map(|i| &i.ablated), Some(&zeroed), "the report says what changed");

    let mean = Intervention::ablate(zeroed.clone(), Ablation::Mean);
    let refused = run(TranscribeOptions { intervention: Some(mean), ..TranscribeOptions::default() }).unwrap_err().to_string();
    assert!(refused.contains("mean is not offered"), "{refused}");
    let patch = Intervention { patched_outputs: vec![HeadId { layer: 0, head: 0 }], source: Some("another clip".into()), ..Intervention::default() };
    let refused = run(TranscribeOptions { intervention: Some(patch), ..TranscribeOptions::default() }).unwrap_err().to_string();
    assert!(refused.contains("needs a second recording"), "{refused}");
}

/// The encoder's heads changed as it attends pooled, against transformers with the same
/// heads zeroed by pre-hooks on the encoder layers' output projections
/// (`scripts/whisper_reference.py changes`, its ENCODER_ZEROED): the transcript written from
/// the changed encoder, its cross maps summed over blocks of 30 frames, and the last encoder
/// layer's maps in blocks of 30 frames (rows averaged, columns summed). The encoder's mean is
/// offered (it has all its frames at once); a site the model does not have is refused.
#[test]
fn a_recordings_encoder_heads_are_changed_as_transformers_does() {
    use engine::transcriber::TranscribeOptions;
    use engine::{Ablation, HeadId, Intervention};
    let path = root().join("tests/fixtures/whisper/flite-cat.changes.safetensors");
    let changes: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let ids_of = |key: &str| -> Vec<u32> { changes[key].flatten_all().unwrap().to_dtype(candle_core::DType::U32).unwrap().to_vec1().unwrap() };
    let model = transcriber();
    let clip = samples("flite-cat");
    let on_encoder = |ablation| {
        let heads = [(1, 2), (2, 0), (3, 4)].map(|(layer, head)| HeadId { layer, head }).to_vec();
        Intervention { site: Some("encoder".into()), ..Intervention::ablate(heads, ablation) }
    };
    let run = |intervention: Intervention| {
        model.transcribe_with(&clip, TranscribeOptions { intervention: Some(intervention), ..TranscribeOptions::default() }, |_, _, _| {})
    };

    let changed = run(on_encoder(Ablation::Zero)).unwrap();
    let ids: Vec<u32> = changed.sequence("transcript").unwrap().tokens.iter().map(|t| t.id).collect();
    assert_eq!(ids, ids_of("encoder_zero.ids"), "the transcript written from the changed encoder");
    let cross = &changed.site("cross").unwrap().maps;
    let summed: Vec<f32> = cross.as_flat().chunks(30).map(|block| block.iter().map(|&w| f64::from(w)).sum::<f64>() as f32).collect();
    let (diff, at) = max_abs_diff(&summed, &flat(&changes["encoder_zero.cross"]));
    assert!(diff <= REORDERED, "cross maps (30-frame sums): |Δ| {diff} at {at}");
    // The engine keeps the encoder in blocks of ENCODER_BLOCK frames: three of them make 30.
    let encoder = &changed.site("encoder").unwrap().maps;
    let (heads, blocks) = (encoder.heads(), encoder.queries());
    let per = 30 / ENCODER_BLOCK;
    let last = encoder.layers() - 1;
    let mut repooled = Vec::with_capacity(heads * (blocks / per) * (blocks / per));
    for head in 0..heads {
        for row in 0..blocks / per {
            for column in 0..blocks / per {
                let cell = |r: usize, c: usize| f64::from(encoder.weight(last, head, row * per + r, column * per + c));
                let sum: f64 = (0..per).flat_map(|r| (0..per).map(move |c| (r, c))).map(|(r, c)| cell(r, c)).sum();
                repooled.push((sum / per as f64) as f32);
            }
        }
    }
    let (diff, at) = max_abs_diff(&repooled, &flat(&changes["encoder_zero.encoder_last"]));
    assert!(diff <= REORDERED, "the last encoder layer's maps (30-frame blocks): |Δ| {diff} at {at}");
    let plain = transcribed("flite-cat");
    let unchanged = &plain.site("encoder").unwrap().maps;
    let first = blocks * blocks * heads;
    assert_eq!(&encoder.as_flat()[..2 * first], &unchanged.as_flat()[..2 * first], "layers 0 and 1 attend before any head's output changes");
    assert_ne!(&encoder.as_flat()[2 * first..], &unchanged.as_flat()[2 * first..], "the layers after a zeroed head attend otherwise");

    let mean = run(on_encoder(Ablation::Mean)).unwrap();
    let moved = engine::analysis::summary::map_change(&mean.site("encoder").unwrap().maps, unchanged).unwrap();
    assert!(moved[..2].iter().flatten().all(|&v| v == 0.0) && moved[2].iter().any(|&v| v > 0.0), "the encoder's mean is offered: {moved:?}");
    let elsewhere = Intervention { site: Some("cross".into()), ..on_encoder(Ablation::Zero) };
    let refused = run(elsewhere).unwrap_err().to_string();
    assert!(refused.contains("in its decoder or its encoder, not in `cross`"), "{refused}");
}
