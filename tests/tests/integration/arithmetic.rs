//! The raw scores the engine exposes are the real ones: stepping them through
//! scale, mask and softmax gives back the model's own attention rows, and those
//! match Hugging Face's reference maps.

use attnscope_tests::reference::Reference;
use attnscope_tests::shared_model;
use engine::analysis::arithmetic::{steps, visible_keys, Recipe};
use engine::{Mask, RunOptions};

#[test]
fn stepping_the_raw_scores_gives_the_reference_rows() {
    for (model_name, layer) in [("smollm2-135m", 7), ("all-minilm-l6-v2", 2), ("tiny-gpt2", 1)] {
        let reference = Reference::load(model_name);
        let case = &reference.cases[1];
        let model = shared_model(model_name);
        for mask in [Mask::Causal, Mask::None] {
            let options = RunOptions { scores_of_layer: Some(layer), ..RunOptions::default() };
            let report = match &case.text {
                Some(text) => model.run_text_with(text, mask, options),
                None => model.run_ids_with(&case.ids, mask, options),
            }
            .unwrap();
            let scores = report.sites[0].scores.first().expect("the scores asked for");
            assert_eq!((scores.layer, scores.dot.len()), (layer, report.model.heads));
            let n = report.tokens().len();
            let expected = reference.attention(case, mask);
            for (head, rows) in scores.dot.iter().enumerate() {
                for (query, dot) in rows.iter().enumerate() {
                    let visible = visible_keys(query, n, mask, report.model.window_of(scores.layer));
                    let row = steps(dot, &visible, scores.scoring, Recipe::default()).weights;
                    let start = ((layer * report.model.heads + head) * n + query) * n;
                    for (key, (ours, theirs)) in row.iter().zip(&expected[start..start + n]).enumerate() {
                        assert!((ours - theirs).abs() < 1e-4, "{model_name} {mask:?} layer {layer} head {head} ({query}, {key}): {ours} vs {theirs}");
                    }
                }
            }
        }
    }
}

#[test]
fn scores_of_a_layer_the_model_lacks_are_refused() {
    let options = RunOptions { scores_of_layer: Some(6), ..RunOptions::default() };
    let err = shared_model("all-minilm-l6-v2").run_text_with("hi", Mask::None, options).unwrap_err();
    assert_eq!(err.to_string(), "layer 6 does not exist: this model has 6 layers (0..6)");
}
