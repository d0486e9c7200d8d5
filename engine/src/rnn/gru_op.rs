//! One GRU step's gates as a single candle operation with its own backward pass.
//!
//! Written out in candle's tensor operations, a step is about fourteen operations forward
//! and as many backward, each allocating its result: for the dates models' small matrices
//! (64 × 96) that bookkeeping, not the arithmetic, was most of a batch's time. As one
//! operation the step is its recurrent product, its bias and this. The finite-difference
//! tests (train/gradients.rs) check the backward pass.
//!
//! Inputs: `gates` [B, 6H] = [x·W_ih + b_ih | h·W_hh + b_hh], PyTorch's order r, z, n in each
//! half; the state h [B, H]; `keep` [B, 1], 1 where the step reads a character and 0 where it
//! reads padding (the state is kept). Output:
//!   r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n),
//!   h' = n + z ⊙ (h − n), out = h + keep ⊙ (h' − h).

use candle_core::{CpuStorage, CustomOp3, DType, Error, Layout, Result, Shape, Tensor};

pub struct GruGates;

/// The two element types the fused operations compute in, each in its own precision.
pub(crate) trait Real:
    Copy + candle_core::WithDType + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> + std::ops::Mul<Output = Self> + std::ops::AddAssign
{
    const ONE: Self;
    const ZERO: Self;
    fn tanh(self) -> Self;
    fn sigmoid(self) -> Self;
}

impl Real for f32 {
    const ONE: Self = 1.0;
    const ZERO: Self = 0.0;
    /// 1 − 2 / (e^{2x} + 1): within 3e-7 of tanh (float32's rounding near 1), and several
    /// times faster than the C library's tanhf, which the attention's scores call millions
    /// of times a batch. Overflow is harmless: e^{2x} = ∞ gives 1, e^{2x} = 0 gives −1.
    fn tanh(self) -> Self {
        1.0 - 2.0 / ((2.0 * self).exp() + 1.0)
    }
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
}

impl Real for f64 {
    const ONE: Self = 1.0;
    const ZERO: Self = 0.0;
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
}

/// The contiguous values of a tensor's storage.
pub(crate) fn slice<'a, T: candle_core::WithDType>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [T]> {
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| Error::Msg("the GRU step needs contiguous tensors".into()))?;
    Ok(&T::cpu_storage_as_slice(storage)?[start..end])
}

/// The gates of one unit of one row: (r, z, n, gh_n) from the row's `gates` [6H] at unit `k`.
fn unit<T: Real>(gates: &[T], units: usize, k: usize) -> (T, T, T, T) {
    let (gi, gh) = gates.split_at(3 * units);
    let r = (gi[k] + gh[k]).sigmoid();
    let z = (gi[units + k] + gh[units + k]).sigmoid();
    let n = (gi[2 * units + k] + r * gh[2 * units + k]).tanh();
    (r, z, n, gh[2 * units + k])
}

/// The step's output [B, H].
fn forward<T: Real>(gates: &[T], h: &[T], keep: &[T], units: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(h.len());
    for (b, (row, state)) in gates.chunks_exact(6 * units).zip(h.chunks_exact(units)).enumerate() {
        for (k, &old) in state.iter().enumerate() {
            let (_, z, n, _) = unit(row, units, k);
            out.push(old + keep[b] * (n + z * (old - n) - old));
        }
    }
    out
}

/// The gradients of the gates [B, 6H] and of the state [B, H], given the output's `g`.
fn backward<T: Real>(gates: &[T], h: &[T], keep: &[T], g: &[T], units: usize) -> (Vec<T>, Vec<T>) {
    let (mut d_gates, mut d_h) = (vec![T::ZERO; gates.len()], vec![T::ZERO; h.len()]);
    for (b, (row, d_row)) in gates.chunks_exact(6 * units).zip(d_gates.chunks_exact_mut(6 * units)).enumerate() {
        for k in 0..units {
            let (r, z, n, gh_n) = unit(row, units, k);
            let (i, m) = (b * units + k, keep[b]);
            let d_new = m * g[i]; // through h'
            d_h[i] = (T::ONE - m) * g[i] + d_new * z;
            let d_n = d_new * (T::ONE - z) * (T::ONE - n * n); // before the tanh
            let d_z = d_new * (h[i] - n) * z * (T::ONE - z); // before the sigmoid
            let d_r = d_n * gh_n * r * (T::ONE - r);
            for (part, d) in [(0, d_r), (1, d_z)] {
                d_row[part * units + k] = d; // gi
                d_row[(3 + part) * units + k] = d; // gh
            }
            d_row[2 * units + k] = d_n;
            d_row[5 * units + k] = d_n * r;
        }
    }
    (d_gates, d_h)
}

impl CustomOp3 for GruGates {
    fn name(&self) -> &'static str {
        "gru-gates"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let (batch, units) = l2.shape().dims2()?;
        if units == 0 || l1.shape().elem_count() != batch * 6 * units || l3.shape().elem_count() != batch {
            return Err(Error::Msg(format!("the GRU step's gates are {:?} for a state of {:?}", l1.shape(), l2.shape())));
        }
        let out = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(forward::<f32>(slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?, units)),
            CpuStorage::F64(_) => CpuStorage::F64(forward::<f64>(slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?, units)),
            _ => return Err(Error::Msg("the GRU step takes float32 or float64".into())),
        };
        Ok((out, Shape::from((batch, units))))
    }

    fn bwd(&self, gates: &Tensor, h: &Tensor, keep: &Tensor, _: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let units = h.dim(1)?;
        let flat = |t: &Tensor| t.contiguous()?.flatten_all();
        let (gates_flat, h_flat, keep_flat, g_flat) = (flat(gates)?, flat(h)?, flat(keep)?, flat(grad)?);
        let device = gates.device();
        let (d_gates, d_h) = match gates.dtype() {
            DType::F32 => {
                let (d_gates, d_h) = backward::<f32>(&gates_flat.to_vec1()?, &h_flat.to_vec1()?, &keep_flat.to_vec1()?, &g_flat.to_vec1()?, units);
                (Tensor::from_vec(d_gates, gates.shape(), device)?, Tensor::from_vec(d_h, h.shape(), device)?)
            }
            _ => {
                let (d_gates, d_h) = backward::<f64>(&gates_flat.to_vec1()?, &h_flat.to_vec1()?, &keep_flat.to_vec1()?, &g_flat.to_vec1()?, units);
                (Tensor::from_vec(d_gates, gates.shape(), device)?, Tensor::from_vec(d_h, h.shape(), device)?)
            }
        };
        Ok((Some(d_gates), Some(d_h), None))
    }
}

/// One GRU step: `gi` [B, 3H] the input's gates, `gh` [B, 3H] the state's, h [B, H], `keep`
/// [B, 1] (1: the step reads; 0: padding, the state is kept) → the next state [B, H].
pub fn gru_step(gi: &Tensor, gh: &Tensor, h: &Tensor, keep: &Tensor) -> Result<Tensor> {
    let gates = Tensor::cat(&[gi, gh], 1)?;
    gates.apply_op3(&h.contiguous()?, &keep.contiguous()?, GruGates)
}

#[cfg(test)]
mod tests {
    use super::Real;

    #[test]
    fn float32s_tanh_is_within_3e_7_of_float64s() {
        // Every 1/1000 from −20 to 20: near 0 (where 1 − 2/(e^{2x} + 1) cancels), through
        // the bend, and past where e^{2x} overflows float32 (x > 44 gives ∞: tested too).
        let worst = (-20_000..=20_000)
            .map(|i| i as f32 / 1000.0)
            .chain([-100.0, 100.0, f32::MIN, f32::MAX])
            .map(|x| (f64::from(Real::tanh(x)) - f64::from(x).tanh()).abs())
            .fold(0.0, f64::max);
        // float32's spacing near 1 is 1.2e-7: the division and the subtraction from 1 each
        // round once.
        assert!(worst < 3e-7, "{worst}");
    }
}
