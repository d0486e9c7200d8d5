//! A model a person brings: what it is called in the picker, and what the worker says when
//! its files cannot be read as text. Which files make a model is the engine's
//! ([`report::files::classify`]), pure, so the page says at once what is missing and the
//! worker reads the same choice.

use report::files::ModelFiles;

/// What the worker says when a text model's files lack their tokenizer.
pub const NO_TOKENIZER: &str = "these files have no tokenizer.json: the page reads text through it (the command line runs such a model on token ids: attnscope run --model FOLDER --ids 1,2,3)";

/// The name a person's model goes by in the picker: the GGUF's file name without its
/// ending, or the safetensors' (without a shard's numbering).
pub fn model_name(names: &[String], model: &ModelFiles) -> String {
    let file = match model {
        ModelFiles::Gguf(i) | ModelFiles::Onnx(i) => &names[*i],
        ModelFiles::HuggingFace { weights, .. } => &names[weights[0]],
        ModelFiles::Aligner { weights, .. } => &names[*weights],
        ModelFiles::CTranslate2 { model, .. } | ModelFiles::Marian { model, .. } => &names[*model],
    };
    let stem = file.rsplit_once('.').map_or(file.as_str(), |(stem, _)| stem);
    let stem = stem.split("-0000").next().unwrap_or(stem);
    format!("file:{stem}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::files::classify;

    #[test]
    fn a_persons_model_is_named_by_its_weights_file() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(model_name(&names(&["vit_s_focus.onnx"]), &ModelFiles::Onnx(0)), "file:vit_s_focus");
        let shards = names(&["config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json", "model-00002-of-00002.safetensors"]);
        assert_eq!(model_name(&shards, &classify(&shards).unwrap()), "file:model");
        assert_eq!(model_name(&names(&["a.b.gguf"]), &ModelFiles::Gguf(0)), "file:a.b");
    }
}
