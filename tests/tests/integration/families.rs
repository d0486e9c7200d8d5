//! Every architecture family the engine loads, each as a tiny random model made by
//! transformers (scripts/tiny_models.py): its maps under its own mask (sliding windows
//! included), plain causal and none, and its next-token logits, equal transformers'
//! eager float32 run of the same weights.

use attnscope_tests::{max_abs_diff, root};
use candle_core::Device;
use engine::{Mask, Model};

/// Float32 against float32: the one bound every comparison with transformers holds (see its reasons).
use attnscope_tests::REORDERED as EXACT;

/// A tiny model's folder and its reference tensors.
fn tiny(name: &str) -> (Model, std::collections::HashMap<String, candle_core::Tensor>) {
    let folder = root().join("tests/fixtures/tiny").join(name);
    let model = Model::from_path(name, &folder).unwrap_or_else(|e| panic!("{name}: {e}"));
    let reference = candle_core::safetensors::load(folder.join("reference.safetensors"), &Device::Cpu).unwrap();
    (model, reference)
}

fn floats(reference: &std::collections::HashMap<String, candle_core::Tensor>, key: &str) -> Vec<f32> {
    reference[key].flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// The family's maps under its own mask, plain causal and none, and its logits, against transformers.
fn assert_family_matches(name: &str, architecture: &str) {
    let (model, reference) = tiny(name);
    assert_matches(name, &model, &reference, architecture, "causal");
}

/// The same for the family's GGUF (llama.cpp's conversion of the same weights);
/// `own`: the reference its own mask must equal.
fn assert_gguf_matches(name: &str, architecture: &str, own: &str) {
    let (_, reference) = tiny(name);
    let model = Model::from_gguf(name, &attnscope_tests::tiny_gguf(name)).unwrap_or_else(|e| panic!("{name} GGUF: {e}"));
    assert_matches(&format!("{name} (GGUF)"), &model, &reference, architecture, own);
}

fn assert_matches(name: &str, model: &Model, reference: &std::collections::HashMap<String, candle_core::Tensor>, architecture: &str, own: &str) {
    assert_eq!(model.info().architecture, architecture, "{name}");
    let ids: Vec<u32> = reference["ids"].to_vec1::<i64>().unwrap().into_iter().map(|id| id as u32).collect();
    for (mask, key) in [(Mask::Causal, own), (Mask::PlainCausal, "plain-causal"), (Mask::None, "none")] {
        let report = model.run_ids(&ids, mask).unwrap_or_else(|e| panic!("{name} {key}: {e}"));
        let maps = report.attention();
        assert_eq!(maps.shape().to_vec(), reference[key].dims().to_vec(), "{name} {key}: shape");
        let (diff, at) = max_abs_diff(maps.as_flat(), &floats(reference, key));
        assert!(diff <= EXACT, "{name} {key}: max |Δ| = {diff:e} at flat index {at}");
        // The logits are those of the model's own mask as transformers runs it.
        if mask == Mask::Causal && own == "causal" && reference.contains_key("logits") {
            // The next-token guess: its ten logits are transformers' logits of those ids.
            let logits = floats(reference, "logits");
            let next = report.next_tokens.as_ref().expect("a causal run guesses the next token");
            for guess in next {
                let theirs = logits[guess.id as usize];
                assert!((guess.logit - theirs).abs() <= EXACT * theirs.abs().max(1.0), "{name}: logit of {} {} vs {theirs}", guess.id, guess.logit);
            }
            let best = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
            assert_eq!(next[0].id as usize, best, "{name}: the likeliest next token");
        }
    }
}

#[test]
fn llama_2_matches_transformers() {
    assert_family_matches("llama", "llama");
}

#[test]
fn llama_3_with_its_rescaled_rotary_frequencies_matches_transformers() {
    assert_family_matches("llama3", "llama");
}

#[test]
fn mistral_with_its_sliding_window_matches_transformers() {
    assert_family_matches("mistral", "mistral");
    let (model, _) = tiny("mistral");
    assert_eq!(model.info().layer_windows, [Some(5), Some(5)]);
}

#[test]
fn qwen2_with_its_projection_biases_matches_transformers() {
    assert_family_matches("qwen2", "qwen2");
}

#[test]
fn qwen3_with_its_per_head_norms_matches_transformers() {
    assert_family_matches("qwen3", "qwen3");
}

#[test]
fn gemma_with_its_scaled_embeddings_and_shifted_norms_matches_transformers() {
    assert_family_matches("gemma", "gemma");
}

#[test]
fn gemma_2_with_soft_caps_sandwich_norms_and_alternating_windows_matches_transformers() {
    assert_family_matches("gemma2", "gemma2");
    let (model, _) = tiny("gemma2");
    assert_eq!(model.info().layer_windows, [Some(4), None]);
}

#[test]
fn gemma_2_with_its_own_query_scaling_matches_transformers() {
    assert_family_matches("gemma2_scaled", "gemma2");
}

#[test]
fn gemma_3_with_local_and_global_layers_matches_transformers() {
    assert_family_matches("gemma3", "gemma3");
    let (model, _) = tiny("gemma3");
    assert_eq!(model.info().layer_windows, [Some(4), Some(4), Some(4), Some(4), Some(4), None]);
}

#[test]
fn phi_3_with_fused_projections_and_partial_rotary_matches_transformers() {
    assert_family_matches("phi3", "phi3");
}

#[test]
fn gpt_neox_with_parallel_residual_and_partial_rotary_matches_transformers() {
    assert_family_matches("gpt_neox", "gpt_neox");
}

#[test]
fn gpt2_matches_transformers() {
    assert_family_matches("gpt2", "gpt2");
}

#[test]
fn bert_matches_transformers() {
    assert_family_matches("bert", "bert");
}

#[test]
fn roberta_with_its_offset_positions_matches_transformers() {
    assert_family_matches("roberta", "roberta");
}

#[test]
fn distilbert_under_bert_names_matches_transformers() {
    assert_family_matches("distilbert", "distilbert");
}

/// StableLM, the family added last (its own file, its row in the registry, these tests):
/// LayerNorms with biases, a partial rotary, biased q/k/v and a LayerNorm of its own on each
/// head's queries and keys; then side by side attention and feed-forward with a tied head.
#[test]
fn stablelm_with_per_head_norms_and_partial_rotary_matches_transformers() {
    assert_family_matches("stablelm", "stablelm");
    assert_family_matches("stablelm_parallel", "stablelm");
    let (model, _) = tiny("stablelm");
    assert_eq!((model.info().heads, model.info().kv_heads), (4, 2));
}

/// llama.cpp's own conversion of each tiny model to GGUF (scripts/tiny_gguf.py): the
/// same maps and logits from its names, its permuted Llama rows, its 1 + w Gemma norms,
/// its fused Phi-3 projections and its metadata.
#[test]
fn every_family_llama_cpp_converts_matches_transformers_from_its_gguf() {
    for (name, architecture) in [
        ("llama", "llama"),
        ("llama3", "llama"),
        ("qwen2", "qwen2"),
        ("qwen3", "qwen3"),
        ("gemma", "gemma"),
        ("gemma2", "gemma2"),
        ("gemma3", "gemma3"),
        ("phi3", "phi3"),
    ] {
        assert_gguf_matches(name, architecture, "causal");
    }
    // llama.cpp converts a Mistral as a Llama and keeps no sliding window: its GGUF's own
    // mask is the plain causal one.
    assert_gguf_matches("mistral", "llama", "plain-causal");
}

/// The families whose networks read Hugging Face's layout, from llama.cpp's GGUF of them:
/// GPT-2's transposed Conv1D weights, GPT-NeoX's regrouped q|k|v, and RoBERTa's and
/// DistilBERT's conversion as BERT (RoBERTa's position table cut by its offset; no token
/// types in DistilBERT's) all come back to transformers' maps.
#[test]
fn gpt2_gpt_neox_and_the_berts_match_transformers_from_their_gguf() {
    for (name, architecture) in [("gpt2", "gpt2"), ("gpt_neox", "gpt_neox"), ("bert", "bert"), ("roberta", "bert"), ("distilbert", "bert")] {
        assert_gguf_matches(name, architecture, "causal");
    }
}

/// The arithmetic view's steps (q·k, the model's own scale and cap, its mask and window,
/// softmax) give back the model's maps, for the families that scale, cap and slide.
#[test]
fn the_arithmetic_of_each_row_uses_the_models_own_scale_cap_and_window() {
    use engine::analysis::arithmetic::{steps, visible_keys, Recipe};
    for name in ["gemma2", "gemma2_scaled", "gemma3", "mistral", "qwen3"] {
        let (model, reference) = tiny(name);
        let ids: Vec<u32> = reference["ids"].to_vec1::<i64>().unwrap().into_iter().map(|id| id as u32).collect();
        for (mask, key) in [(Mask::Causal, "causal"), (Mask::PlainCausal, "plain-causal"), (Mask::None, "none")] {
            let expected = floats(&reference, key);
            for layer in 0..model.info().layers {
                let options = engine::RunOptions { scores_of_layer: Some(layer), ..Default::default() };
                let report = model.run_ids_with(&ids, mask, options).unwrap();
                let scores = report.sites[0].scores_of(layer).expect("the scores asked for");
                let (n, heads) = (ids.len(), model.info().heads);
                for (head, rows) in scores.dot.iter().enumerate() {
                    for (query, dot) in rows.iter().enumerate() {
                        let visible = visible_keys(query, n, mask, model.info().window_of(layer));
                        let row = steps(dot, &visible, scores.scoring, Recipe::default()).weights;
                        let start = ((layer * heads + head) * n + query) * n;
                        let (diff, at) = max_abs_diff(&row, &expected[start..start + n]);
                        assert!(diff <= EXACT, "{name} {key} layer {layer} head {head} query {query} key {at}: |Δ| = {diff:e}");
                    }
                }
            }
        }
    }
}

/// A checkpoint in shards (model.safetensors.index.json naming model-0000N-of-00002.safetensors)
/// loads as the same weights in one file do.
#[test]
fn a_sharded_checkpoint_loads_as_its_single_file_does() {
    let folder = root().join("tests/fixtures/tiny/qwen2");
    let tensors = candle_core::safetensors::load(folder.join("model.safetensors"), &Device::Cpu).unwrap();
    let sharded = std::env::temp_dir().join(format!("attnscope-shards-{}", std::process::id()));
    std::fs::create_dir_all(&sharded).unwrap();
    std::fs::copy(folder.join("config.json"), sharded.join("config.json")).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut shards = [std::collections::HashMap::new(), std::collections::HashMap::new()];
    let mut weight_map = serde_json::Map::new();
    for (i, name) in names.into_iter().enumerate() {
        shards[i % 2].insert(name.clone(), tensors[name].clone());
        weight_map.insert(name.clone(), format!("model-{:05}-of-00002.safetensors", i % 2 + 1).into());
    }
    for (i, shard) in shards.iter().enumerate() {
        candle_core::safetensors::save(shard, sharded.join(format!("model-{:05}-of-00002.safetensors", i + 1))).unwrap();
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(sharded.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let from_shards = Model::from_path("qwen2", &sharded);
    std::fs::remove_dir_all(&sharded).ok();
    let ids = [5, 17, 3, 40, 8];
    let ours = from_shards.unwrap().run_ids(&ids, Mask::Causal).unwrap();
    let whole = Model::from_path("qwen2", &folder).unwrap().run_ids(&ids, Mask::Causal).unwrap();
    assert_eq!(ours.attention().as_flat(), whole.attention().as_flat());
}

/// A Hugging Face folder may carry a tokenizer_config.json beside tokenizer.json. With
/// tokenizer.json there, transformers 5.23 tokenizes by it alone: the config's add_bos_token /
/// add_eos_token change nothing (scripts/tokenizer_config_reference.py), and so it is here.
#[test]
fn a_tokenizer_config_beside_tokenizer_json_tokenizes_as_transformers_does() {
    let cases: serde_json::Value = serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/tokenizer_config/cases.json")).unwrap()).unwrap();
    let source = attnscope_tests::model_dir("all-minilm-l6-v2");
    let folder = std::env::temp_dir().join(format!("attnscope-tokenizer-config-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(source.join(file), folder.join(file)).unwrap();
    }
    let list = cases["cases"].as_array().unwrap();
    assert!(list.len() >= 3);
    for case in list {
        std::fs::write(folder.join("tokenizer_config.json"), case["config"].to_string()).unwrap();
        let model = Model::from_path("minilm", &folder).unwrap();
        for (text, ids) in case["texts"].as_array().unwrap().iter().zip(case["ids"].as_array().unwrap()) {
            let expected: Vec<u32> = serde_json::from_value(ids.clone()).unwrap();
            let ours: Vec<u32> = model.tokenize(text.as_str().unwrap()).unwrap().iter().map(|t| t.id).collect();
            assert_eq!(ours, expected, "{} {text}", case["name"]);
        }
    }
    std::fs::remove_dir_all(&folder).ok();
}
