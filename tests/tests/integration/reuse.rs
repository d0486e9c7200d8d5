//! Reusing the beginning of the previous causal run (Llama and GPT-2) (what typing at the end of a text
//! does): the maps and the next-token guess are the whole run's, within float32's
//! reach, and equal Hugging Face's reference maps as the whole run does. A continued run
//! projects only its new rows, and gemm sums a product of a few rows in another order than
//! one of every row: the two compare within [`REORDERED`].

use attnscope_tests::reference::Reference;
use attnscope_tests::{max_abs_diff, model_dir, shared_model, REORDERED};
use engine::{Mask, Model, RunOptions};

const REUSE: RunOptions = RunOptions { max_tokens: None, scores_of_layer: None, value_norms: false, reuse_prefix: true };

/// A model of its own: the cache belongs to a model, and other tests share theirs.
fn own_smollm2() -> Model {
    Model::from_path("smollm2-135m", &model_dir("smollm2-135m")).unwrap()
}

#[test]
fn appending_reuses_the_beginning_and_matches_the_reference_and_the_whole_run() {
    let model = own_smollm2();
    let reference = Reference::load("smollm2-135m");
    let case = reference.cases.iter().find(|c| c.name.as_deref() == Some("cat-twice")).expect("the cat-twice case");
    let text = case.text.as_deref().unwrap();
    let half = &text[..text.find(". ").unwrap() + 1]; // "The cat sat on the mat."
    let first = model.run_text_with(half, Mask::Causal, REUSE).unwrap();
    assert_eq!(first.reused_tokens, 0, "nothing to reuse yet");

    let continued = model.run_text_with(text, Mask::Causal, REUSE).unwrap();
    assert_eq!(continued.reused_tokens, first.tokens().len(), "the whole first text is reused");
    let ids: Vec<u32> = continued.tokens().iter().map(|t| t.id).collect();
    assert_eq!(ids, case.ids);
    let (to_reference, _) = max_abs_diff(continued.attention().as_flat(), &reference.attention(case, Mask::Causal));
    assert!(to_reference <= 1e-4, "continued run vs the reference: max |Δ| = {to_reference:e}");
    let whole = shared_model("smollm2-135m").run_text(text, Mask::Causal, None).unwrap();
    let (to_whole, _) = max_abs_diff(continued.attention().as_flat(), whole.attention().as_flat());
    assert!(to_whole <= REORDERED, "continued run vs the whole run: max |Δ| = {to_whole:e}");
    let (a, b) = (continued.next_tokens.unwrap(), whole.next_tokens.unwrap());
    assert_eq!(a[0].id, b[0].id);
    assert!((a[0].logit - b[0].logit).abs() < 1e-3, "{} vs {}", a[0].logit, b[0].logit);
}

#[test]
fn an_edit_in_the_middle_reuses_only_what_comes_before_it() {
    let model = own_smollm2();
    let before = model.run_text_with("The cat sat on the mat", Mask::Causal, REUSE).unwrap();
    assert_eq!(before.tokens().len(), 6);
    let edited = model.run_text_with("The dog sat on the mat", Mask::Causal, REUSE).unwrap();
    assert_eq!(edited.reused_tokens, 1, "only \"The\" stays");
    let whole = shared_model("smollm2-135m").run_text("The dog sat on the mat", Mask::Causal, None).unwrap();
    assert!(max_abs_diff(edited.attention().as_flat(), whole.attention().as_flat()).0 <= REORDERED);
    // The same text again: all but the last position (its logits make the guess).
    let again = model.run_text_with("The dog sat on the mat", Mask::Causal, REUSE).unwrap();
    assert_eq!(again.reused_tokens, 5);
    assert!(max_abs_diff(again.attention().as_flat(), whole.attention().as_flat()).0 <= REORDERED);
    // Cut back: the beginning still serves.
    let shorter = model.run_text_with("The dog sat", Mask::Causal, REUSE).unwrap();
    assert_eq!(shorter.reused_tokens, 2);
    let whole = shared_model("smollm2-135m").run_text("The dog sat", Mask::Causal, None).unwrap();
    assert!(max_abs_diff(shorter.attention().as_flat(), whole.attention().as_flat()).0 <= REORDERED);
}

#[test]
fn unmasked_runs_and_runs_that_need_more_run_whole() {
    let model = own_smollm2();
    let text = "The cat sat on the mat";
    model.run_text_with(text, Mask::Causal, REUSE).unwrap();
    // Without the mask every earlier token sees the later ones: nothing can be reused.
    let unmasked = model.run_text_with(text, Mask::None, REUSE).unwrap();
    assert_eq!(unmasked.reused_tokens, 0);
    let with_norms = model.run_text_with(text, Mask::Causal, RunOptions { value_norms: true, ..REUSE }).unwrap();
    assert_eq!(with_norms.reused_tokens, 0);
    assert!(with_norms.value_norms.is_some());
    let with_scores = model.run_text_with(text, Mask::Causal, RunOptions { scores_of_layer: Some(3), ..REUSE }).unwrap();
    assert_eq!(with_scores.reused_tokens, 0);
    // BERT keeps no cache (an encoder's own mode is unmasked): it runs whole.
    let bert = shared_model("all-minilm-l6-v2");
    bert.run_ids_with(&[101, 1996, 102], Mask::Causal, REUSE).unwrap();
    assert_eq!(bert.run_ids_with(&[101, 1996, 102], Mask::Causal, REUSE).unwrap().reused_tokens, 0);
}

#[test]
fn gpt2_continues_from_its_cache_as_the_whole_run_and_the_reference_do() {
    let model = Model::from_path("tiny-gpt2", &attnscope_tests::tiny_gpt2_dir()).unwrap();
    let reference = Reference::load("tiny-gpt2");
    let case = reference.cases.iter().max_by_key(|c| c.ids.len()).unwrap();
    let half = &case.ids[..case.ids.len() / 2];
    model.run_ids_with(half, Mask::Causal, REUSE).unwrap();
    let continued = model.run_ids_with(&case.ids, Mask::Causal, REUSE).unwrap();
    assert_eq!(continued.reused_tokens, half.len());
    let (to_reference, _) = max_abs_diff(continued.attention().as_flat(), &reference.attention(case, Mask::Causal));
    assert!(to_reference <= 1e-4, "continued run vs the reference: max |Δ| = {to_reference:e}");
    let whole = shared_model("tiny-gpt2").run_ids(&case.ids, Mask::Causal).unwrap();
    assert!(max_abs_diff(continued.attention().as_flat(), whole.attention().as_flat()).0 <= REORDERED);
    let top = |r: &engine::AttentionReport| r.next_tokens.as_ref().unwrap().iter().take(5).map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(top(&continued), top(&whole));
}
