//! Bad input gets a clear message or a sound report, never a panic.

use attnscope_tests::{assert_valid_maps, shared_model};
use engine::{EngineError, Mask};

const MODELS: [&str; 2] = ["smollm2-135m", "all-minilm-l6-v2"];

#[test]
fn empty_and_blank_text_are_refused_with_a_message() {
    for name in MODELS {
        let model = shared_model(name);
        for text in ["", " ", "\n\t  \r\n", "\u{3000}"] {
            let err = model.run_text(text, Mask::Causal, None).unwrap_err();
            assert!(matches!(err, EngineError::EmptyText), "{name} {text:?}: {err}");
            assert_eq!(err.to_string(), "the text is empty: type a sentence to see its attention");
        }
    }
}

#[test]
fn odd_unicode_runs_and_gives_sound_maps() {
    let texts = [
        "I 🙂 attention 👩‍👩‍👧 🇫🇷",                    // emoji, ZWJ sequences, flags
        "注意力就是你所需要的一切",                // CJK
        "الانتباه هو كل ما تحتاجه",                 // right-to-left
        "שלום עולם",                               // right-to-left
        "tab\there\u{0}nul\u{7}bell\u{1b}[31mred", // control characters
        "\u{301}",                                 // a lone combining mark
        "\u{200b}\u{feff}zero width",              // invisible characters
    ];
    for name in MODELS {
        let model = shared_model(name);
        for text in texts {
            for mask in [Mask::Causal, Mask::None] {
                let report = model.run_text(text, mask, None).unwrap_or_else(|e| panic!("{name} {text:?}: {e}"));
                assert!(!report.tokens().is_empty(), "{name} {text:?}");
                assert_valid_maps(&report);
                for token in report.tokens() {
                    if let Some([start, end]) = token.span {
                        assert!(start <= end && end <= text.len(), "{name} {text:?}: span {start}..{end}");
                    }
                }
            }
        }
    }
}

#[test]
fn long_text_is_cut_to_the_limit_and_says_so() {
    let text = "The cat sat on the mat. ".repeat(420); // 10,080 characters
    assert!(text.chars().count() >= 10_000);
    for (name, limit) in [("smollm2-135m", 64), ("all-minilm-l6-v2", 64)] {
        let model = shared_model(name);
        let report = model.run_text(&text, Mask::Causal, Some(limit)).unwrap();
        assert_eq!(report.tokens().len(), limit, "{name}");
        let cut = report.truncated.as_ref().expect("the report says the text was cut");
        assert_eq!(cut.limit, limit);
        assert!(cut.total_tokens > 2000, "{name}: {} tokens in all", cut.total_tokens);
        assert_valid_maps(&report);
    }
    // BERT keeps its closing [SEP] when cut.
    let report = shared_model("all-minilm-l6-v2").run_text(&text, Mask::None, Some(16)).unwrap();
    assert_eq!(report.tokens().first().unwrap().text, "[CLS]");
    assert_eq!(report.tokens().last().unwrap().text, "[SEP]");
}

#[test]
fn the_model_limit_applies_when_asked_for_more() {
    // MiniLM has 512 positions: asking for 100,000 tokens still runs 512.
    let text = "word ".repeat(2_000);
    let report = shared_model("all-minilm-l6-v2").run_text(&text, Mask::None, Some(100_000)).unwrap();
    assert_eq!(report.tokens().len(), 512);
    assert_eq!(report.truncated.unwrap().limit, 512);
}

#[test]
fn bad_token_ids_are_refused_with_a_message() {
    let model = shared_model("tiny-gpt2");
    let err = model.run_ids(&[1, 2, 1000], Mask::Causal).unwrap_err();
    assert_eq!(err.to_string(), "token id 1000 is out of range: this model's vocabulary has 1000 tokens (0..1000)");
    let err = model.run_ids(&[], Mask::Causal).unwrap_err();
    assert!(matches!(err, EngineError::NoTokens));
    let err = model.run_ids(&[5; 129], Mask::Causal).unwrap_err();
    assert_eq!(err.to_string(), "129 token ids are more than this model's 128 positions");
    let err = model.run_text("hello", Mask::Causal, None).unwrap_err();
    assert!(matches!(err, EngineError::NoTokenizer), "{err}");
}

#[test]
fn corrupt_and_unsupported_model_files_are_refused_with_a_message() {
    let gguf = std::fs::read(attnscope_tests::model_dir("smollm2-135m").join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "not a GGUF file"),
        ("random", (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(), "not a GGUF file"),
        ("header only", gguf[..64].to_vec(), "cannot read the model file"),
        ("cut in the middle", gguf[..gguf.len() / 2].to_vec(), "past the end of the file"),
    ];
    for (what, bytes, expected) in cases {
        let err = engine::Model::from_gguf("bad", &bytes).err().unwrap_or_else(|| panic!("{what}: loaded"));
        let message = err.to_string();
        assert!(message.contains(expected), "{what}: {message}");
        assert!(!message.contains('\n'), "{what}: one line, not {message}");
    }

    let config = br#"{"model_type": "mamba"}"#;
    let err = engine::Model::from_safetensors("bad", config, &[], None).err().unwrap();
    // The list is the registry's, every family named in it.
    let supported = engine::arch::registry::supported();
    assert!(err.to_string().contains(&format!("`mamba` is not supported; supported: {supported}")), "{err}");
    for family in ["llama", "qwen3", "gemma3", "phi3", "gpt2", "gpt_neox", "bert", "distilbert", "stablelm", "marian", "whisper", "dinov2"] {
        assert!(supported.contains(family), "{family} is not in {supported}");
    }
    let config = std::fs::read(attnscope_tests::tiny_gpt2_dir().join("config.json")).unwrap();
    let err = engine::Model::from_safetensors("bad", &config, b"not safetensors", None).err().unwrap();
    assert!(err.to_string().starts_with("cannot read the model file: model.safetensors"), "{err}");
    let err = engine::Model::from_safetensors("bad", b"{not json", &[], None).err().unwrap();
    assert!(err.to_string().starts_with("cannot read the model file: config.json"), "{err}");
}
