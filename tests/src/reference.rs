//! The golden maps from Hugging Face transformers (float32, eager attention),
//! copied from the shared reference set into tests/fixtures/reference.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use engine::Mask;
use serde::Deserialize;

/// One input of the reference set.
#[derive(Debug, Deserialize)]
pub struct Case {
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Present when the case is a text (otherwise it is given as ids).
    #[serde(default)]
    pub text: Option<String>,
    /// The ids transformers produced (or was given).
    pub ids: Vec<u32>,
    #[serde(default)]
    pub next_token_top10: Option<TopTokens>,
    /// A long case keeps only its last query rows, from this one on.
    #[serde(default)]
    pub rows_from: Option<usize>,
    /// tiny-gpt2 lists only the top 5 ids.
    #[serde(default)]
    pub logits_last_top5: Option<Vec<u32>>,
}

#[derive(Debug, Deserialize)]
pub struct TopTokens {
    pub ids: Vec<u32>,
    pub logits: Vec<f32>,
}

#[derive(Debug, Deserialize)]
struct CaseList {
    cases: Vec<Case>,
}

/// A model's reference cases and their maps.
pub struct Reference {
    pub cases: Vec<Case>,
    tensors: HashMap<String, Tensor>,
}

fn dir() -> PathBuf {
    crate::root().join("tests").join("fixtures").join("reference")
}

impl Reference {
    /// `smollm2-135m`, `all-minilm-l6-v2`, `gemma3-270m` or `tiny-gpt2`.
    pub fn load(model: &str) -> Self {
        let (json, tensors) = if model == "tiny-gpt2" {
            (dir().join("tiny-gpt2/reference.json"), dir().join("tiny-gpt2/reference.safetensors"))
        } else {
            (dir().join(format!("{model}.json")), dir().join(format!("{model}.safetensors")))
        };
        let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
        let list: CaseList = serde_json::from_str(&text).unwrap();
        let tensors = candle_core::safetensors::load(&tensors, &Device::Cpu).unwrap();
        Self { cases: list.cases, tensors }
    }

    /// The reference attention of a case under a mask, flat [layer, head, query, key].
    pub fn attention(&self, case: &Case, mask: Mask) -> Vec<f32> {
        let key = format!("{}.{}.attn", case.key, mask.name());
        let tensor = self.tensors.get(&key).unwrap_or_else(|| panic!("no reference tensor {key}"));
        tensor.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// The reference attention's shape, [layers, heads, queries, keys].
    pub fn shape(&self, case: &Case, mask: Mask) -> Vec<usize> {
        self.tensors[&format!("{}.{}.attn", case.key, mask.name())].dims().to_vec()
    }
}
