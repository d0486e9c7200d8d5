//! Hugging Face's layout: config.json names the architecture, model.safetensors
//! holds the weights, tokenizer.json (optional) the tokenizer.

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::tokenizer::TextTokenizer;
use crate::arch::bert::{Bert, BertConfig};
use crate::arch::gpt2::{Gpt2, Gpt2Config};
use crate::arch::llama::{self, Llama, LlamaConfig};
use crate::arch::llama_config;
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
    serde_json::from_slice(config).map_err(|e| EngineError::BadModelFile(format!("config.json: {e}")))
}

/// Loads a model from config.json, model.safetensors and, when there is one, tokenizer.json.
pub fn load(name: &str, config: &[u8], weights: &[u8], tokenizer: Option<&[u8]>) -> Result<Model> {
    let ModelType { model_type, bos_token_id } = parse::<ModelType>(config)?;
    let model_type =
        model_type.ok_or_else(|| EngineError::MissingSetting { source_name: "config.json", key: "model_type".into() })?;
    let is_llama_family = llama::FAMILIES.contains(&model_type.as_str()) || model_type == "gemma3_text";
    if !is_llama_family && !matches!(model_type.as_str(), "bert" | "gpt2") {
        return Err(EngineError::UnsupportedArchitecture(model_type));
    }
    let device = Device::Cpu;
    let mut tensors = candle_core::safetensors::load_buffer(weights, &device)
        .map_err(|e| EngineError::BadModelFile(format!("model.safetensors: {}", first_line(&e))))?;
    if is_llama_family {
        // The family's network reads llama.cpp's names, and Gemma's norms as llama.cpp
        // stores them (1 + w); what the network does not use is left out.
        let gemma = model_type.starts_with("gemma");
        tensors = tensors
            .into_iter()
            .filter_map(|(hf, tensor)| llama_config::gguf_name(&hf, &model_type).map(|name| (name, tensor)))
            .map(|(name, tensor)| {
                let tensor = tensor.to_dtype(DType::F32)?;
                let tensor = if gemma && llama_config::is_norm(&name) { (tensor + 1.0)? } else { tensor };
                llama::prepare(&name, tensor).map(|t| (name, t))
            })
            .collect::<candle_core::Result<_>>()?;
    }
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
    let tokenizer = tokenizer.map(TextTokenizer::from_json).transpose()?;
    let bad_weights = |e: EngineError| match e {
        EngineError::Compute(e) => EngineError::BadModelFile(format!("model.safetensors does not fit config.json: {}", first_line(&e))),
        other => other,
    };

    let (info, network): (ModelInfo, Box<dyn crate::arch::Network>) = match model_type.as_str() {
        "bert" => {
            let cfg: BertConfig = parse(config)?;
            let info = ModelInfo {
                name: name.into(),
                architecture: "bert".into(),
                layers: cfg.num_hidden_layers,
                heads: cfg.num_attention_heads,
                kv_heads: cfg.num_attention_heads,
                causal: false,
                max_positions: cfg.max_position_embeddings,
                vocab_size: cfg.vocab_size,
                layer_windows: Vec::new(),
            };
            (info, Box::new(Bert::load(vb, cfg).map_err(bad_weights)?))
        }
        "gpt2" => {
            let cfg: Gpt2Config = parse(config)?;
            let info = ModelInfo {
                name: name.into(),
                architecture: "gpt2".into(),
                layers: cfg.n_layer,
                heads: cfg.n_head,
                kv_heads: cfg.n_head,
                causal: true,
                max_positions: cfg.n_positions,
                vocab_size: cfg.vocab_size,
                layer_windows: Vec::new(),
            };
            (info, Box::new(Gpt2::load(vb, cfg).map_err(bad_weights)?))
        }
        _ if is_llama_family => {
            let cfg = LlamaConfig::from_hf(config)?;
            (cfg.info(name), Box::new(Llama::load(vb, cfg).map_err(bad_weights)?))
        }
        other => return Err(EngineError::UnsupportedArchitecture(other.into())),
    };
    Ok(Model::new(info, network, tokenizer).with_bos(bos_token_id))
}
