//! Weights that may stay quantized: a model file's k-quant, Q8_0, Q4_0 or Q5_0 matrices kept
//! in memory as they are stored (the quantized path), or de-quantized to float32 at load (the
//! float32 path). A network asks [`Weights`] for its projections and embedding tables by name
//! and gets whichever the loader kept.
//!
//! A quantized matrix is de-quantized when it is used, one matrix (or, for a vocabulary-sized
//! table, one slab of rows) at a time, and multiplied in float32: the weights are the very
//! numbers the float32 path holds, so the maps agree with it to float rounding, while memory
//! holds the file's bytes plus one matrix. candle's quantized kernels, which quantize the
//! activations to 8 bits as well, were tried first: their maps differed from the float32
//! path's by up to 0.07 (SmolLM2, Q4_1) and 0.04 (Gemma 3, Q4_K_M), too far for a microscope.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::{ggml_file::qtensor_from_ggml, QTensor};
use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::nn::Linear;

/// Float32 tensors (by name, through a `VarBuilder`) and the matrices kept quantized.
pub struct Weights<'a> {
    pub dense: VarBuilder<'a>,
    pub quantized: Arc<HashMap<String, Arc<QTensor>>>,
    prefix: String,
}

impl<'a> Weights<'a> {
    pub fn new(dense: VarBuilder<'a>, quantized: HashMap<String, Arc<QTensor>>) -> Self {
        Self { dense, quantized: Arc::new(quantized), prefix: String::new() }
    }

    /// The weights under `prefix.` (`blk.3`).
    pub fn pp(&self, prefix: &str) -> Self {
        Self { dense: self.dense.pp(prefix), quantized: self.quantized.clone(), prefix: format!("{}{prefix}.", self.prefix) }
    }

    fn quantized(&self, name: &str, dims: (usize, usize)) -> candle_core::Result<Option<Arc<QTensor>>> {
        let Some(q) = self.quantized.get(&format!("{}{name}", self.prefix)) else { return Ok(None) };
        if q.shape().dims2()? != dims {
            candle_core::bail!("`{}{name}` is {:?}, expected {dims:?}", self.prefix, q.shape().dims())
        }
        Ok(Some(q.clone()))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.dense.contains_tensor(name) || self.quantized.contains_key(&format!("{}{name}", self.prefix))
    }

    /// The projection `<name>.weight` [out, in] (with `<name>.bias` [out] where there is one).
    pub fn projection(&self, name: &str, in_dim: usize, out_dim: usize) -> candle_core::Result<Linear> {
        let bias_name = format!("{name}.bias");
        let bias = if self.dense.contains_tensor(&bias_name) { Some(self.dense.get(out_dim, &bias_name)?) } else { None };
        match self.quantized(&format!("{name}.weight"), (out_dim, in_dim))? {
            // Stored column-major already (see `super::llama::prepare`).
            None => Ok(Linear::Dense { weight: self.dense.get((out_dim, in_dim), &format!("{name}.weight"))?, bias }),
            Some(q) => Ok(Linear::Quantized { weight: q, bias }),
        }
    }

    /// A table read a row at a time (`token_embd.weight`, `output.weight`), [rows, width].
    pub fn table(&self, name: &str, rows: usize, width: usize) -> candle_core::Result<Table> {
        match self.quantized(name, (rows, width))? {
            Some(q) => Ok(Table::Quantized(q)),
            None => Ok(Table::Dense(self.dense.get((rows, width), name)?)),
        }
    }
}

/// Rows of a vocabulary-sized table de-quantized at a time for a product: 16 MB of float32
/// at a width of 512.
const SLAB_ROWS: usize = 8192;

/// An embedding table [rows, width], float32 or quantized: rows looked up by id, and the
/// table multiplied by a few vectors (the output projection, tied or not).
#[derive(Clone)]
pub enum Table {
    Dense(Tensor),
    Quantized(Arc<QTensor>),
}

impl Table {
    /// The rows of `ids` [n] → [n, width]
    pub fn rows(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense(table) => table.index_select(ids, 0),
            Self::Quantized(table) => table.embedding(ids),
        }
    }

    /// x [n, width] → x · tableᵀ [n, rows], a slab of rows de-quantized at a time.
    pub fn times_transposed(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense(table) => x.matmul(&table.t()?),
            Self::Quantized(table) => {
                let (rows, _) = table.shape().dims2()?;
                let slabs = (0..rows)
                    .step_by(SLAB_ROWS)
                    .map(|start| x.matmul(&dequantized_rows(table, start, SLAB_ROWS.min(rows - start))?.t()?))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::cat(&slabs, 1)
            }
        }
    }
}

/// Rows `start..start + count` of a quantized matrix [rows, width], de-quantized: [count, width].
/// Each row is a whole number of blocks, so the rows are a slice of the stored bytes.
fn dequantized_rows(q: &QTensor, start: usize, count: usize) -> candle_core::Result<Tensor> {
    let (_, width) = q.shape().dims2()?;
    let dtype = q.dtype();
    let row_bytes = width / dtype.block_size() * dtype.type_size();
    let data = q.data()?;
    let bytes = data
        .get(start * row_bytes..(start + count) * row_bytes)
        .ok_or_else(|| candle_core::Error::Msg(format!("rows {start}..{} are past the table's end", start + count)))?;
    let device = q.device();
    qtensor_from_ggml(dtype, bytes, vec![count, width], &device)?.dequantize(&device)
}

/// Whether a weight of this name and GGUF type stays quantized on the quantized path: the
/// matrices of the projections and embedding tables, in a type candle multiplies quantized.
/// Norms, biases and float tensors are always float32; so are fused projections that are
/// split at load (Phi-3's `attn_qkv`, its double-height `ffn_up`).
pub fn stays_quantized(name: &str, q: &QTensor, fused: bool) -> bool {
    use candle_core::quantized::GgmlDType as T;
    let quantized_type = !matches!(q.dtype(), T::F32 | T::F16 | T::BF16);
    // Rows of whole blocks, so a slab of rows is a slice of the stored bytes.
    let whole_blocks = q.shape().dims().last().is_some_and(|w| w % q.dtype().block_size() == 0);
    quantized_type && q.shape().rank() == 2 && whole_blocks && name.ends_with(".weight") && !fused
}
