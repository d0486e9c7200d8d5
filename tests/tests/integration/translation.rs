//! The translators (Marian, English ↔ Portuguese): translations equal to the package's
//! own engine byte for byte, and both attention sites equal to the float64 reference
//! (scripts/marian_reference.py, which first reproduces the package's translations).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use attnscope_tests::{max_abs_diff, model_dir, root, REORDERED};
use candle_core::{Device, Tensor};
use engine::translator::Translator;
use engine::AttentionReport;
use serde::Deserialize;

const DIRECTIONS: [&str; 2] = ["en-pt", "pt-en"];
/// Long enough for every fixture sentence: the package cuts nothing.
const NO_LIMIT: usize = 100_000;

#[derive(Deserialize)]
struct Fixture {
    directions: HashMap<String, Direction>,
}

#[derive(Deserialize)]
struct Direction {
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    source: String,
    package_output: String,
    source_ids: Vec<u32>,
    target_ids: Vec<u32>,
    target_ids_no_shortlist: Vec<u32>,
    ended_by_length_limit: bool,
}

fn fixture() -> Fixture {
    let path = root().join("tests/fixtures/marian/translations.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Each direction loaded once per test binary.
fn translator(direction: &str) -> Arc<Translator> {
    static LOADED: OnceLock<Mutex<HashMap<String, Arc<Translator>>>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    loaded
        .entry(direction.to_string())
        .or_insert_with(|| Arc::new(Translator::from_dir(direction, &model_dir(direction)).unwrap_or_else(|e| panic!("{direction}: {e}"))))
        .clone()
}

/// The ids of a report's sequence.
fn ids(report: &AttentionReport, sequence: &str) -> Vec<u32> {
    report.sequence(sequence).unwrap().tokens.iter().map(|t| t.id).collect()
}

#[test]
fn translations_equal_the_packages_own_engine_byte_for_byte() {
    let fixture = fixture();
    for direction in DIRECTIONS {
        let model = translator(direction);
        let sentences = &fixture.directions[direction].sentences;
        assert!(sentences.len() >= 40, "{direction}: at least 40 sentences");
        for s in sentences {
            if s.source.trim().is_empty() {
                // The package translates nothing into nothing; the engine says why it does not run.
                assert_eq!(s.package_output, "");
                assert!(matches!(model.translate(&s.source, NO_LIMIT, true), Err(engine::EngineError::EmptyText)));
                continue;
            }
            let report = model.translate(&s.source, NO_LIMIT, true).unwrap();
            assert_eq!(ids(&report, "source"), s.source_ids, "{direction} source ids of {:?}", s.source);
            assert_eq!(ids(&report, "target"), s.target_ids, "{direction} target ids of {:?}", s.source);
            let translation = report.translation.as_ref().unwrap();
            assert_eq!(translation.text, s.package_output, "{direction}: {:?}", s.source);
            assert_eq!(translation.cut_by_limit, s.ended_by_length_limit, "{direction}: {:?}", s.source);
        }
    }
}

#[test]
fn each_target_token_is_heard_as_it_is_chosen() {
    let model = translator("pt-en");
    let mut heard = Vec::new();
    let options = engine::translator::TranslateOptions { scores_of_layer: Some(5), ..engine::translator::TranslateOptions::new(NO_LIMIT, true) };
    let report = model.translate_with("O gato sentou-se no tapete.", options, |step, token, limit| heard.push((step, token.clone(), limit))).unwrap();
    // The raw scores of the layer asked for give back that layer's maps: softmax(q·k / √32).
    let scores = report.site("encoder").unwrap().scores_of(5).expect("the encoder layer's raw scores");
    assert_eq!((scores.layer, scores.head_dim), (5, 32));
    let encoder = &report.site("encoder").unwrap().maps;
    let n = encoder.keys();
    for (head, rows) in scores.dot.iter().enumerate() {
        for (q, row) in rows.iter().enumerate() {
            let top = row.iter().copied().fold(f32::MIN, f32::max);
            let total: f32 = row.iter().map(|s| ((s - top) / 32f32.sqrt()).exp()).sum();
            for (k, s) in row.iter().enumerate() {
                let weight = ((s - top) / 32f32.sqrt()).exp() / total;
                assert!((weight - encoder.weight(5, head, q, k)).abs() < 1e-5, "head {head} ({q}, {k})");
            }
        }
        assert_eq!(rows.len(), n);
    }
    let target = &report.sequence("target").unwrap().tokens;
    assert_eq!(heard.iter().map(|(_, t, _)| t.clone()).collect::<Vec<_>>(), *target, "every token, in order, as the report has them");
    assert!(heard.iter().enumerate().all(|(i, (step, _, _))| *step == i));
    let source = report.sequence("source").unwrap().tokens.len();
    assert!(heard.iter().all(|(_, _, limit)| *limit == (2.5 * source as f64).ceil() as usize), "the limit is the source's length × 2.5");
}

#[test]
fn without_the_shortlist_the_translations_equal_the_references() {
    let fixture = fixture();
    let mut changed = 0;
    for direction in DIRECTIONS {
        let model = translator(direction);
        for s in fixture.directions[direction].sentences.iter().filter(|s| !s.source.trim().is_empty()) {
            let whole = model.translate(&s.source, NO_LIMIT, false).unwrap();
            assert_eq!(ids(&whole, "target"), s.target_ids_no_shortlist, "{direction} without the shortlist: {:?}", s.source);
            changed += usize::from(s.target_ids_no_shortlist != s.target_ids);
        }
    }
    assert!(changed > 0, "the fixtures hold sentences the shortlist changes");
}

#[test]
fn both_attention_sites_equal_the_float64_reference() {
    let path = root().join("tests/fixtures/marian/attention.safetensors");
    let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let ids = |t: &Tensor| -> Vec<u32> { t.flatten_all().unwrap().to_dtype(candle_core::DType::U32).unwrap().to_vec1().unwrap() };
    let flat = |t: &Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
    let (mut checked, mut worst) = (0, [0f32; 2]);
    for direction in DIRECTIONS {
        let model = translator(direction);
        for i in 0.. {
            let Some(source) = tensors.get(&format!("{direction}/{i}/source_ids")) else { break };
            let (source, target) = (ids(source), ids(&tensors[&format!("{direction}/{i}/target_ids")]));
            let encoder = &tensors[&format!("{direction}/{i}/encoder_self")];
            let cross = &tensors[&format!("{direction}/{i}/cross")];
            let sizes = model.sizes();
            assert_eq!(encoder.dims(), [sizes.encoder_layers, sizes.heads, source.len(), source.len()]);
            assert_eq!(cross.dims(), [sizes.decoder_layers, sizes.heads, target.len(), source.len()]);
            let text = model.translate_ids(&source, true).unwrap();
            assert_eq!(text.target, target, "{direction}/{i}: the same translation");
            let (error, at) = max_abs_diff(text.encoder.as_flat(), &flat(encoder));
            assert!(error <= 1e-4, "{direction}/{i} encoder self-attention: |Δ| {error} at {at}");
            worst[0] = worst[0].max(error);
            let (error, at) = max_abs_diff(text.cross.as_flat(), &flat(cross));
            assert!(error <= 1e-4, "{direction}/{i} cross-attention: |Δ| {error} at {at}");
            worst[1] = worst[1].max(error);
            checked += 1;
        }
    }
    assert!(checked >= 8, "maps of {checked} sentences checked");
    println!("largest |Δ| against the float64 reference: encoder {:.2e}, cross {:.2e}", worst[0], worst[1]);
}

#[test]
fn odd_and_long_input_gives_a_sound_translation_or_a_clear_message() {
    let model = translator("en-pt");
    for text in ["مرحبا بالعالم", "\u{301}", "a\u{0}b\u{7}c", "🐈‍⬛🐈‍⬛", "数学 and 猫", "\u{200F}right to left\u{200E}"] {
        let report = model.translate(text, NO_LIMIT, true).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let sizes = model.sizes();
        let (s, t) = (ids(&report, "source").len(), ids(&report, "target").len());
        let (encoder, cross) = (report.site("encoder").unwrap(), report.site("cross").unwrap());
        assert_eq!(encoder.maps.shape(), [sizes.encoder_layers, sizes.heads, s, s], "{text:?}");
        assert_eq!(cross.maps.shape(), [sizes.decoder_layers, sizes.heads, t, s], "{text:?}");
        assert!(encoder.is_self_attention() && !cross.is_self_attention());
        assert_eq!((cross.queries.as_str(), cross.keys.as_str()), ("target", "source"));
        for row in cross.maps.as_flat().chunks(s) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{text:?}: a cross-attention row sums to 1");
        }
    }
    // Characters the vocabulary lacks are its unknown token, shown as such.
    let unknown = model.translate("猫", NO_LIMIT, true).unwrap();
    assert!(unknown.sequence("source").unwrap().tokens.iter().any(|t| t.id == engine::arch::marian::UNK && t.text == "<unk>"), "{:?}", unknown.sequences[0]);
    // A text past the limit is cut, and says so, with `</s>` kept at its end.
    let long = "The cat sat on the mat. ".repeat(40);
    let cut = model.translate(&long, 64, true).unwrap();
    let source = ids(&cut, "source");
    assert_eq!(source.len(), 64);
    assert_eq!(source.last(), Some(&engine::arch::marian::EOS));
    let truncated = cut.truncated.expect("the cut is reported");
    assert_eq!(truncated.limit, 64);
    assert!(truncated.total_tokens > 64);
    // Nothing to translate: a message, not a run.
    assert!(matches!(model.translate(" \n\t", NO_LIMIT, true), Err(engine::EngineError::EmptyText)));
}

#[test]
fn a_damaged_translator_file_is_a_clear_error() {
    let dir = model_dir("en-pt");
    let model = std::fs::read(dir.join("model.enpt.intgemm.alphas.bin")).unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let shortlist = std::fs::read(dir.join("lex.50.50.enpt.s2t.bin")).unwrap();
    use engine::translator::TranslatorFiles;
    let load = |model: &[u8], shortlist: Option<&[u8]>| {
        Translator::from_bytes("damaged", TranslatorFiles { model, shortlist, tokenizer: &tokenizer }).err().map(|e| e.to_string())
    };
    for cut in [0, 7, 100, 12_544, model.len() / 2, model.len() - 1] {
        let message = load(&model[..cut], None).unwrap_or_else(|| panic!("a model cut at {cut} bytes loads"));
        assert!(message.starts_with("cannot read the model file"), "{message}");
    }
    let message = load(&model, Some(&shortlist[..shortlist.len() - 8])).expect("a cut shortlist is refused");
    assert!(message.contains("shortlist"), "{message}");
    let message = load(b"not a model at all, just text", None).unwrap();
    assert!(message.contains("not a Marian"), "{message}");
}

#[test]
fn every_cross_layers_raw_scores_give_back_its_maps() {
    let report = translator("en-pt").translate("The cat sat on the mat.", NO_LIMIT, true).unwrap();
    let cross = report.site("cross").unwrap();
    let [layers, heads, rows, columns] = cross.maps.shape();
    assert_eq!(cross.scores.len(), layers, "every cross layer's raw scores");
    for layer in 0..layers {
        let scores = cross.scores_of(layer).unwrap();
        assert_eq!((scores.head_dim, scores.dot.len()), (32, heads));
        for head in 0..heads {
            assert_eq!((scores.dot[head].len(), scores.dot[head][0].len()), (rows, columns));
            for (q, row) in scores.dot[head].iter().enumerate() {
                // softmax(q·k / √32) over the whole source (the decoder masks none of it).
                let top = row.iter().copied().fold(f32::MIN, f32::max);
                let total: f32 = row.iter().map(|s| ((s - top) / 32f32.sqrt()).exp()).sum();
                for (k, s) in row.iter().enumerate() {
                    let weight = ((s - top) / 32f32.sqrt()).exp() / total;
                    assert!((weight - cross.maps.weight(layer, head, q, k)).abs() < 1e-5, "L{layer}H{head} ({q}, {k})");
                }
            }
        }
    }
    assert!(report.site("encoder").unwrap().scores.is_empty(), "the encoder's only when asked");
}

/// The encoder's heads weighed and changed as the float64 reference does it
/// (`scripts/marian_reference.py changes`, which first reproduces the package's translations):
/// each head's value norms ‖f_h(x_j)‖, and the translation with heads zeroed or replaced by
/// their mean over the source: its words, its encoder maps and its cross maps. Patching,
/// which needs a second text's run, is refused with a message.
#[test]
fn a_translations_heads_are_weighed_and_changed_as_the_float64_reference_does() {
    use engine::translator::TranslateOptions;
    use engine::{Ablation, HeadId, Intervention};
    let path = root().join("tests/fixtures/marian/changes.safetensors");
    let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let int_ids = |key: &str| -> Vec<u32> { tensors[key].flatten_all().unwrap().to_dtype(candle_core::DType::U32).unwrap().to_vec1().unwrap() };
    let flat = |key: &str| -> Vec<f32> { tensors[key].flatten_all().unwrap().to_vec1().unwrap() };
    let model = translator("en-pt");
    let text = "The cat sat on the mat.";
    let run = |options: TranslateOptions| model.translate_with(text, options, |_, _, _| {});

    let weighed = run(TranslateOptions { value_norms: true, ..TranslateOptions::new(NO_LIMIT, true) }).unwrap();
    assert_eq!(ids(&weighed, "source"), int_ids("source_ids"), "the reference's source");
    assert_eq!(ids(&weighed, "target"), int_ids("plain.target_ids"), "the unchanged translation");
    let norms: Vec<f32> = weighed.value_norms.as_ref().expect("value norms asked for").norms.iter().flatten().flatten().copied().collect();
    let expected = flat("value_norms");
    assert_eq!(norms.len(), expected.len(), "[layer, head, source]");
    for (i, (ours, theirs)) in norms.iter().zip(&expected).enumerate() {
        // Float32 sums over 256 and 32 products against float64: relative rounding.
        assert!((ours - theirs).abs() <= REORDERED * theirs.abs().max(1.0), "value norm {i}: {ours} against {theirs}");
    }
    let plain = model.translate(text, NO_LIMIT, true).unwrap();
    assert_eq!(weighed.attention().as_flat(), plain.attention().as_flat(), "keeping norms changes no map");

    let head = |layer, head| HeadId { layer, head };
    for (name, intervention) in
        [("zero", Intervention::ablate(vec![head(0, 1), head(3, 5)], Ablation::Zero)), ("mean", Intervention::ablate(vec![head(2, 2)], Ablation::Mean))]
    {
        let changed = run(TranslateOptions { intervention: Some(intervention.clone()), ..TranslateOptions::new(NO_LIMIT, true) }).unwrap();
        assert_eq!(ids(&changed, "target"), int_ids(&format!("{name}.target_ids")), "{name}: the changed translation");
        for (site, key) in [("encoder", "encoder"), ("cross", "cross")] {
            let (error, at) = max_abs_diff(changed.site(site).unwrap().maps.as_flat(), &flat(&format!("{name}.{key}")));
            assert!(error <= REORDERED, "{name} {site}: |Δ| {error} at {at}");
        }
        assert_eq!(changed.intervention.as_ref().map(|i| &i.ablated), Some(&intervention.ablated), "the report says what changed");
    }
    let patch = Intervention { patched_outputs: vec![head(0, 0)], source: Some("another text".into()), ..Intervention::default() };
    let refused = run(TranslateOptions { intervention: Some(patch), ..TranslateOptions::new(NO_LIMIT, true) }).unwrap_err().to_string();
    assert!(refused.contains("needs a second text"), "{refused}");
    let beyond = Intervention::ablate(vec![head(6, 0)], Ablation::Zero);
    assert!(run(TranslateOptions { intervention: Some(beyond), ..TranslateOptions::new(NO_LIMIT, true) }).is_err(), "the encoder has 6 layers");
}
