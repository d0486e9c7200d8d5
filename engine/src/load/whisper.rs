//! Whisper's files in either layout, read into one set of weights under Hugging Face's
//! names (`model.encoder.layers.0.self_attn.q_proj.weight`, …) with the model's sizes:
//! - CTranslate2's `model.bin` as faster-whisper ships it, with its `config.json`
//!   (alignment heads, suppressed tokens): self-attention's Q, K and V stacked in one
//!   `linear_0` [3d, d], cross-attention's K and V stacked in `linear_1` [2d, d], the output
//!   projection tied to the embeddings, weights in float16;
//! - Hugging Face's folder: `config.json`, `model.safetensors`, and `generation_config.json`
//!   for the alignment heads and suppressed tokens.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use serde::Deserialize;

use super::parse_json;

use super::ctranslate2::Ct2File;
use super::safetensors_file::SafetensorsFile;
use crate::error::{EngineError, Result};

/// The network's sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct WhisperSizes {
    pub vocab_size: usize,
    pub num_mel_bins: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    /// Encoder positions: 1500 frames of 20 ms.
    pub max_source_positions: usize,
    /// Decoder positions: 448 tokens.
    pub max_target_positions: usize,
}

/// What decoding needs beyond the weights: the tokens never written, and the heads whose
/// cross-attention follows the sound word by word.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodingRules {
    /// Never chosen.
    pub suppress: Vec<u32>,
    /// Never chosen as the first token (a blank, the end of text).
    pub suppress_at_begin: Vec<u32>,
    /// (layer, head) pairs of the decoder.
    pub alignment_heads: Vec<(usize, usize)>,
}

/// Whisper's weights under Hugging Face's names, its sizes and its decoding rules.
pub struct WhisperWeights {
    pub sizes: WhisperSizes,
    pub rules: DecodingRules,
    pub tensors: HashMap<String, Tensor>,
}

fn bad(message: String) -> EngineError {
    EngineError::BadModelFile(message)
}

/// The settings in faster-whisper's `config.json` beside `model.bin`.
#[derive(Deserialize, Default)]
struct Ct2Config {
    #[serde(default)]
    alignment_heads: Vec<(usize, usize)>,
    #[serde(default)]
    suppress_ids: Vec<u32>,
    #[serde(default)]
    suppress_ids_begin: Vec<u32>,
}

/// The settings in Hugging Face's `generation_config.json`.
#[derive(Deserialize, Default)]
struct GenerationConfig {
    #[serde(default)]
    alignment_heads: Vec<(usize, usize)>,
    #[serde(default)]
    suppress_tokens: Vec<u32>,
    #[serde(default)]
    begin_suppress_tokens: Vec<u32>,
}

/// Reads CTranslate2's `model.bin` and its `config.json`.
pub fn from_ctranslate2(model: &[u8], config: Option<&[u8]>) -> Result<WhisperWeights> {
    let file = Ct2File::parse(model)?;
    if !file.spec.contains("Whisper") {
        return Err(bad(format!("this CTranslate2 model is a `{}`, not Whisper", file.spec)));
    }
    let config: Ct2Config = config.map(|c| parse_json("config.json", c)).transpose()?.unwrap_or_default();
    let mut tensors = HashMap::new();
    let mut put = |name: String, tensor: Tensor| {
        tensors.insert(name, tensor);
    };
    // Stacked rows [n·d, d] (or [n·d]) cut into n equal parts.
    let parts = |name: &str, n: usize| -> Result<Vec<Tensor>> {
        let t = file.tensor(name)?;
        let rows = t.dim(0)?;
        if rows % n != 0 {
            return Err(bad(format!("`{name}` has {rows} rows, not a multiple of {n}")));
        }
        Ok(t.chunk(n, 0)?)
    };
    let layers_of = |side: &str| (0..).take_while(|i| file.variable(&format!("{side}/layer_{i}/ffn/linear_0/weight")).is_some()).count();
    let (encoder_layers, decoder_layers) = (layers_of("encoder"), layers_of("decoder"));
    let norm = |put: &mut dyn FnMut(String, Tensor), ours: &str, theirs: &str| -> Result<()> {
        put(format!("{ours}.weight"), file.tensor(&format!("{theirs}/gamma"))?);
        put(format!("{ours}.bias"), file.tensor(&format!("{theirs}/beta"))?);
        Ok(())
    };
    let linear = |put: &mut dyn FnMut(String, Tensor), ours: &str, theirs: &str| -> Result<()> {
        put(format!("{ours}.weight"), file.tensor(&format!("{theirs}/weight"))?);
        put(format!("{ours}.bias"), file.tensor(&format!("{theirs}/bias"))?);
        Ok(())
    };
    // Q, K, V (or K, V) from stacked projections; the key's bias is dropped (Whisper's
    // key projection has none: CTranslate2 stores zeros there).
    let attention = |put: &mut dyn FnMut(String, Tensor), ours: &str, theirs: &str, cross: bool| -> Result<()> {
        let (q, k, v, qb, vb, out) = if cross {
            let (kv, kvb) = (parts(&format!("{theirs}/linear_1/weight"), 2)?, parts(&format!("{theirs}/linear_1/bias"), 2)?);
            let q = file.tensor(&format!("{theirs}/linear_0/weight"))?;
            let qb = file.tensor(&format!("{theirs}/linear_0/bias"))?;
            (q, kv[0].clone(), kv[1].clone(), qb, kvb[1].clone(), "linear_2")
        } else {
            let (qkv, qkvb) = (parts(&format!("{theirs}/linear_0/weight"), 3)?, parts(&format!("{theirs}/linear_0/bias"), 3)?);
            (qkv[0].clone(), qkv[1].clone(), qkv[2].clone(), qkvb[0].clone(), qkvb[2].clone(), "linear_1")
        };
        put(format!("{ours}.q_proj.weight"), q);
        put(format!("{ours}.q_proj.bias"), qb);
        put(format!("{ours}.k_proj.weight"), k);
        put(format!("{ours}.v_proj.weight"), v);
        put(format!("{ours}.v_proj.bias"), vb);
        linear(put, &format!("{ours}.out_proj"), &format!("{theirs}/{out}"))?;
        norm(put, &format!("{ours}_layer_norm"), &format!("{theirs}/layer_norm"))
    };
    let ffn = |put: &mut dyn FnMut(String, Tensor), ours: &str, theirs: &str| -> Result<()> {
        linear(put, &format!("{ours}.fc1"), &format!("{theirs}/linear_0"))?;
        linear(put, &format!("{ours}.fc2"), &format!("{theirs}/linear_1"))?;
        norm(put, &format!("{ours}.final_layer_norm"), &format!("{theirs}/layer_norm"))
    };
    for conv in ["conv1", "conv2"] {
        linear(&mut put, &format!("model.encoder.{conv}"), &format!("encoder/{conv}"))?;
    }
    put("model.encoder.embed_positions.weight".into(), file.tensor("encoder/position_encodings/encodings")?);
    for i in 0..encoder_layers {
        let (ours, theirs) = (format!("model.encoder.layers.{i}"), format!("encoder/layer_{i}"));
        attention(&mut put, &format!("{ours}.self_attn"), &format!("{theirs}/self_attention"), false)?;
        ffn(&mut put, &ours, &format!("{theirs}/ffn"))?;
    }
    norm(&mut put, "model.encoder.layer_norm", "encoder/layer_norm")?;
    put("model.decoder.embed_tokens.weight".into(), file.tensor("decoder/embeddings/weight")?);
    put("model.decoder.embed_positions.weight".into(), file.tensor("decoder/position_encodings/encodings")?);
    for i in 0..decoder_layers {
        let (ours, theirs) = (format!("model.decoder.layers.{i}"), format!("decoder/layer_{i}"));
        attention(&mut put, &format!("{ours}.self_attn"), &format!("{theirs}/self_attention"), false)?;
        attention(&mut put, &format!("{ours}.encoder_attn"), &format!("{theirs}/attention"), true)?;
        ffn(&mut put, &ours, &format!("{theirs}/ffn"))?;
    }
    norm(&mut put, "model.decoder.layer_norm", "decoder/layer_norm")?;
    let heads = |side: &str| -> Result<usize> {
        usize::try_from(file.integer(&format!("{side}/num_heads"))?).map_err(|_| bad(format!("{side}/num_heads is negative")))
    };
    let dims = |name: &str| tensors.get(name).map(|t| t.dims().to_vec()).unwrap_or_default();
    let embeddings = dims("model.decoder.embed_tokens.weight");
    let conv1 = dims("model.encoder.conv1.weight");
    let sizes = WhisperSizes {
        vocab_size: embeddings.first().copied().unwrap_or(0),
        num_mel_bins: conv1.get(1).copied().unwrap_or(0),
        d_model: embeddings.get(1).copied().unwrap_or(0),
        encoder_layers,
        decoder_layers,
        encoder_attention_heads: heads("encoder")?,
        decoder_attention_heads: heads("decoder")?,
        encoder_ffn_dim: dims("model.encoder.layers.0.fc1.weight").first().copied().unwrap_or(0),
        decoder_ffn_dim: dims("model.decoder.layers.0.fc1.weight").first().copied().unwrap_or(0),
        max_source_positions: dims("model.encoder.embed_positions.weight").first().copied().unwrap_or(0),
        max_target_positions: dims("model.decoder.embed_positions.weight").first().copied().unwrap_or(0),
    };
    let rules = DecodingRules { suppress: config.suppress_ids, suppress_at_begin: config.suppress_ids_begin, alignment_heads: config.alignment_heads };
    Ok(WhisperWeights { sizes, rules, tensors })
}

/// Reads Hugging Face's `config.json`, `model.safetensors` and (when there is one)
/// `generation_config.json`.
pub fn from_hugging_face<R: std::io::Read + std::io::Seek>(config: &[u8], weights: R, generation: Option<&[u8]>) -> Result<WhisperWeights> {
    #[derive(Deserialize)]
    struct Kind {
        model_type: Option<String>,
    }
    let kind: Kind = parse_json("config.json", config)?;
    if kind.model_type.as_deref() != Some("whisper") {
        return Err(bad(format!("config.json's model_type is {:?}, not \"whisper\"", kind.model_type.unwrap_or_default())));
    }
    let sizes: WhisperSizes = parse_json("config.json", config)?;
    let generation: GenerationConfig = generation.map(|g| parse_json("generation_config.json", g)).transpose()?.unwrap_or_default();
    let mut tensors = HashMap::new();
    SafetensorsFile::open(weights)?.each_tensor(&Device::Cpu, |name, tensor| {
        // A bare WhisperModel's names lack `model.`.
        let name = if name.starts_with("model.") || name.starts_with("proj_out") { name } else { format!("model.{name}") };
        tensors.insert(name, tensor.to_dtype(candle_core::DType::F32)?);
        Ok(())
    })?;
    let rules = DecodingRules {
        suppress: generation.suppress_tokens,
        suppress_at_begin: generation.begin_suppress_tokens,
        alignment_heads: generation.alignment_heads,
    };
    Ok(WhisperWeights { sizes, rules, tensors })
}
