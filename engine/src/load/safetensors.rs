//! Hugging Face's layout: config.json names the architecture (`model_type`),
//! model.safetensors holds the weights, tokenizer.json (optional) the tokenizer.

use std::collections::HashMap;
use std::io::{Read, Seek};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::safetensors_file::SafetensorsFile;
use super::tokenizer::TextTokenizer;
use crate::arch::bert::{self, Bert, BertConfig};
use crate::arch::gpt2::{Gpt2, Gpt2Config};
use crate::arch::gpt_neox::{GptNeoX, GptNeoXConfig};
use crate::arch::llama::{self, Llama, LlamaConfig};
use crate::arch::llama_config;
use crate::arch::projection::Weights;
use crate::arch::Network;
use crate::error::{first_line, EngineError, Result};
use crate::report::ModelInfo;
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
    let family = if model_type == "gemma3_text" { "gemma3" } else { model_type.as_str() };
    let known = llama::FAMILIES.contains(&family) || bert::FAMILIES.contains(&family) || matches!(family, "gpt2" | "gpt_neox");
    if !known {
        return Err(EngineError::UnsupportedArchitecture(model_type));
    }
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
    let builder = |tensors: HashMap<String, Tensor>| VarBuilder::from_tensors(tensors, DType::F32, &device);
    let (info, network): (ModelInfo, Box<dyn Network>) = match family {
        "gpt2" | "gpt_neox" => hf_network(name, family, config, all(&mut each_tensor)?)?,
        encoder if bert::FAMILIES.contains(&encoder) => hf_network(name, family, config, all(&mut each_tensor)?)?,
        _ => {
            let cfg = LlamaConfig::from_hf(config)?;
            // The family's network reads llama.cpp's names, and Gemma's norms as llama.cpp
            // stores them (1 + w); what the network does not use is left out.
            let gemma = family.starts_with("gemma");
            let mut named = HashMap::new();
            each_tensor(&mut |hf, tensor| {
                let Some(gguf) = llama_config::gguf_name(&hf, family) else { return Ok(()) };
                let tensor = if gemma && llama_config::is_norm(&gguf) { (tensor + 1.0)? } else { tensor };
                named.extend(llama::prepare(&gguf, tensor, &cfg).map_err(|e| bad_weights(e.into()))?);
                Ok(())
            })?;
            (cfg.info(name), Box::new(Llama::load(Weights::new(builder(named), Default::default()), cfg).map_err(bad_weights)?))
        }
    };
    Ok(Model::new(info, network, tokenizer).with_bos(bos_token_id))
}

/// The network of a family read by Hugging Face's names whole (GPT-2, GPT-NeoX, the BERTs),
/// from its config.json and every tensor; weights that do not fit the config make a bad file.
pub(crate) fn hf_network(name: &str, family: &str, config: &[u8], tensors: HashMap<String, Tensor>) -> Result<(ModelInfo, Box<dyn Network>)> {
    let bad_weights = |e: EngineError| match e {
        EngineError::Compute(e) => EngineError::BadModelFile(format!("the weights do not fit the model's settings: {}", first_line(&e))),
        other => other,
    };
    let builder = |tensors: HashMap<String, Tensor>| VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    Ok(match family {
        "gpt2" => {
            let cfg: Gpt2Config = parse(config)?;
            (cfg.info(name), Box::new(Gpt2::load(builder(tensors), cfg).map_err(bad_weights)?))
        }
        "gpt_neox" => {
            let cfg: GptNeoXConfig = parse(config)?;
            (cfg.info(name), Box::new(GptNeoX::load(builder(tensors), cfg).map_err(bad_weights)?))
        }
        encoder => {
            let cfg = BertConfig::from_hf(config, encoder)?;
            let tensors = bert::bert_names(tensors, encoder);
            (cfg.info(name), Box::new(Bert::load(builder(tensors), cfg).map_err(bad_weights)?))
        }
    })
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
