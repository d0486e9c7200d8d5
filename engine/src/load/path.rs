//! Loading from the file system (native only): a .gguf file, or a folder with
//! config.json and model.safetensors (and tokenizer.json), or a folder holding one .gguf.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::{Model, WeightChoice};

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", path.display())))
}

/// A GGUF file, read a tensor at a time.
fn gguf(name: &str, path: &Path, weights: WeightChoice) -> Result<Model> {
    let file = fs::File::open(path).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", path.display())))?;
    super::gguf::load(name, std::io::BufReader::new(file), weights)
}

/// Loads the model at `path`, named `name` in its reports; `weights` matters for GGUF only
/// (safetensors hold float weights).
pub fn load(name: &str, path: &Path, weights: WeightChoice) -> Result<Model> {
    if path.is_file() {
        return gguf(name, path, weights);
    }
    if !path.is_dir() {
        return Err(EngineError::BadModelFile(format!("{}: no such file or folder", path.display())));
    }
    let config = path.join("config.json");
    if config.is_file() {
        // Each shard read a tensor at a time, never whole.
        let shards = safetensors_files(path)?
            .iter()
            .map(|p| fs::File::open(p).map(std::io::BufReader::new).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", p.display()))))
            .collect::<Result<Vec<_>>>()?;
        let tokenizer = path.join("tokenizer.json");
        let tokenizer = if tokenizer.is_file() { Some(read(&tokenizer)?) } else { None };
        return super::safetensors::load_from(name, &read(&config)?, shards, tokenizer.as_deref());
    }
    let ggufs: Vec<_> = fs::read_dir(path)
        .map_err(|e| EngineError::BadModelFile(format!("{}: {e}", path.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "gguf"))
        .collect();
    match ggufs.as_slice() {
        [one] => gguf(name, one, weights),
        [] => Err(EngineError::BadModelFile(format!("{}: holds neither config.json + model.safetensors nor a .gguf file", path.display()))),
        _ => Err(EngineError::BadModelFile(format!("{}: holds more than one .gguf file; name one", path.display()))),
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
    let index: serde_json::Value =
        serde_json::from_slice(&read(&index)?).map_err(|e| EngineError::BadModelFile(format!("model.safetensors.index.json: {e}")))?;
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
