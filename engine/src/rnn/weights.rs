//! A converted aligner's files (scripts/convert_rnn.py): `model.safetensors` read into plain
//! vectors by name, each checked against the shape its architecture needs, so that a file
//! that lies about a size is refused before anything is computed.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::error::{EngineError, Result};

/// Every tensor of a `model.safetensors`, by name.
pub struct Weights {
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(|e| EngineError::BadModelFile(format!("model.safetensors: {e}")))?;
        Ok(Self { tensors })
    }

    /// The float32 values of `name`, which must have shape `dims`.
    pub fn get(&self, name: &str, dims: &[usize]) -> Result<Vec<f32>> {
        let values = self.tensor(name, dims)?.flatten_all().and_then(|t| t.to_vec1::<f32>());
        values.map_err(|e| EngineError::BadModelFile(format!("`{name}`: {e}")))
    }

    /// `name` as a float32 tensor, which must have shape `dims`.
    pub fn tensor(&self, name: &str, dims: &[usize]) -> Result<Tensor> {
        let tensor = self.tensors.get(name).ok_or_else(|| EngineError::BadModelFile(format!("model.safetensors has no `{name}`")))?;
        if tensor.dims() != dims {
            return Err(EngineError::BadModelFile(format!("`{name}` is {:?}, the architecture needs {dims:?}", tensor.dims())));
        }
        tensor.to_dtype(candle_core::DType::F32).map_err(|e| EngineError::BadModelFile(format!("`{name}`: {e}")))
    }

    /// The shape of `name`.
    pub fn dims(&self, name: &str) -> Result<Vec<usize>> {
        self.tensors.get(name).map(|t| t.dims().to_vec()).ok_or_else(|| EngineError::BadModelFile(format!("model.safetensors has no `{name}`")))
    }
}
