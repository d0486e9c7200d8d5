//! Every matrix product the engine makes: the projections, attention's two products and the
//! readout, in one place so that a faster product reaches every model at once.
//!
//! Two of the engine's own products, beside candle's:
//! - [`one_row`]: a single row times a matrix (a decoder's step, a readout). candle hands
//!   that to gemm, whose one-row path is vectorised natively but runs as scalar code in
//!   WebAssembly (a third of a translation in the page). Loops the compiler vectorises for
//!   simd128 and AVX alike: natively every projection of one row, in WebAssembly the
//!   translator's and Whisper's readouts (a projection of one row there is blocked).
//! - [`blocked`]: more rows. gemm's simd128 path measured about 11 GFLOP/s on one core here
//!   (SmolLM2's 21 × 576 × 1536 projection, in Chromium and in Node alike), where the
//!   register-blocked loop reaches about 45. Natively candle's own products (gemm with AVX,
//!   on every core) stay the faster, and the projections of several rows use them there.
//!
//! Both sum each output over the inner dimension one term after the other, as the naive
//! loop sums, so they agree with each other to the bit and with gemm to float rounding.
//!
//! Attention's two products go through the blocked product everywhere, natively too
//! ([`attention_product`]): an output's sum depends only on its own row and column, never on
//! the matrices' sizes, the blocking or the threads. gemm blocks the inner dimension by a
//! length it derives from the processor's caches and the operands' sizes (past 512 keys it
//! may cut them in two), so the same probabilities times the same values summed over 480
//! keys of a stretch and over 600 keys of a whole row (the masked ones 0) came out a few
//! ulp apart on some processors and not on others. Here they are the same bits: a term of
//! weight 0 adds nothing, wherever it stands, and no multiply is fused into an addition
//! (Rust does not contract them), so the sums are the same on every processor, natively
//! (any SIMD level) and in WebAssembly.

mod blocked;
mod one_row;

use candle_core::{DType, Layout, Result, Tensor};

pub use blocked::matrix_product;
pub use one_row::rows_times_matrix;

/// Natively, products of this many rows or fewer go through [`one_row`] (a decoder's step, a
/// readout of the last token): on par with gemm's one-row path, and on one thread.
#[cfg(not(target_arch = "wasm32"))]
const ONE_ROW_PRODUCTS_UP_TO: usize = 1;

/// `a` · `b`, [.., m, k] · [.., k, n] with the same batch: in WebAssembly by
/// [`matrix_product`] (float32, at most one batch dimension), a single row too (its simd128
/// tiles beat the one-row loops there: SmolLM2 with one word appended to a kept prefix took
/// 52 ms through it and 69 ms through [`rows_times_matrix`], `make bench`); elsewhere one row
/// by [`rows_times_matrix`] and more by candle's product.
pub fn product(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    #[cfg(not(target_arch = "wasm32"))]
    if a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && a.rank() == 2
        && b.rank() == 2
        && a.dim(0)? <= ONE_ROW_PRODUCTS_UP_TO
        && b.stride()[1] == 1
        && b.stride()[0] >= b.dim(1)?
    {
        return rows_times_matrix(&a.contiguous()?, b);
    }
    #[cfg(target_arch = "wasm32")]
    if a.dtype() == DType::F32 && b.dtype() == DType::F32 && a.rank() == b.rank() && (2..=3).contains(&a.rank()) {
        let b = if b.stride().last() == Some(&1) { b.clone() } else { b.contiguous()? };
        return matrix_product(&a.contiguous()?, &b);
    }
    a.matmul(b)
}

/// `a` · `b` for attention (q · kᵀ, then weights · values), [.., m, k] · [.., k, n] with at
/// most one batch dimension: by [`matrix_product`] on every target, in float32, so that an
/// output is the same whatever else is multiplied with it (see the module's notes): a
/// stretch of a long text's rows, a head's map asked for again and the whole run's map
/// are the same bits.
pub fn attention_product(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let as_f32 = |x: &Tensor| x.to_dtype(DType::F32);
    let (a, b) = (as_f32(a)?.contiguous()?, as_f32(b)?);
    let b = if b.stride().last() == Some(&1) { b } else { b.contiguous()? };
    matrix_product(&a, &b)
}

/// x [.., in] · Wᵀ for W [out, in] → [.., out] (see [`product`]).
pub fn times_transposed(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    let Some(last) = dims.last_mut() else { candle_core::bail!("a projection of a scalar") };
    let inner = std::mem::replace(last, weight.dim(0)?);
    product(&x.reshape(((), inner))?, &weight.t()?)?.reshape(dims)
}

/// y [.., out] + b [out], where there is a bias.
pub fn with_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(bias) => y.broadcast_add(bias),
        None => Ok(y),
    }
}

/// A matrix whose rows are `row_stride` apart in `values`, `columns` wide.
#[derive(Clone, Copy)]
struct Strided<'a> {
    values: &'a [f32],
    row_stride: usize,
    columns: usize,
}

/// Where the right operand `w` [k, n] (or a batch of them) lies in its storage: its first
/// value, how far apart its rows are (its columns must be side by side), how far apart the
/// matrices of a batch are, and how many values one matrix spans.
fn right_operand(op: &str, layout: &Layout, (k, n): (usize, usize)) -> Result<(usize, usize, usize, usize)> {
    let stride = layout.stride();
    let (batch_stride, row_stride, column_stride) = match *stride {
        [rows, columns] => (0, rows, columns),
        [matrices, rows, columns] => (matrices, rows, columns),
        _ => candle_core::bail!("{op} takes two matrices or two batches of them, not {:?}", layout.dims()),
    };
    let row_stride = match (row_stride, column_stride) {
        (rows, 1) if rows >= n => rows,
        (rows, _) if n == 1 => rows,
        _ if k <= 1 => n,
        _ => candle_core::bail!("{op} needs the right operand's columns side by side, not strides {stride:?}"),
    };
    let matrix_len = if k == 0 || n == 0 { 0 } else { (k - 1) * row_stride + n };
    Ok((layout.start_offset(), row_stride, batch_stride, matrix_len))
}
