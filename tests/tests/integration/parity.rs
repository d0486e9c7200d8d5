//! The engine's numbers are the model's numbers: token ids, attention and the
//! next-token guess agree with Hugging Face transformers' reference maps.

use attnscope_tests::reference::{Case, Reference};
use attnscope_tests::{max_abs_diff, shared_model};
use engine::{AttentionReport, Mask};

/// Float32 against float32: the one bound every comparison with transformers holds (see its reasons).
use attnscope_tests::REORDERED as EXACT;

fn run(model_name: &str, case: &Case, mask: Mask) -> AttentionReport {
    let model = shared_model(model_name);
    match &case.text {
        Some(text) => model.run_text(text, mask, None),
        None => model.run_ids(&case.ids, mask),
    }
    .unwrap_or_else(|e| panic!("{model_name} {}: {e}", case.key))
}

/// Every case under both masks: same ids, same shape, every weight within `bound`.
fn assert_parity(model_name: &str, bound: f32) {
    let reference = Reference::load(model_name);
    for case in &reference.cases {
        for mask in [Mask::Causal, Mask::None] {
            let report = run(model_name, case, mask);
            let ids: Vec<u32> = report.tokens().iter().map(|t| t.id).collect();
            assert_eq!(ids, case.ids, "{model_name} {} ({:?}): token ids", case.key, case.name);
            let a = &report.attention();
            assert_eq!(vec![a.layers(), a.heads(), a.tokens(), a.tokens()], reference.shape(case, mask), "{model_name} {}: shape", case.key);
            let (diff, at) = max_abs_diff(a.as_flat(), &reference.attention(case, mask));
            let n = a.tokens();
            let (layer, head) = (at / (a.heads() * n * n), at / (n * n) % a.heads());
            assert!(diff <= bound, "{model_name} {} {mask:?}: max |Δ| = {diff:e} at layer {layer} head {head} query {} key {}", case.key, at / n % n, at % n);
        }
    }
}

#[test]
fn minilm_matches_reference_under_both_masks() {
    assert_parity("all-minilm-l6-v2", EXACT);
}

#[test]
fn tiny_gpt2_matches_reference_under_both_masks() {
    assert_parity("tiny-gpt2", EXACT);
}

#[test]
fn smollm2_float32_path_matches_reference_under_both_masks() {
    assert_parity("smollm2-135m", EXACT);
}

#[test]
fn smollm2_next_token_matches_reference() {
    let reference = Reference::load("smollm2-135m");
    for case in &reference.cases {
        let expected = case.next_token_top10.as_ref().expect("the causal LM's cases list next tokens");
        let report = run("smollm2-135m", case, Mask::Causal);
        let next = report.next_tokens.expect("a causal model under the causal mask guesses the next token");
        assert_eq!(next.len(), 10);
        assert_eq!(next[0].id, expected.ids[0], "{}: top-1", case.key);
        // The logits themselves agree too (they pass through all 30 layers).
        for (ours, (&id, &logit)) in next.iter().zip(expected.ids.iter().zip(&expected.logits)).take(3) {
            assert_eq!(ours.id, id, "{}: ranking", case.key);
            assert!((ours.logit - logit).abs() < 1e-2, "{}: logit of {id}: {} vs {logit}", case.key, ours.logit);
        }
        let total: f32 = next.iter().map(|t| t.probability).sum();
        assert!(total > 0.0 && total <= 1.0 + 1e-5, "probabilities sum to {total}");
        assert!(next.windows(2).all(|w| w[0].probability >= w[1].probability));
    }
}

#[test]
fn tiny_gpt2_next_tokens_match_reference_top5() {
    let reference = Reference::load("tiny-gpt2");
    for case in &reference.cases {
        let report = run("tiny-gpt2", case, Mask::Causal);
        let next: Vec<u32> = report.next_tokens.unwrap().iter().take(5).map(|t| t.id).collect();
        assert_eq!(&next, case.logits_last_top5.as_ref().unwrap(), "{}", case.key);
    }
}

#[test]
fn unmasked_runs_and_encoders_make_no_next_token_guess() {
    let reference = Reference::load("smollm2-135m");
    assert!(run("smollm2-135m", &reference.cases[0], Mask::None).next_tokens.is_none());
    let reference = Reference::load("all-minilm-l6-v2");
    assert!(run("all-minilm-l6-v2", &reference.cases[0], Mask::Causal).next_tokens.is_none());
}

#[test]
fn smollm2_quantized_path_matches_reference_too() {
    // Q4_1 matrices kept as stored and de-quantized as they are used: the reference's numbers.
    let path = attnscope_tests::model_dir("smollm2-135m");
    let model = engine::Model::from_path_on("smollm2-135m", &path, engine::WeightChoice::Quantized).unwrap();
    assert_eq!(model.info().weights, engine::WeightPath::Quantized);
    let reference = Reference::load("smollm2-135m");
    for case in &reference.cases {
        let report = match &case.text {
            Some(text) => model.run_text(text, Mask::Causal, None),
            None => model.run_ids(&case.ids, Mask::Causal),
        }
        .unwrap();
        let (diff, _) = max_abs_diff(report.attention().as_flat(), &reference.attention(case, Mask::Causal));
        assert!(diff <= EXACT, "{}: {diff:e}", case.key);
    }
}
