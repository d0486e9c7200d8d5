//! Every family the engine runs, one row each: its names in config.json and in GGUF
//! metadata, what kind of model it is, and how its network is built. The loaders, the
//! inspector, the errors that list what is supported and the tests all read this list, so a
//! new family is its own file, its row here, and its tests.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::error::{first_line, EngineError, Result};
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

impl Family {
    /// Its network from its config.json and every tensor by Hugging Face's names (a family
    /// read whole); weights that do not fit the config make a bad file.
    pub fn network(&self, name: &str, config: &[u8], tensors: HashMap<String, Tensor>) -> Result<(ModelInfo, Box<dyn Network>)> {
        let Builder::Whole { load, .. } = self.builder else { return Err(EngineError::UnsupportedArchitecture(self.name.into())) };
        load(self.name, name, config, tensors).map_err(|e| match e {
            EngineError::Compute(e) => EngineError::BadModelFile(format!("the weights do not fit the model's settings: {}", first_line(&e))),
            other => other,
        })
    }

    /// What a report would say of a model of this family from its config.json, and its head
    /// size (`None` for a family with a loader of its own).
    pub fn facts(&self, name: &str, config: &[u8]) -> Result<Option<(ModelInfo, usize)>> {
        match self.builder {
            Builder::Llama => {
                let cfg = super::llama_config::LlamaConfig::from_hf(config)?;
                Ok(Some((cfg.info(name), cfg.head_dim)))
            }
            Builder::Whole { facts, .. } => facts(self.name, name, config).map(Some),
            Builder::Own => Ok(None),
        }
    }
}

/// A family's config.json, as the type it reads it into.
pub fn config<'a, T: serde::Deserialize<'a>>(config: &'a [u8]) -> Result<T> {
    crate::load::parse_json("config.json", config)
}

/// The tensors as a network's `load` reads them, float32 on the CPU.
pub fn weights(tensors: HashMap<String, Tensor>) -> candle_nn::VarBuilder<'static> {
    candle_nn::VarBuilder::from_tensors(tensors, candle_core::DType::F32, &candle_core::Device::Cpu)
}

/// Every family, in the order messages list them.
pub const FAMILIES: &[Family] = &[
    super::llama_config::LLAMA,
    super::llama_config::MISTRAL,
    super::llama_config::QWEN2,
    super::llama_config::QWEN3,
    super::llama_config::GEMMA,
    super::llama_config::GEMMA2,
    super::llama_config::GEMMA3,
    super::llama_config::PHI3,
    super::gpt2::FAMILY,
    super::gpt_neox::FAMILY,
    super::bert::BERT,
    super::bert::ROBERTA,
    super::bert::DISTILBERT,
    super::stablelm::FAMILY,
    super::marian::FAMILY,
    super::whisper::FAMILY,
    super::vit::DINOV2,
    super::vit::VIT,
    super::vit::DEIT,
];

/// The family a config.json's `model_type` names.
pub fn by_model_type(model_type: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.model_types.contains(&model_type))
}

/// The family a GGUF's `general.architecture` names.
pub fn by_gguf(architecture: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.gguf == Some(architecture))
}

/// The family of this name (as reports name it).
pub fn by_name(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

/// What the engine runs, in words: the text families by name, then the others by kind.
pub fn supported() -> String {
    let names = |kind: ModelKind| FAMILIES.iter().filter(|f| f.kind == kind).map(|f| f.name).collect::<Vec<_>>().join(", ");
    format!(
        "{} (and translators: {}; speech models: {}; vision transformers: {})",
        names(ModelKind::Text),
        names(ModelKind::Translation),
        names(ModelKind::Speech),
        names(ModelKind::Vision)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_once_and_aliases_lead_to_their_family() {
        for family in FAMILIES {
            assert_eq!(by_name(family.name).map(|f| f.name), Some(family.name));
            assert_eq!(FAMILIES.iter().filter(|f| f.name == family.name).count(), 1, "{} twice", family.name);
            for model_type in family.model_types {
                assert_eq!(by_model_type(model_type).map(|f| f.name), Some(family.name), "{model_type}");
            }
        }
        assert_eq!(by_model_type("gemma3_text").map(|f| f.name), Some("gemma3"));
        assert_eq!(by_gguf("gptneox").map(|f| f.name), Some("gpt_neox"));
        assert!(by_model_type("mamba").is_none());
        assert!(supported().starts_with("llama, mistral, qwen2"), "{}", supported());
    }
}
