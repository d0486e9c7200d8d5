//! Head scores computed from the engine's own run rank the heads as the same
//! scores computed from Hugging Face's reference maps do.

use attnscope_tests::reference::Reference;
use attnscope_tests::shared_model;
use engine::analysis::heads::{induction, previous_token, Exclusions};
use engine::Mask;

/// Head indices (layer * heads + head) sorted by score, highest first.
fn ranking(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

#[test]
fn induction_and_previous_token_rankings_match_the_reference_on_the_repeated_random_probe() {
    let reference = Reference::load("smollm2-135m");
    let case = reference.cases.iter().find(|c| c.name.as_deref() == Some("repeated-random")).unwrap();
    let report = shared_model("smollm2-135m").run_ids(&case.ids, Mask::Causal).unwrap();
    let theirs = reference.attention(case, Mask::Causal);
    let n = case.ids.len();
    let heads = report.model.layers * report.model.heads;
    let exclusions = Exclusions { exclude_bos: true, exclude_current_token: false };
    type Score = fn(&[f32], &[u32], usize, Exclusions) -> f32;
    let scores: [(&str, Score); 2] = [("induction", |map, ids, _, ex| induction(map, ids, ex)), ("previous-token", |map, _, n, ex| previous_token(map, n, ex))];
    for (name, score) in scores {
        let ours: Vec<f32> = (0..heads).map(|h| score(report.attention().head(h / 9, h % 9), &case.ids, n, exclusions)).collect();
        let golden: Vec<f32> = (0..heads).map(|h| score(&theirs[h * n * n..(h + 1) * n * n], &case.ids, n, exclusions)).collect();
        let worst = ours.iter().zip(&golden).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-4, "{name}: scores differ by up to {worst}");
        assert_eq!(ranking(&ours)[..10], ranking(&golden)[..10], "{name}: the top ten heads");
        // A real model has real induction heads on this probe: the best is far from chance.
        assert!(ours[ranking(&ours)[0]] > 0.3, "{name}: the top head scores {}", ours[ranking(&ours)[0]]);
    }
}

/// Words from the real tokenizers' pieces: byte-level BPE (SmolLM2), WordPiece (MiniLM) and
/// SentencePiece (Gemma 3) cut "unbelievably" and "naïveté" differently, and all give back the
/// text's own words; pooled by words, every row of a real map still sums to 1.
#[test]
fn every_tokenizer_kind_reads_as_the_texts_words() {
    use engine::analysis::reading::{pooled, words};
    let text = "The unbelievably naïveté cat sat, on the mat.";
    let expected = ["The", "unbelievably", "naïveté", "cat", "sat,", "on", "the", "mat."];
    for model_name in ["smollm2-135m", "all-minilm-l6-v2", "gemma3-270m"] {
        let model = attnscope_tests::shared_model(model_name);
        let report = model.run_text(text, model.native_mask(), None).unwrap();
        let grouped = words(report.tokens(), text);
        let from_text: Vec<&str> = grouped.iter().filter(|w| report.tokens()[w.tokens.start].span.is_some()).map(|w| w.text.as_str()).collect();
        // MiniLM lower-cases, but the words are the text's.
        assert_eq!(from_text, expected, "{model_name}");
        assert!(grouped.len() < report.tokens().len(), "{model_name}: some word has several pieces");
        let n = report.tokens().len();
        let map = report.attention().head(0, 0);
        let by_words = pooled(map, n, &grouped, &grouped);
        for row in by_words.chunks(grouped.len()) {
            let total: f32 = row.iter().sum();
            assert!((total - 1.0).abs() < 1e-4, "{model_name}: a pooled row sums to {total}");
        }
    }
}
