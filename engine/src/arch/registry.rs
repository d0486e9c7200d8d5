//! Every family the engine runs, one row each ([`Family`]). The loaders, the inspector, the
//! errors that list what is supported and the tests all read this list, so a new family is
//! its own file, its row here, and its tests.

use std::collections::HashMap;

use candle_core::Tensor;

use super::family::{Builder, Family};
use crate::error::{first_line, EngineError, Result};
use crate::forward::Network;
use crate::report::{ModelInfo, ModelKind};

impl Family {
    /// Its network from its config.json and every tensor by Hugging Face's names (a family
    /// read whole); weights that do not fit the config make a bad file.
    pub fn network(&self, name: &str, config: &[u8], tensors: HashMap<String, Tensor>) -> Result<(ModelInfo, Box<dyn Network>)> {
        let Builder::Whole { load, .. } = self.builder else { return Err(EngineError::unsupported(self.name)) };
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

impl EngineError {
    /// An architecture the engine does not run, with the list of those it does.
    pub fn unsupported(architecture: impl Into<String>) -> Self {
        Self::UnsupportedArchitecture { architecture: architecture.into(), supported: supported() }
    }
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
