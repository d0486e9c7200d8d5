//! What one family's row says: its names in config.json and in GGUF metadata, what kind of
//! model it is, and how its network is built; and the helpers a family's file reads its
//! config and weights with. Every row is listed in [`super::registry`].

use std::collections::HashMap;

use candle_core::Tensor;

use crate::error::Result;
use crate::forward::Network;
use crate::report::{ModelInfo, ModelKind};

/// A family's facts from its config.json: what a report says of the model, and the head size.
pub type Facts = fn(family: &str, name: &str, config: &[u8]) -> Result<(ModelInfo, usize)>;

/// A family's network from its config.json and every tensor by Hugging Face's names.
pub type Whole = fn(family: &str, name: &str, config: &[u8], tensors: HashMap<String, Tensor>) -> Result<(ModelInfo, Box<dyn Network>)>;

/// How a family's network is built.
#[derive(Clone, Copy)]
pub enum Builder {
    /// The Llama network with its switches ([`super::llama_config::LlamaConfig`]), its
    /// weights renamed to llama.cpp's as they load, float32 or kept quantized.
    Llama,
    /// A network read whole by Hugging Face's names (a GGUF's renamed to them first).
    Whole { facts: Facts, load: Whole },
    /// A model with a loader of its own (a translator, a speech or a vision model), not a
    /// network over one sequence of tokens.
    Own,
}

/// One family's row.
#[derive(Clone, Copy)]
pub struct Family {
    /// Its name in reports (`ModelInfo::architecture`), in the CLI and in messages.
    pub name: &'static str,
    /// The `model_type`s of config.json that load as it (`gemma3_text` is Gemma 3).
    pub model_types: &'static [&'static str],
    /// Its `general.architecture` in a GGUF file, where the engine reads it from one.
    pub gguf: Option<&'static str>,
    pub kind: ModelKind,
    pub builder: Builder,
}

/// A family's config.json, as the type it reads it into.
pub fn config<'a, T: serde::Deserialize<'a>>(config: &'a [u8]) -> Result<T> {
    crate::load::parse_json("config.json", config)
}

/// The tensors as a network's `load` reads them, float32 on the CPU.
pub fn weights(tensors: HashMap<String, Tensor>) -> candle_nn::VarBuilder<'static> {
    candle_nn::VarBuilder::from_tensors(tensors, candle_core::DType::F32, &candle_core::Device::Cpu)
}
