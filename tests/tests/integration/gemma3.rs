//! Gemma 3 270M, built in: its tokenizer (built from the GGUF's metadata) and its maps agree
//! with transformers reading the same GGUF (scripts/gemma3_reference.py), under its own mask
//! (512-token windows on five of every six layers), plain causal and none, past the window too.

use attnscope_tests::reference::Reference;
use attnscope_tests::{max_abs_diff, shared_model};
use engine::{Mask, RunOptions};

const MODEL: &str = "gemma3-270m";
/// Float32 against float32: the one bound every comparison with transformers holds (see its reasons).
use attnscope_tests::REORDERED as EXACT;

fn reference_json() -> serde_json::Value {
    let path = attnscope_tests::root().join("tests/fixtures/reference/gemma3-270m.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn tokenizer_from_gguf_metadata_gives_transformers_ids() {
    let model = shared_model(MODEL);
    let cases = reference_json()["tokenizer_cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let ours: Vec<u32> = model.tokenize(text).unwrap().iter().map(|t| t.id).collect();
        assert_eq!(ours, expected, "{text:?}");
    }
}

#[test]
fn maps_match_transformers_under_every_mask() {
    let model = shared_model(MODEL);
    let reference = Reference::load(MODEL);
    let options = RunOptions { max_tokens: Some(1024), ..RunOptions::default() };
    let mut long_cases = 0;
    for case in &reference.cases {
        let text = case.text.as_deref().unwrap();
        for mask in [Mask::Causal, Mask::PlainCausal, Mask::None] {
            if case.rows_from.is_some() && mask == Mask::None {
                continue; // the long case keeps the two causal masks only
            }
            let report = model.run_text_with(text, mask, options).unwrap();
            let ids: Vec<u32> = report.tokens().iter().map(|t| t.id).collect();
            assert_eq!(ids, case.ids, "{}: token ids", case.key);
            let a = report.attention();
            let (n, from) = (a.tokens(), case.rows_from.unwrap_or(0));
            // Our maps' rows from `from` on, [layer, head, query ≥ from, key].
            let ours: Vec<f32> = (0..a.layers() * a.heads()).flat_map(|lh| a.as_flat()[lh * n * n + from * n..(lh + 1) * n * n].to_vec()).collect();
            let theirs = reference.attention(case, mask);
            assert_eq!(ours.len(), theirs.len(), "{} {mask:?}: shape", case.key);
            let (diff, at) = max_abs_diff(&ours, &theirs);
            let rows = n - from;
            assert!(
                diff <= EXACT,
                "{} {mask:?}: max |Δ| = {diff:e} at layer {} head {} query {} key {}",
                case.key,
                at / (a.heads() * rows * n),
                at / (rows * n) % a.heads(),
                from + at / n % rows,
                at % n
            );
        }
        long_cases += usize::from(case.rows_from.is_some());
    }
    assert_eq!(long_cases, 1, "one case runs past the 512-token window");
}

#[test]
fn window_hides_the_oldest_keys_on_local_layers_only() {
    let model = shared_model(MODEL);
    let info = model.info();
    let windows: Vec<Option<usize>> = (0..info.layers).map(|l| info.window_of(l)).collect();
    // 5 local : 1 global, the global layers every sixth.
    let expected: Vec<Option<usize>> = (0..18).map(|l| (l % 6 != 5).then_some(512)).collect();
    assert_eq!(windows, expected);
    let reference = Reference::load(MODEL);
    let long = reference.cases.iter().find(|c| c.rows_from.is_some()).unwrap();
    let report = model.run_text_with(long.text.as_deref().unwrap(), Mask::Causal, RunOptions { max_tokens: Some(1024), ..RunOptions::default() }).unwrap();
    let a = report.attention();
    let q = a.tokens() - 1;
    for (layer, window) in windows.iter().enumerate().take(a.layers()) {
        let row = &a.head(layer, 0)[q * a.tokens()..];
        let hidden: f32 = row[..=q - 512].iter().sum();
        if window.is_some() {
            assert_eq!(hidden, 0.0, "layer {layer}: keys older than the window get no weight");
        } else {
            assert!(hidden > 0.0, "global layer {layer} sees every key");
        }
    }
}

#[test]
fn next_token_matches_transformers() {
    let model = shared_model(MODEL);
    let reference = Reference::load(MODEL);
    for case in reference.cases.iter().filter(|c| c.rows_from.is_none()) {
        let expected = case.next_token_top10.as_ref().unwrap();
        let report = model.run_text(case.text.as_deref().unwrap(), Mask::Causal, None).unwrap();
        let next = report.next_tokens.unwrap();
        for (ours, (&id, &logit)) in next.iter().zip(expected.ids.iter().zip(&expected.logits)).take(3) {
            assert_eq!(ours.id, id, "{}: ranking", case.key);
            assert!((ours.logit - logit).abs() < 1e-2, "{}: logit of {id}: {} vs {logit}", case.key, ours.logit);
        }
    }
}

/// The quantized path keeps the file's matrices as stored and de-quantizes each as it is
/// used: the same weights as the float32 path, so the same maps to float rounding (the
/// issue allows 2e-2; candle's int8 kernels, which quantize activations too, missed that).
#[test]
fn quantized_path_gives_the_float32_maps() {
    let path = attnscope_tests::model_dir(MODEL).join("gemma-3-270m-q4_k_m.gguf");
    let quantized = engine::Model::from_path_on(MODEL, &path, engine::WeightChoice::Quantized).unwrap();
    assert_eq!(quantized.info().weights, engine::WeightPath::Quantized);
    let exact = shared_model(MODEL);
    assert_eq!(exact.info().weights, engine::WeightPath::Float32);
    let reference = Reference::load(MODEL);
    for case in reference.cases.iter().filter(|c| c.rows_from.is_none()) {
        let text = case.text.as_deref().unwrap();
        for mask in [Mask::Causal, Mask::None] {
            let a = exact.run_text(text, mask, None).unwrap();
            let b = quantized.run_text(text, mask, None).unwrap();
            let (diff, _) = max_abs_diff(a.attention().as_flat(), b.attention().as_flat());
            assert!(diff <= QUANTIZED_BOUND, "{} {mask:?}: quantized path differs by {diff:e}", case.key);
            // And so against transformers too.
            if mask == Mask::Causal {
                let (diff, _) = max_abs_diff(b.attention().as_flat(), &reference.attention(case, mask));
                assert!(diff <= EXACT, "{}: quantized path against transformers: {diff:e}", case.key);
                assert_eq!(a.next_tokens.unwrap()[0].id, b.next_tokens.unwrap()[0].id);
            }
        }
    }
}

/// The quantized path's weights are the float32 path's very numbers, laid out otherwise (the
/// float32 path keeps them column-major), so gemm may sum their products in another order:
/// the bound between any two orders.
const QUANTIZED_BOUND: f32 = attnscope_tests::REORDERED;
