//! GGUF: metadata, quantized tensors and the tokenizer, from one file, read a tensor
//! at a time (so the file never has to sit in memory whole beside its weights).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::gguf_hf;
use super::tokenizer::TextTokenizer;
use crate::arch::family::Builder;
use crate::arch::llama::{self, Llama, LlamaConfig};
use crate::arch::llama_config::number;
use crate::arch::projection::{stays_quantized, Weights};
use crate::arch::registry;
use crate::error::{first_line, EngineError, Result};
use crate::report::ModelKind;
use crate::{Model, ModelInfo, WeightChoice, WeightPath};

/// The GGUF magic number, "GGUF" read as a little-endian u32.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// A tensor's element count, `None` when its dimensions multiply past any memory (a lie).
pub fn elements(info: &candle_core::quantized::gguf_file::TensorInfo) -> Option<usize> {
    info.shape.dims().iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Loads a GGUF model from a reader of its file. On the float32 path every weight is
/// de-quantized, which keeps the attention within 1e-4 of the float32 reference; on the
/// quantized path the projections and embedding tables stay as the file stores them.
pub fn load<R: Read + Seek>(name: &str, mut reader: R, choice: WeightChoice) -> Result<Model> {
    let mut magic = [0u8; 4];
    let start = reader.stream_position().map_err(|e| EngineError::BadModelFile(e.to_string()))?;
    if reader.read_exact(&mut magic).is_err() || &magic != GGUF_MAGIC {
        return Err(EngineError::BadModelFile("not a GGUF file (it does not start with `GGUF`)".into()));
    }
    reader.seek(SeekFrom::Start(start)).map_err(|e| EngineError::BadModelFile(e.to_string()))?;
    let content = Content::read(&mut reader).map_err(|e| EngineError::BadModelFile(first_line(&e)))?;
    let metadata = &content.metadata;
    // Before candle reads a tensor: sizes that overflow, bytes the file does not hold, and
    // empty tensors (whose bytes candle would view through a dangling pointer) are lies a
    // model file cannot mean.
    let file_size = reader.seek(SeekFrom::End(0)).map_err(|e| EngineError::BadModelFile(e.to_string()))?;
    for (name, info) in &content.tensor_infos {
        let lie = |what: String| EngineError::BadModelFile(format!("tensor `{name}` {what}"));
        let count = elements(info).ok_or_else(|| lie("claims more elements than any memory holds".into()))?;
        if count == 0 {
            return Err(lie(format!("has no elements (shape {:?})", info.shape.dims())));
        }
        let bytes = (count / info.ggml_dtype.block_size()).checked_mul(info.ggml_dtype.type_size()).map(|b| b as u64);
        let end = bytes.and_then(|b| content.tensor_data_offset.checked_add(info.offset)?.checked_add(b));
        if end.is_none_or(|end| end > file_size) {
            return Err(lie(format!("claims bytes past the end of the file ({file_size} bytes)")));
        }
    }

    let architecture = metadata
        .get("general.architecture")
        .ok_or_else(|| EngineError::MissingSetting { source_name: "GGUF metadata", key: "general.architecture".into() })?
        .to_string()
        .map_err(|_| EngineError::BadModelFile("`general.architecture` is not text".into()))?
        .clone();
    let family = match registry::by_gguf(&architecture) {
        Some(family) if family.kind == ModelKind::Text => family,
        _ => return Err(EngineError::unsupported(architecture)),
    };
    let through_hf = matches!(family.builder, Builder::Whole { .. });
    let tokenizer = TextTokenizer::from_gguf_metadata(&architecture, metadata)?;
    let vocab = match metadata.get("tokenizer.ggml.tokens").map(|v| v.to_vec()) {
        Some(Ok(tokens)) => tokens.len(),
        _ => number(metadata, &format!("{architecture}.vocab_size"))?,
    };
    let bos = metadata.get("tokenizer.ggml.bos_token_id").and_then(|v| v.to_u32().ok());
    if through_hf {
        // Float32 always: these networks have no quantized path (their files are small).
        let mut tensors = HashMap::with_capacity(content.tensor_infos.len());
        for tensor_name in content.tensor_infos.keys() {
            let qtensor = content
                .tensor(&mut reader, tensor_name, &Device::Cpu)
                .map_err(|e| EngineError::BadModelFile(format!("tensor `{tensor_name}`: {}", first_line(&e))))?;
            tensors.insert(tensor_name.clone(), qtensor.dequantize(&Device::Cpu)?);
        }
        let (config, tensors) = gguf_hf::to_hugging_face(&architecture, metadata, vocab, tensors)?;
        let (info, network) = family.network(name, &config, tensors)?;
        return Ok(Model::new(info, network, tokenizer).with_bos(bos));
    }
    let cfg = LlamaConfig::from_gguf(&architecture, metadata, vocab)?;

    let float32_bytes: u64 = content.tensor_infos.values().map(|info| elements(info).unwrap_or(0) as u64 * 4).sum();
    let path = choice.resolve(float32_bytes);
    let device = Device::Cpu;
    let mut tensors = HashMap::with_capacity(content.tensor_infos.len());
    let mut quantized = HashMap::new();
    // Largest first: each tensor's quantized bytes live only while it is de-quantized,
    // and what the big ones leave behind, the small ones fill (wasm memory never shrinks).
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort_by_key(|name| std::cmp::Reverse(elements(&content.tensor_infos[*name])));
    for tensor_name in names {
        let qtensor =
            content.tensor(&mut reader, tensor_name, &device).map_err(|e| EngineError::BadModelFile(format!("tensor `{tensor_name}`: {}", first_line(&e))))?;
        let rows = qtensor.shape().dims().first().copied().unwrap_or(0);
        if path == WeightPath::Quantized && stays_quantized(tensor_name, &qtensor, llama::is_fused(tensor_name, rows, &cfg)) {
            quantized.insert(tensor_name.clone(), Arc::new(qtensor));
            continue;
        }
        let tensor: Tensor = qtensor.dequantize(&device)?;
        drop(qtensor);
        tensors.extend(llama::prepare(tensor_name, tensor, &cfg)?);
    }
    // A file with no quantized matrices runs the float32 path whatever was asked.
    let path = if quantized.is_empty() { WeightPath::Float32 } else { path };
    let weights = Weights::new(VarBuilder::from_tensors(tensors, DType::F32, &device), quantized);
    let info = ModelInfo { weights: path, ..cfg.info(name) };
    let network = Llama::load(weights, cfg).map_err(|e| match e {
        EngineError::Compute(e) => EngineError::BadModelFile(first_line(&e)),
        other => other,
    })?;
    Ok(Model::new(info, Box::new(network), tokenizer).with_bos(bos))
}
