//! Loading from the file system (native only): a .gguf file, or a folder with
//! config.json and model.safetensors (and tokenizer.json), or a folder holding one .gguf.

use std::fs;
use std::path::Path;

use crate::error::{EngineError, Result};
use crate::Model;

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", path.display())))
}

/// A GGUF file, read a tensor at a time.
fn gguf(name: &str, path: &Path) -> Result<Model> {
    let file = fs::File::open(path).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", path.display())))?;
    super::gguf::load(name, std::io::BufReader::new(file))
}

/// Loads the model at `path`, named `name` in its reports.
pub fn load(name: &str, path: &Path) -> Result<Model> {
    if path.is_file() {
        return gguf(name, path);
    }
    if !path.is_dir() {
        return Err(EngineError::BadModelFile(format!("{}: no such file or folder", path.display())));
    }
    let config = path.join("config.json");
    if config.is_file() {
        let weights = path.join("model.safetensors");
        let tokenizer = path.join("tokenizer.json");
        let tokenizer = if tokenizer.is_file() { Some(read(&tokenizer)?) } else { None };
        return super::safetensors::load(name, &read(&config)?, &read(&weights)?, tokenizer.as_deref());
    }
    let ggufs: Vec<_> = fs::read_dir(path)
        .map_err(|e| EngineError::BadModelFile(format!("{}: {e}", path.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "gguf"))
        .collect();
    match ggufs.as_slice() {
        [one] => gguf(name, one),
        [] => Err(EngineError::BadModelFile(format!(
            "{}: holds neither config.json + model.safetensors nor a .gguf file",
            path.display()
        ))),
        _ => Err(EngineError::BadModelFile(format!("{}: holds more than one .gguf file; name one", path.display()))),
    }
}
