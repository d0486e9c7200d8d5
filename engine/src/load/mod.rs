//! Reading model files into networks: GGUF (weights and tokenizer in one file),
//! or Hugging Face's config.json + model.safetensors (+ tokenizer.json).
//! Everything here reads bytes, so the same code runs natively and in wasm.

pub mod ctranslate2;
pub mod files;
pub mod gguf;
pub(crate) mod gguf_hf;
pub(crate) mod gguf_tokenizer;
pub mod marian;
pub mod onnx;
pub mod safetensors;
pub mod safetensors_file;
pub mod tokenizer;
pub mod vit;
pub mod whisper;

#[cfg(not(target_arch = "wasm32"))]
pub mod path;

/// A JSON file of a model's (`what`: its name, for the message) read into `T`.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> crate::error::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| crate::error::EngineError::BadModelFile(format!("{what}: {e}")))
}
