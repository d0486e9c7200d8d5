//! Interventions against transformers with hooks (scripts/intervention_reference.py):
//! ablated and patched heads give transformers' next-token logits and downstream maps,
//! sweeps give its effects head by head, and direct logit attribution its decomposition,
//! on SmolLM2 and on tiny models of the families built differently.

use std::collections::HashMap;

use attnscope_tests::{max_abs_diff, root, shared_model};
use candle_core::{Device, Tensor};
use engine::{Ablation, Answer, AnswerToken, AttentionReport, EngineError, HeadId, Intervention, Model, Sweep, Trace};
use serde_json::Value;

/// Float32 against float32: the one bound every comparison with transformers holds (see its reasons).
use attnscope_tests::REORDERED as EXACT;

pub struct Fixture {
    pub json: Value,
    tensors: HashMap<String, Tensor>,
}

pub fn fixture(model: &str) -> Fixture {
    let dir = root().join("tests/fixtures/intervention");
    let json = serde_json::from_slice(&std::fs::read(dir.join(format!("{model}.json"))).unwrap()).unwrap();
    let tensors = candle_core::safetensors::load(dir.join(format!("{model}.safetensors")), &Device::Cpu).unwrap();
    Fixture { json, tensors }
}

fn ids(value: &Value) -> Vec<u32> {
    serde_json::from_value(value.clone()).unwrap()
}

fn heads(value: Option<&Value>) -> Vec<HeadId> {
    value.and_then(Value::as_array).map_or(Vec::new(), |list| {
        list.iter().map(|pair| HeadId { layer: pair[0].as_u64().unwrap() as usize, head: pair[1].as_u64().unwrap() as usize }).collect()
    })
}

/// A reference case as the engine's intervention.
pub fn intervention_of(case: &Value, source: &str, means: &str) -> Intervention {
    let (zero, mean, other) = (heads(case.get("zero")), heads(case.get("mean")), heads(case.get("mean_of_other")));
    let (ablated, ablation, means_from) = match (zero.is_empty(), mean.is_empty(), other.is_empty()) {
        (false, _, _) => (zero, Ablation::Zero, None),
        (_, false, _) => (mean, Ablation::Mean, None),
        (_, _, false) => (other, Ablation::Mean, Some(means.to_string())),
        _ => (Vec::new(), Ablation::Zero, None),
    };
    let patched_outputs = heads(case.get("patch_outputs"));
    let patched_patterns = heads(case.get("patch_patterns"));
    let source = (!patched_outputs.is_empty() || !patched_patterns.is_empty()).then(|| source.to_string());
    Intervention { ablated, ablation, means_from, patched_outputs, patched_patterns, source, ..Intervention::default() }
}

/// The report's next tokens against the reference's ten: the same ids, the same logits.
pub fn assert_next_tokens(what: &str, report: &AttentionReport, top10: &Value) {
    let theirs: Vec<u32> = ids(&top10["ids"]);
    let logits: Vec<f32> = serde_json::from_value(top10["logits"].clone()).unwrap();
    let ours = report.next_tokens.as_ref().expect("a causal run guesses the next token");
    // Ties and near-ties may order differently: compare the logits of the ids both list.
    assert_eq!(ours[0].id, theirs[0], "{what}: the likeliest next token");
    let mut compared = 0;
    for (id, logit) in theirs.iter().zip(&logits) {
        if let Some(our) = ours.iter().find(|t| t.id == *id) {
            assert!((our.logit - logit).abs() <= 2e-4 * logit.abs().max(1.0), "{what}: logit of {id}: {} vs {logit}", our.logit);
            compared += 1;
        }
    }
    assert!(compared >= 8, "{what}: only {compared} of the ten next tokens in common");
}

/// The changed report's last `rows` query rows of every layer against the reference's.
fn assert_last_rows(what: &str, report: &AttentionReport, theirs: &Tensor) {
    let a = report.attention();
    let (n, rows) = (a.tokens(), theirs.dim(2).unwrap());
    let ours: Vec<f32> = (0..a.layers() * a.heads()).flat_map(|lh| a.as_flat()[lh * n * n + (n - rows) * n..(lh + 1) * n * n].to_vec()).collect();
    let (diff, at) = max_abs_diff(&ours, &theirs.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    assert!(diff <= EXACT, "{what}: maps differ by {diff:e} at layer {} head {}", at / (a.heads() * rows * n), at / (rows * n) % a.heads());
}

/// The three traces a fixture's cases read: the text, the patch source and the means text.
fn traces(model: &Model, json: &Value) -> (Trace, Trace, Trace) {
    let trace = |key: &str| model.trace_ids(&ids(&json[key])).unwrap();
    (trace("ids"), trace("source_ids"), trace("means_ids"))
}

fn check_cases(name: &str, model: &Model, fixture: &Fixture) {
    let json = &fixture.json;
    let (trace, source, means) = traces(model, json);
    assert_next_tokens(&format!("{name} unchanged"), &trace.report, &json["clean"]["next_token_top10"]);
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let key = case["key"].as_str().unwrap();
        let intervention = intervention_of(case, &source.text, &means.text);
        let report = model.change(&trace, &intervention, Some(&source), Some(&means)).unwrap_or_else(|e| panic!("{name} {key}: {e}"));
        let what = format!("{name} {key}");
        assert_next_tokens(&what, &report, &case["next_token_top10"]);
        assert_last_rows(&what, &report, &fixture.tensors[&format!("{key}.attn")]);
        // The report says what was changed, and what the unchanged run said.
        let record = report.intervention.as_ref().unwrap();
        assert_eq!(
            (&record.ablated, &record.patched_outputs, &record.patched_patterns),
            (&intervention.ablated, &intervention.patched_outputs, &intervention.patched_patterns)
        );
        assert_eq!(record.next_tokens_before, trace.report.next_tokens, "{what}");
        assert_bars_before_and_after(&what, record, &report);
    }
}

/// The bars' list holds every token of both runs' top lists, once, each with the numbers
/// those lists give it.
fn assert_bars_before_and_after(what: &str, record: &Intervention, report: &engine::AttentionReport) {
    let (before, after) = (record.next_tokens_before.as_deref().unwrap(), report.next_tokens.as_deref().unwrap());
    let changes = &record.next_token_changes;
    let mut ids: Vec<u32> = changes.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), changes.len(), "{what}: a token twice");
    assert_eq!(
        changes.iter().take(before.len()).map(|c| c.id).collect::<Vec<_>>(),
        before.iter().map(|t| t.id).collect::<Vec<_>>(),
        "{what}: the unchanged run's order first"
    );
    for (token, after_run) in before.iter().map(|t| (t, false)).chain(after.iter().map(|t| (t, true))) {
        let change = changes.iter().find(|c| c.id == token.id).unwrap_or_else(|| panic!("{what}: {:?} has no bar", token.text));
        let (logit, probability) = if after_run { (change.logit_after, change.probability_after) } else { (change.logit_before, change.probability_before) };
        assert_eq!((logit, probability, &change.text), (token.logit, token.probability, &token.text), "{what}");
    }
}

fn mary_versus_john(json: &Value) -> Answer {
    let token = |key: &str| AnswerToken { id: json["answers"][key].as_u64().unwrap() as u32, text: key.into() };
    Answer { token: token("mary"), versus: Some(token("john")) }
}

#[test]
fn ablated_and_patched_heads_give_transformers_logits_and_maps() {
    let model = shared_model("smollm2-135m");
    let fixture = fixture("smollm2-135m");
    // The texts tokenize as transformers tokenized them.
    let trace = model.trace(fixture.json["text"].as_str().unwrap(), None).unwrap();
    assert_eq!(trace.report.tokens().iter().map(|t| t.id).collect::<Vec<_>>(), ids(&fixture.json["ids"]));
    check_cases("smollm2-135m", &model, &fixture);
}

#[test]
fn every_family_changes_heads_as_transformers_does() {
    for family in ["gpt2", "gpt_neox", "qwen2", "gemma3", "stablelm"] {
        let model = Model::from_path(family, &root().join("tests/fixtures/tiny").join(family)).unwrap();
        let fixture = fixture(&format!("tiny-{family}"));
        check_cases(family, &model, &fixture);
        assert_attribution(family, &model, &fixture);
        assert_sweeps(family, &model, &fixture);
    }
}

/// Zero-ablation and patching sweeps of the fixture's text (the heads of a layer run side
/// by side as copies of the input) against transformers' one run per head.
fn assert_sweeps(name: &str, model: &Model, fixture: &Fixture) {
    let (trace, source, _) = traces(model, &fixture.json);
    let answer = mary_versus_john(&fixture.json);
    let (layers, heads) = (model.info().layers, model.info().heads);
    for (key, sweep) in [("zero", Sweep::Ablation(Ablation::Zero)), ("patch", Sweep::Patching(&source))] {
        let mut seen = 0;
        let effects = model
            .sweep(&trace, sweep, &answer, |done, total| {
                assert!(done > seen && total == layers * heads, "{name} {key}: progress {done}/{total} after {seen}");
                seen = done;
                true
            })
            .unwrap();
        assert_eq!(seen, layers * heads, "{name} {key}: the progress reaches every head");
        let theirs: Vec<f32> = serde_json::from_value::<Vec<Vec<f32>>>(fixture.json["sweeps"][key].clone()).unwrap().concat();
        let (diff, at) = max_abs_diff(&effects.per_head, &theirs);
        assert!(diff <= 5e-4, "{name} {key} sweep: head {}.{} differs by {diff:e}", at / heads, at % heads);
        // Something moved: the sweep found heads that matter.
        assert!(effects.ranked()[0].1.abs() > 0.1, "{name} {key}: no head matters?");
    }
}

#[test]
fn sweeps_give_transformers_effects_head_by_head() {
    let model = shared_model("smollm2-135m");
    let fixture = fixture("smollm2-135m");
    assert_sweeps("smollm2-135m", &model, &fixture);
    // A sweep stops when asked to.
    let trace = model.trace_ids(&ids(&fixture.json["ids"])).unwrap();
    let answer = mary_versus_john(&fixture.json);
    let stopped = model.sweep(&trace, Sweep::Ablation(Ablation::Zero), &answer, |done, _| done < 20);
    assert!(matches!(stopped, Err(EngineError::Cancelled)));
    // A layer at a time (as the page's worker runs it): layer 23's row of the reference.
    let layer = model.sweep_layer(&trace, &Sweep::Ablation(Ablation::Zero), &answer, 23).unwrap();
    let theirs: Vec<f32> = serde_json::from_value(fixture.json["sweeps"]["zero"][23].clone()).unwrap();
    assert!(max_abs_diff(&layer, &theirs).0 <= 5e-4);
    assert!(matches!(model.sweep_layer(&trace, &Sweep::Ablation(Ablation::Zero), &answer, 30), Err(EngineError::NoSuchLayer { layer: 30, layers: 30 })));
}

fn assert_attribution(name: &str, model: &Model, fixture: &Fixture) {
    let json = &fixture.json;
    let trace = model.trace_ids(&ids(&json["ids"])).unwrap();
    let both = mary_versus_john(json);
    let alone = Answer { versus: None, ..both.clone() };
    for (key, answer) in [("mary", alone), ("mary-john", both)] {
        let reference = &json["attribution"][key];
        let effects = model.attribute(&trace, &answer).unwrap();
        let theirs: Vec<f32> = serde_json::from_value::<Vec<Vec<f32>>>(reference["per_head"].clone()).unwrap().concat();
        let (diff, at) = max_abs_diff(&effects.per_head, &theirs);
        assert!(diff <= EXACT, "{name} {key}: head {at}'s attribution differs by {diff:e}");
        let others: HashMap<String, f32> = serde_json::from_value(reference["others"].clone()).unwrap();
        assert_eq!(others.len(), effects.others.len(), "{name} {key}: the other writers");
        for c in &effects.others {
            assert!((c.value - others[&c.name]).abs() <= EXACT, "{name} {key}: {}: {} vs {}", c.name, c.value, others[&c.name]);
        }
        // Every writer's term adds up to the logit (or difference) the model computed.
        let total: f64 = effects.per_head.iter().chain(effects.others.iter().map(|c| &c.value)).map(|&v| v as f64).sum();
        assert!((total - effects.baseline as f64).abs() <= 1e-3 * (effects.baseline.abs() as f64).max(1.0), "{name} {key}: {total} vs {}", effects.baseline);
        let logit = reference["logit"].as_f64().unwrap();
        assert!((effects.baseline as f64 - logit).abs() <= 2e-4 * logit.abs().max(1.0), "{name} {key}: logit {} vs {logit}", effects.baseline);
    }
}

#[test]
fn direct_attribution_splits_the_logit_as_the_decomposition_does() {
    let model = shared_model("smollm2-135m");
    assert_attribution("smollm2-135m", &model, &fixture("smollm2-135m"));
}

#[test]
fn interventions_that_cannot_be_made_say_why() {
    let model = shared_model("smollm2-135m");
    let trace = model.trace("When Mary and John went to the store", None).unwrap();
    let longer = model.trace("When Mary and John went to the store, John gave a drink to", None).unwrap();
    let patch = Intervention { patched_outputs: vec![HeadId { layer: 3, head: 1 }], source: Some(longer.text.clone()), ..Intervention::default() };
    let e = model.change(&trace, &patch, Some(&longer), None).unwrap_err().to_string();
    assert!(e.contains("same length in tokens"), "{e}");
    let e = model.sweep(&trace, Sweep::Patching(&longer), &model.likeliest_answer(&trace).unwrap(), |_, _| true).unwrap_err().to_string();
    assert!(e.contains("same length in tokens"), "{e}");
    let e = model.change(&trace, &Intervention::ablate(vec![HeadId { layer: 30, head: 0 }], Ablation::Zero), None, None).unwrap_err();
    assert!(matches!(e, EngineError::NoSuchLayer { layer: 30, layers: 30 }), "{e}");
    let e = model.change(&trace, &Intervention::ablate(vec![HeadId { layer: 2, head: 9 }], Ablation::Zero), None, None).unwrap_err();
    assert!(matches!(e, EngineError::NoSuchHead { head: 9, heads: 9 }), "{e}");
    let e = model
        .change(&trace, &Intervention { patched_outputs: vec![HeadId { layer: 1, head: 1 }], ..Intervention::default() }, None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("second text"), "{e}");
    let e = model.answer(" Maryanne-Louise", None).unwrap_err().to_string();
    assert!(e.contains("tokens") && e.contains("name one token"), "{e}");
    assert!(model.answer("", None).is_err());
    // Nothing changed: the unchanged run's maps and next tokens.
    let same = model.change(&trace, &Intervention::default(), None, None).unwrap();
    assert_eq!(same.attention(), trace.report.attention());
    assert_eq!(same.next_tokens, trace.report.next_tokens);
    // An encoder has no logits to sweep, but its heads can be ablated.
    let minilm = shared_model("all-minilm-l6-v2");
    let encoded = minilm.trace("The cat sat on the mat", None).unwrap();
    let answer = Answer { token: AnswerToken { id: 1, text: "x".into() }, versus: None };
    assert!(matches!(minilm.sweep(&encoded, Sweep::Ablation(Ablation::Zero), &answer, |_, _| true), Err(EngineError::NoLogits)));
    assert!(matches!(minilm.attribute(&encoded, &answer), Err(EngineError::NoLogits)));
    let ablated = minilm.change(&encoded, &Intervention::ablate(vec![HeadId { layer: 2, head: 5 }], Ablation::Zero), None, None).unwrap();
    let (before, after) = (encoded.report.attention(), ablated.attention());
    assert_eq!(before.head(2, 5), after.head(2, 5), "the ablated head's own pattern is not changed");
    assert_ne!(before.head(3, 0), after.head(3, 0), "the layers after it see the change");
}

/// The ids the tiny model `name`'s reference ran (tests/fixtures/tiny).
fn tiny_ids(name: &str) -> Vec<u32> {
    let reference = candle_core::safetensors::load(root().join("tests/fixtures/tiny").join(name).join("reference.safetensors"), &Device::Cpu).unwrap();
    reference["ids"].to_vec1::<i64>().unwrap().into_iter().map(|id| id as u32).collect()
}

/// A hand-made case whose answer is known without the intervention code: zero-ablating
/// every head of layer 0 leaves the layer's attention block writing nothing but its output
/// projection's bias, as a copy of the model whose output projection of that layer is all
/// zeros (its bias kept) does. A Llama (no bias there) under its causal mask, and a BERT
/// (a bias) unmasked.
#[test]
fn ablating_every_head_of_a_layer_equals_zeroing_its_output_projection() {
    for (family, projection, mask) in [
        ("llama", "model.layers.0.self_attn.o_proj.weight", engine::Mask::Causal),
        ("bert", "encoder.layer.0.attention.output.dense.weight", engine::Mask::None),
    ] {
        let folder = root().join("tests/fixtures/tiny").join(family);
        let model = Model::from_path(family, &folder).unwrap();
        let mut tensors = candle_core::safetensors::load(folder.join("model.safetensors"), &Device::Cpu).unwrap();
        let zeros = tensors[projection].zeros_like().unwrap();
        tensors.insert(projection.to_string(), zeros);
        let dir = std::env::temp_dir().join(format!("attnscope-silent-layer-{family}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(folder.join("config.json"), dir.join("config.json")).unwrap();
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
        let silent = Model::from_path(family, &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let silent = silent.unwrap();

        let ids = tiny_ids(family);
        let trace = model.trace_ids(&ids).unwrap();
        let every_head = (0..model.info().heads).map(|head| HeadId { layer: 0, head }).collect();
        let changed = model.change(&trace, &Intervention::ablate(every_head, Ablation::Zero), None, None).unwrap();
        let expected = silent.run_ids(&ids, mask).unwrap();
        let (diff, _) = max_abs_diff(changed.attention().as_flat(), expected.attention().as_flat());
        assert!(diff <= 1e-6, "{family}: maps differ by {diff:e}");
        assert_eq!(changed.next_tokens.is_some(), family == "llama", "{family}: a decoder guesses, an encoder does not");
        for (ours, theirs) in changed.next_tokens.iter().flatten().zip(expected.next_tokens.iter().flatten()) {
            assert_eq!(ours.id, theirs.id);
            assert!((ours.logit - theirs.logit).abs() <= 1e-5, "{family}: {} vs {}", ours.logit, theirs.logit);
        }
        // And the change is real: the layer after sees it.
        assert!(max_abs_diff(changed.attention().head(1, 0), trace.report.attention().head(1, 0)).0 > 1e-3, "{family}");
    }
}

/// Gemma 2 caps its logits: the terms split the logit before the cap.
#[test]
fn attribution_adds_up_to_the_logit_before_gemma_2s_cap() {
    let model = Model::from_path("gemma2", &root().join("tests/fixtures/tiny/gemma2")).unwrap();
    let trace = model.trace_ids(&tiny_ids("gemma2")).unwrap();
    let next = trace.report.next_tokens.clone().unwrap();
    let answer =
        Answer { token: AnswerToken { id: next[0].id, text: next[0].text.clone() }, versus: Some(AnswerToken { id: next[1].id, text: next[1].text.clone() }) };
    let effects = model.attribute(&trace, &answer).unwrap();
    let total: f64 = effects.per_head.iter().chain(effects.others.iter().map(|c| &c.value)).map(|&v| v as f64).sum();
    assert!((total - effects.baseline as f64).abs() <= 1e-4 * (effects.baseline.abs() as f64).max(1.0), "{total} vs {}", effects.baseline);
    // The cap changes the measure here, so the test tells the two apart.
    let capped = answer.measure(trace.logits().unwrap());
    assert!((effects.baseline - capped).abs() > 1e-3, "{} vs {capped}", effects.baseline);
}

/// An answer is data (the page sends one, and a tokenizer may add tokens past the model's
/// embedding rows): a token past the model's logits is refused with its reason by every run
/// that measures it, never a panic.
#[test]
fn an_answer_past_the_vocabulary_is_refused() {
    let model = shared_model("smollm2-135m");
    let trace = model.trace("The cat sat on the mat", None).unwrap();
    let vocab = model.info().vocab_size;
    let past = AnswerToken { id: vocab as u32 + 7, text: "?".into() };
    let refused =
        |result: Result<(), EngineError>| matches!(result, Err(EngineError::TokenOutOfRange { id, vocab: v }) if id == vocab as u32 + 7 && v == vocab);
    let alone = Answer { token: past.clone(), versus: None };
    let versus = Answer { token: AnswerToken { id: 1, text: "x".into() }, versus: Some(past) };
    for answer in [alone, versus] {
        assert!(refused(model.attribute(&trace, &answer).map(|_| ())), "attribute {answer:?}");
        assert!(refused(model.sweep_layer(&trace, &Sweep::Ablation(Ablation::Zero), &answer, 0).map(|_| ())), "sweep {answer:?}");
    }
}

/// Any model's run with heads changed: a text model's is its traced run changed, under its
/// own mask only; a sound or a picture given to it is refused.
#[test]
fn any_models_run_with_heads_changed_is_its_traced_run_changed() {
    use engine::any_model::Input;
    use engine::{AnyModel, Mask, RunOptions};
    let name = "all-minilm-l6-v2";
    let any = engine::load::files::open_path(name, &attnscope_tests::model_dir(name), engine::WeightChoice::Float32).unwrap();
    let AnyModel::OneSequence(model) = &any else { panic!("{name} is a text model") };
    let text = "The cat sat on the mat";
    let mean = Intervention::ablate(vec![HeadId { layer: 1, head: 2 }], Ablation::Mean);
    let run = |mask, intervention| any.run_input(Input::Text(text), mask, RunOptions::default(), intervention, |_, _, _| {});
    let changed = run(Mask::None, Some(&mean)).unwrap();
    let traced = model.change(&model.trace(text, None).unwrap(), &mean, None, None).unwrap();
    assert_eq!(changed.attention().as_flat(), traced.attention().as_flat(), "the traced run, changed");
    assert_ne!(changed.attention().as_flat(), run(Mask::None, None).unwrap().attention().as_flat(), "layers after head 1.2 attend otherwise");
    let refused = run(Mask::Causal, Some(&mean)).unwrap_err().to_string();
    assert!(refused.contains("the model's own mask (none)"), "{refused}");
    let sound = any.run_input(Input::Sound(&[0.0; 160]), Mask::None, RunOptions::default(), None, |_, _, _| {}).unwrap_err();
    assert!(matches!(sound, EngineError::NeedsText { given: "sound" }), "{sound}");
}
