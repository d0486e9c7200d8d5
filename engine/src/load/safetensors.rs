//! Hugging Face's layout: config.json names the architecture (`model_type`),
//! model.safetensors holds the weights, tokenizer.json (optional) the tokenizer.

use std::collections::HashMap;
use std::io::{Read, Seek};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::safetensors_file::SafetensorsFile;
use super::tokenizer::TextTokenizer;
use crate::arch::family::Builder;
use crate::arch::llama::{self, Llama, LlamaConfig};
use crate::arch::llama_config;
use crate::arch::projection::Weights;
use crate::arch::registry;
use crate::arch::Network;
use crate::error::{first_line, EngineError, Result};
use crate::report::{ModelInfo, ModelKind};
use crate::Model;

#[derive(Deserialize)]
struct ModelType {
    model_type: Option<String>,
    #[serde(default)]
    bos_token_id: Option<u32>,
}

fn parse<'a, T: Deserialize<'a>>(config: &'a [u8]) -> Result<T> {
    super::parse_json("config.json", config)
}

/// Loads a model from config.json, model.safetensors and, when there is one, tokenizer.json.
pub fn load(name: &str, config: &[u8], weights: &[u8], tokenizer: Option<&[u8]>) -> Result<Model> {
    load_from(name, config, vec![std::io::Cursor::new(weights)], tokenizer)
}

/// [`load`] with the weights read a tensor at a time from one or more readers (a sharded
/// checkpoint's shards): a file natively, a browser's File in the worker.
pub fn load_from<R: Read + Seek>(name: &str, config: &[u8], shards: Vec<R>, tokenizer: Option<&[u8]>) -> Result<Model> {
    let ModelType { model_type, bos_token_id } = parse::<ModelType>(config)?;
    let model_type = model_type.ok_or_else(|| EngineError::MissingSetting { source_name: "config.json", key: "model_type".into() })?;
    let family = match registry::by_model_type(&model_type) {
        Some(family) if family.kind == ModelKind::Text => family,
        _ => return Err(EngineError::unsupported(model_type)),
    };
    let device = Device::Cpu;
    let mut files = shards.into_iter().map(SafetensorsFile::open).collect::<Result<Vec<_>>>()?;
    // Every tensor of every shard, each handed to `keep` as it is read.
    let mut each_tensor =
        |keep: &mut dyn FnMut(String, Tensor) -> Result<()>| -> Result<()> { files.iter_mut().try_for_each(|file| file.each_tensor(&device, &mut *keep)) };
    let tokenizer = tokenizer.map(TextTokenizer::from_json).transpose()?;
    let bad_weights = |e: EngineError| match e {
        EngineError::Compute(e) => EngineError::BadModelFile(format!("model.safetensors does not fit config.json: {}", first_line(&e))),
        other => other,
    };
    let (info, network): (ModelInfo, Box<dyn Network>) = match family.builder {
        Builder::Whole { .. } => family.network(name, config, all(&mut each_tensor)?)?,
        Builder::Own => return Err(EngineError::unsupported(model_type)),
        Builder::Llama => {
            let cfg = LlamaConfig::from_hf(config)?;
            // The family's network reads llama.cpp's names, and Gemma's norms as llama.cpp
            // stores them (1 + w); what the network does not use is left out.
            let gemma = family.name.starts_with("gemma");
            let mut named = HashMap::new();
            each_tensor(&mut |hf, tensor| {
                let Some(gguf) = llama_config::gguf_name(&hf, family.name) else { return Ok(()) };
                let tensor = if gemma && llama_config::is_norm(&gguf) { (tensor + 1.0)? } else { tensor };
                named.extend(llama::prepare(&gguf, tensor, &cfg).map_err(|e| bad_weights(e.into()))?);
                Ok(())
            })?;
            let weights = VarBuilder::from_tensors(named, DType::F32, &device);
            (cfg.info(name), Box::new(Llama::load(Weights::new(weights, Default::default()), cfg).map_err(bad_weights)?))
        }
    };
    Ok(Model::new(info, network, tokenizer).with_bos(bos_token_id))
}

/// What is told each tensor of a file in turn, by name.
type TensorSink<'a> = &'a mut dyn FnMut(String, Tensor) -> Result<()>;

/// Every tensor, by name.
fn all(each_tensor: &mut dyn FnMut(TensorSink) -> Result<()>) -> Result<HashMap<String, Tensor>> {
    let mut tensors = HashMap::new();
    each_tensor(&mut |name, tensor| {
        tensors.insert(name, tensor);
        Ok(())
    })?;
    Ok(tensors)
}
