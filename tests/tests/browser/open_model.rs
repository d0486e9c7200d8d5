//! A person's own model: files given to "Open a model…" load in the worker (read where
//! they are, never uploaded), join the picker and show the engine's numbers; files that
//! do not make a model, or a model attnscope does not run, are named in the page.

use std::path::{Path, PathBuf};

use engine::Mask;

use super::*;

/// Gives `files` to the page's file input, as a person picking them would.
fn open_files(browser: &Browser, files: &[PathBuf]) {
    let input = browser.by_test_id("open-model-input");
    // chromedriver hands files only to an input it can see.
    browser.execute("arguments[0].classList.remove('hidden');", vec![input.as_arg()]);
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    browser.type_text(&input, &paths.join("\n"));
}

fn status_text(browser: &Browser) -> String {
    browser.text(&browser.by_test_id("status"))
}

/// Waits until the picker has chosen `id` and its label says `label`.
fn wait_for_model(browser: &Browser, id: &str, label: &str) {
    browser.wait_for(&format!("{id} chosen and loaded"), LOAD, || {
        let select = browser.by_test_id("model-select");
        let chosen = browser.property(&select, "value").as_deref() == Some(id);
        let labels: Vec<String> = browser.find_all("[data-testid=model-select] option").iter().map(|o| browser.text(o)).collect();
        (chosen && labels.iter().any(|l| l.contains(label))).then_some(())
    });
}

#[test]
fn a_hugging_face_folder_and_a_gguf_given_to_open_a_model_show_the_engines_numbers() {
    let browser = open_page();
    wait_for_run(&browser);
    // MiniLM's folder as a person has it: config.json, model.safetensors, tokenizer.json.
    let minilm = model_dir("all-minilm-l6-v2");
    open_files(&browser, &["config.json", "model.safetensors", "tokenizer.json"].map(|f| minilm.join(f)));
    wait_for_model(&browser, "file:model", "model: bert, 6 layers × 12 heads (your file, 91 MB)");
    wait_for_run(&browser);
    choose(&browser, "mask-select", "none");
    choose(&browser, "layer-select", "4");
    choose(&browser, "head-select", "7");
    browser.click(&browser.by_test_id("table-toggle"));
    assert_table_matches_engine(&browser, "all-minilm-l6-v2", "The cat sat on the mat", Mask::None, 4, 7);

    // SmolLM2's GGUF, as a file of the person's: read a piece at a time, the status line
    // counting the megabytes read (every status it shows is kept, to look at after).
    browser.execute(
        "const el = arguments[0]; window.statuses = [];
         new MutationObserver(() => window.statuses.push(el.textContent)).observe(el, {subtree: true, childList: true, characterData: true});",
        vec![browser.by_test_id("status").as_arg()],
    );
    let gguf = model_dir("smollm2-135m").join("SmolLM2-135M-Instruct.Q4_1.gguf");
    open_files(&browser, &[gguf]);
    wait_for_model(&browser, "file:SmolLM2-135M-Instruct.Q4_1", "llama, 30 layers × 9 heads (your file, 98 MB)");
    wait_for_run(&browser);
    let statuses = browser.execute("return window.statuses;", vec![]);
    let reading: Vec<&str> =
        statuses.as_array().unwrap().iter().filter_map(|s| s.as_str()).filter(|s| s.contains("from your files:") && s.contains(" MB of ")).collect();
    assert!(reading.len() >= 2, "the status line counts what is read: {statuses}");
    choose(&browser, "mask-select", "causal");
    choose(&browser, "layer-select", "17");
    choose(&browser, "head-select", "3");
    assert_table_matches_engine(&browser, "smollm2-135m", "The cat sat on the mat", Mask::Causal, 17, 3);
    // The built-in models are still there to go back to.
    choose(&browser, "model-select", "smollm2-135m");
    wait_for_run(&browser);
}

#[test]
fn files_that_make_no_model_or_an_unsupported_one_are_named_in_the_page() {
    let browser = open_page();
    wait_for_run(&browser);
    let minilm = model_dir("all-minilm-l6-v2");
    // No tokenizer.json: the page cannot read text.
    open_files(&browser, &["config.json", "model.safetensors"].map(|f| minilm.join(f)));
    browser.wait_for("the missing tokenizer named", LOAD, || status_text(&browser).contains("no tokenizer.json").then_some(()));

    // A model of an architecture attnscope does not run, with all its companions.
    let folder = std::env::temp_dir().join(format!("attnscope-mamba-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("config.json"), br#"{"model_type": "mamba"}"#).unwrap();
    let copy = |name: &str, from: &Path| std::fs::copy(from.join(name), folder.join(name)).unwrap();
    copy("model.safetensors", &root().join("tests/fixtures/tiny/llama"));
    copy("tokenizer.json", &minilm);
    open_files(&browser, &["config.json", "model.safetensors", "tokenizer.json"].map(|f| folder.join(f)));
    browser.wait_for("the unsupported architecture named", LOAD, || status_text(&browser).contains("`mamba` is not supported; supported: llama").then_some(()));
    std::fs::remove_dir_all(&folder).ok();

    // A file that is no model at all.
    let notes = std::env::temp_dir().join(format!("attnscope-notes-{}.txt", std::process::id()));
    std::fs::write(&notes, "not a model").unwrap();
    open_files(&browser, &[notes.clone()]);
    browser.wait_for("what opens, said", LOAD, || status_text(&browser).contains("attnscope opens a .gguf file").then_some(()));
    std::fs::remove_file(&notes).ok();
}

/// A model with a sliding window (the tiny Mistral, a window of 5) opened in the page: the
/// mask picker offers its own mask, plain causal and none, and each shows the engine's numbers.
#[test]
fn a_windowed_model_offers_its_own_mask_and_plain_causal() {
    // The tiny model, with a word-level tokenizer of its 96 ids ("w0" … "w95").
    let folder = std::env::temp_dir().join(format!("attnscope-windowed-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let tiny = root().join("tests/fixtures/tiny/mistral");
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(tiny.join(file), folder.join(file)).unwrap();
    }
    let vocab: serde_json::Map<String, serde_json::Value> = (0..96).map(|i| (format!("w{i}"), i.into())).collect();
    let tokenizer = serde_json::json!({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}});
    std::fs::write(folder.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let text = "w5 w17 w3 w40 w8 w22 w9 w11 w30 w2 w60 w7";
    let model = engine::Model::from_path("model", &folder).unwrap();

    let browser = open_page();
    wait_for_run(&browser);
    open_files(&browser, &["config.json", "model.safetensors", "tokenizer.json"].map(|f| folder.join(f)));
    wait_for_model(&browser, "file:model", "model: mistral, 2 layers × 4 heads (your file, ");
    let masks: Vec<String> = browser.find_all("[data-testid=mask-select] option").iter().filter_map(|o| browser.attribute(o, "value")).collect();
    assert_eq!(masks, ["causal", "plain-causal", "none"]);
    type_text(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    choose(&browser, "layer-select", "1");
    choose(&browser, "head-select", "2");
    browser.click(&browser.by_test_id("table-toggle"));
    for (value, mask) in [("causal", Mask::Causal), ("plain-causal", Mask::PlainCausal), ("none", Mask::None)] {
        choose(&browser, "mask-select", value);
        let expected = model.run_text(text, mask, None).unwrap();
        let n = expected.tokens().len();
        let mut last = Vec::new();
        let shown = browser.wait_for_or(std::time::Duration::from_secs(60), || {
            last = table_numbers(&browser);
            let matches = last.len() == n
                && last
                    .iter()
                    .enumerate()
                    .all(|(q, row)| row.len() == n && row.iter().enumerate().all(|(k, w)| (w - expected.attention().weight(1, 2, q, k)).abs() <= 1e-3));
            matches.then_some(())
        });
        assert!(shown.is_some(), "{value}: the table shows {last:?}");
        if mask == Mask::Causal {
            // The window of 5: the last token sees only the last five.
            assert!(last[11][..7].iter().all(|&w| w == 0.0) && last[11][7..].iter().any(|&w| w > 0.0), "{:?}", last[11]);
        }
    }
    std::fs::remove_dir_all(&folder).ok();
}
