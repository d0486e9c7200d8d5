//! The additive score as one candle operation with its own backward pass:
//! score[b, j] = Σ_a v_a tanh(k[b, j, a] + q[b, a]) (Bahdanau's vᵀ tanh(W₁h + W₂s) with the
//! projections k = h W₁ and q = s W₂ made before; Luong's concat likewise).
//!
//! In candle's operations the [B, S, A] sum and its tanh are tensors of their own, forward
//! and backward, at every decoder step: most of a dates model's batch. Fused, the tanh is
//! computed where it is used (again in the backward pass, rather than kept). The
//! finite-difference tests (train/gradients.rs) check the backward pass.

use candle_core::{CpuStorage, CustomOp3, DType, Error, Layout, Result, Shape, Tensor};

use super::gru_op::{slice, Real};

pub struct AdditiveScore;

fn forward<T: Real>(keys: &[T], query: &[T], v: &[T], (batch, slots, units): (usize, usize, usize)) -> Vec<T> {
    let mut scores = Vec::with_capacity(batch * slots);
    for b in 0..batch {
        let q = &query[b * units..(b + 1) * units];
        for key in keys[b * slots * units..(b + 1) * slots * units].chunks_exact(units) {
            let mut score = T::ZERO;
            for ((&k, &q), &v) in key.iter().zip(q).zip(v) {
                score += v * (k + q).tanh();
            }
            scores.push(score);
        }
    }
    scores
}

/// The gradients of the keys [B, S, A], the query [B, A] and v [A], given the scores' `g`.
fn backward<T: Real>(keys: &[T], query: &[T], v: &[T], g: &[T], (batch, slots, units): (usize, usize, usize)) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (mut d_keys, mut d_query, mut d_v) = (vec![T::ZERO; keys.len()], vec![T::ZERO; query.len()], vec![T::ZERO; v.len()]);
    for b in 0..batch {
        let q = &query[b * units..(b + 1) * units];
        for j in 0..slots {
            let at = (b * slots + j) * units;
            let grad = g[b * slots + j];
            for a in 0..units {
                let t = (keys[at + a] + q[a]).tanh();
                let d = grad * v[a] * (T::ONE - t * t);
                d_keys[at + a] = d;
                d_query[b * units + a] += d;
                d_v[a] += grad * t;
            }
        }
    }
    (d_keys, d_query, d_v)
}

/// The three gradients as tensors shaped like what they are gradients of.
fn tensors<T: Real>((d_keys, d_query, d_v): (Vec<T>, Vec<T>, Vec<T>), (keys, query, v): (&Tensor, &Tensor, &Tensor)) -> Result<(Tensor, Tensor, Tensor)> {
    let device = keys.device();
    Ok((Tensor::from_vec(d_keys, keys.shape(), device)?, Tensor::from_vec(d_query, query.shape(), device)?, Tensor::from_vec(d_v, v.shape(), device)?))
}

impl CustomOp3 for AdditiveScore {
    fn name(&self) -> &'static str {
        "additive-score"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = l1.shape().dims3()?;
        let (batch, slots, units) = dims;
        if units == 0 || l2.shape().dims() != [batch, units] || l3.shape().dims() != [units] {
            return Err(Error::Msg(format!("additive scores of keys {:?}, a query {:?} and v {:?}", l1.shape(), l2.shape(), l3.shape())));
        }
        let scores = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(forward::<f32>(slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?, dims)),
            CpuStorage::F64(_) => CpuStorage::F64(forward::<f64>(slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?, dims)),
            _ => return Err(Error::Msg("additive scores take float32 or float64".into())),
        };
        Ok((scores, Shape::from((batch, slots))))
    }

    fn bwd(&self, keys: &Tensor, query: &Tensor, v: &Tensor, _: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dims = keys.dims3()?;
        let flat = |t: &Tensor| t.contiguous()?.flatten_all();
        let (k, q, w, g) = (flat(keys)?, flat(query)?, flat(v)?, flat(grad)?);
        let (d_keys, d_query, d_v) = match keys.dtype() {
            DType::F32 => tensors(backward::<f32>(&k.to_vec1()?, &q.to_vec1()?, &w.to_vec1()?, &g.to_vec1()?, dims), (keys, query, v))?,
            _ => tensors(backward::<f64>(&k.to_vec1()?, &q.to_vec1()?, &w.to_vec1()?, &g.to_vec1()?, dims), (keys, query, v))?,
        };
        Ok((Some(d_keys), Some(d_query), Some(d_v)))
    }
}

/// Additive scores [B, S] of the projected keys [B, S, A] and query [B, A] with v [A].
pub fn additive_scores(keys: &Tensor, query: &Tensor, v: &Tensor) -> Result<Tensor> {
    keys.contiguous()?.apply_op3(&query.contiguous()?, &v.contiguous()?, AdditiveScore)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    #[test]
    fn bahdanaus_additive_score_by_hand() {
        // q W_q = [1, −2] and k W_k = [1.5, 3] made before; v = [2, −1]:
        // score = 2 tanh(2.5) − tanh(1), in float64 and in float32.
        let expected = 2.0 * 2.5f64.tanh() - 1f64.tanh();
        let keys = Tensor::new(&[[[1.5f64, 3.0]]], &Device::Cpu).unwrap();
        let (query, v) = (Tensor::new(&[[1.0f64, -2.0]], &Device::Cpu).unwrap(), Tensor::new(&[2.0f64, -1.0], &Device::Cpu).unwrap());
        let exact: Vec<Vec<f64>> = super::additive_scores(&keys, &query, &v).unwrap().to_vec2().unwrap();
        assert!((exact[0][0] - expected).abs() < 1e-15, "{exact:?} against {expected}");
        let f32s = |t: &Tensor| t.to_dtype(candle_core::DType::F32).unwrap();
        let single: Vec<Vec<f32>> = super::additive_scores(&f32s(&keys), &f32s(&query), &f32s(&v)).unwrap().to_vec2().unwrap();
        // Three tanh terms of float32 within 3e-7 each (gru_op.rs), times |v| ≤ 2.
        assert!((f64::from(single[0][0]) - expected).abs() < 1e-6, "{single:?} against {expected}");
    }
}
