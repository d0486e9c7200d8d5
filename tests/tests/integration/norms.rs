//! Value-weighted attention (Kobayashi et al.): the engine's value norms ‖f_h(x_j)‖
//! against an independent float64 NumPy forward pass (scripts/golden_value_norms.py,
//! whose own maps match Hugging Face's reference maps), for every layer, head and
//! token of all three architectures, under both masks.

use attnscope_tests::{root, shared_model};
use engine::analysis::norms::value_weighted;
use engine::{Mask, RunOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<GoldenCase>,
}

#[derive(Deserialize)]
struct GoldenCase {
    key: String,
    ids: Vec<u32>,
    mask: Mask,
    /// [layer][head][token]
    norms: Vec<Vec<Vec<f32>>>,
}

/// Relative to the norm's size (float32 against float64, through up to 30 layers).
const RELATIVE: f32 = 1e-4;

fn assert_norms_match_golden(model_name: &str) {
    let path = root().join("tests/fixtures/value_norms").join(format!("{model_name}.json"));
    let golden: Golden = serde_json::from_slice(&std::fs::read(&path).expect("the golden value norms")).unwrap();
    let model = shared_model(model_name);
    let mut worst = 0f32;
    for case in &golden.cases {
        let options = RunOptions { value_norms: true, ..RunOptions::default() };
        let report = model.run_ids_with(&case.ids, case.mask, options).unwrap();
        let ours = report.value_norms.as_ref().expect("value norms were asked for");
        assert_eq!(ours.norms.len(), case.norms.len(), "{model_name} {}: layers", case.key);
        for (layer, (ours, theirs)) in ours.norms.iter().zip(&case.norms).enumerate() {
            assert_eq!(ours.len(), theirs.len(), "{model_name} {}: heads", case.key);
            for (head, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
                assert_eq!(ours.len(), case.ids.len());
                for (token, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
                    let error = (a - b).abs() / b.abs().max(1.0);
                    worst = worst.max(error);
                    assert!(error <= RELATIVE, "{model_name} {} {:?}: layer {layer} head {head} token {token}: {a} ≠ {b}", case.key, case.mask);
                }
            }
        }
    }
    eprintln!("{model_name}: value norms within {worst:e} (relative) of the NumPy forward pass");
}

#[test]
fn tiny_gpt2_value_norms_match_an_independent_forward_pass() {
    assert_norms_match_golden("tiny-gpt2");
}

#[test]
fn minilm_value_norms_match_an_independent_forward_pass() {
    assert_norms_match_golden("all-minilm-l6-v2");
}

#[test]
fn smollm2_value_norms_match_an_independent_forward_pass() {
    assert_norms_match_golden("smollm2-135m");
}

#[test]
fn value_norms_cost_nothing_unless_asked_and_change_no_weight() {
    let model = shared_model("smollm2-135m");
    let text = "The cat sat on the mat";
    let plain = model.run_text(text, Mask::Causal, None).unwrap();
    assert!(plain.value_norms.is_none());
    let options = RunOptions { value_norms: true, ..RunOptions::default() };
    let weighted = model.run_text_with(text, Mask::Causal, options).unwrap();
    assert_eq!(plain.attention(), weighted.attention());
    // α_ij ‖f(x_j)‖ by hand for one cell of one head.
    let norms = weighted.value_norms.as_ref().unwrap();
    let map = value_weighted(weighted.attention(), norms, 3, 5);
    let n = weighted.tokens().len();
    assert_eq!(map.len(), n * n);
    let expected = weighted.attention().weight(3, 5, 4, 2) * norms.norms[3][5][2];
    assert_eq!(map[4 * n + 2], expected);
    // Causal: nothing from the future, whatever the norms.
    assert!((0..n).all(|q| (q + 1..n).all(|k| map[q * n + k] == 0.0)));
}
