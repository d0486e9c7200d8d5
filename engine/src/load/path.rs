//! Loading a text model from the file system (native only): a .gguf file, or a folder with
//! config.json and model.safetensors (and tokenizer.json), or a folder holding one .gguf.

use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::{AnyModel, Model, WeightChoice};

/// Loads the text model at `path` (a .gguf file, a folder of Hugging Face's files or with one
/// .gguf), named `name` in its reports; `weights` matters for GGUF only (safetensors hold
/// float weights). The files are told apart as everywhere else ([`super::files`]).
pub fn load(name: &str, path: &Path, weights: WeightChoice) -> Result<Model> {
    match super::files::open_path(name, path, weights)? {
        AnyModel::OneSequence(model) => Ok(model),
        AnyModel::Translator(_) => Err(EngineError::BadModelFile(format!("{}: is a translator, not a text model of one sequence", path.display()))),
        AnyModel::Transcriber(_) => Err(EngineError::BadModelFile(format!("{}: is a speech model, not a text model of one sequence", path.display()))),
        AnyModel::Vision(_) => Err(EngineError::BadModelFile(format!("{}: is a vision model, not a text model of one sequence", path.display()))),
        AnyModel::Aligner(_) => Err(EngineError::BadModelFile(format!("{}: is an RNN aligner, not a text model of one sequence", path.display()))),
        AnyModel::FewShot(_) => Err(EngineError::BadModelFile(format!("{}: is a few-shot learner (SNAIL), not a text model of one sequence", path.display()))),
    }
}

/// A folder's weights: model.safetensors, or the shards its index names.
pub fn safetensors_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let single = folder.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = folder.join("model.safetensors.index.json");
    if !index.is_file() {
        return Err(EngineError::BadModelFile(format!("{}: has config.json but no model.safetensors (nor model.safetensors.index.json)", folder.display())));
    }
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", index.display())))?)
        .map_err(|e| EngineError::BadModelFile(format!("model.safetensors.index.json: {e}")))?;
    let mut shards: Vec<String> = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| EngineError::BadModelFile("model.safetensors.index.json has no weight_map".into()))?
        .values()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    shards.sort();
    shards.dedup();
    shards
        .into_iter()
        .map(|shard| {
            // A shard is a file in the folder, never a path out of it.
            let path = folder.join(&shard);
            if shard.contains('/') || shard.contains('\\') || !path.is_file() {
                return Err(EngineError::BadModelFile(format!("model.safetensors.index.json names `{shard}`, which is not a file in {}", folder.display())));
            }
            Ok(path)
        })
        .collect()
}
