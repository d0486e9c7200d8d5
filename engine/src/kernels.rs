//! Kernels candle lacks or runs slowly in WebAssembly: the activations and the softmax
//! (copying and in place, scaled and masked). (The products are [`crate::products`]; the
//! head scores' entropy sums, `report::analysis::entropy`.)
//!
//! candle's relu is `max(v, 0)`, which WebAssembly turns into a call to `fmaxf` per
//! element (its own `max` treats NaN differently); [`relu`] compares and selects instead.
//!
//! candle's softmax calls `expf` once per weight, which in WebAssembly is a scalar library
//! routine: Whisper's encoder takes 54 million of them per transcription. [`softmax_scaled`]
//! scales, exponentiates (Cephes' polynomial, within 2 ulp of `expf`, in plain float
//! arithmetic the compiler vectorises) and normalises each row in one pass.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, InplaceOp1, InplaceOp2, Layout, Result, Shape, Tensor};

/// max(x, 0) elementwise, for contiguous float32 (anything else goes to candle's relu).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    // NaN > 0 is false: a NaN becomes 0, as `f32::max(NaN, 0)` gives.
    elementwise(x, &Elementwise { name: "relu-select", f: |v| if v > 0.0 { v } else { 0.0 } }, Tensor::relu)
}

/// GELU with the exact erf, x · (1 + erf(x / √2)) / 2, for contiguous float32 (anything else
/// goes to candle's): candle computes erf in float64 with branches per element, which in
/// WebAssembly took a tenth of a Whisper transcription; [`erf`] here is float32, within
/// 1e-6 of it, and vectorises.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    let gelu = |v: f32| 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
    elementwise(x, &Elementwise { name: "gelu-erf", f: gelu }, Tensor::gelu_erf)
}

/// SiLU, x · σ(x), for contiguous float32 (anything else goes to candle's): candle's calls
/// `expf` per value, a scalar library routine in WebAssembly (95 million of them for a
/// 2,000-token text through SmolLM2). Here σ(x) is built from e^-|x| by [`exp_nonpositive`]:
/// 1 / (1 + e^-x) for x ≥ 0, e^x / (1 + e^x) below, so the exponent never overflows.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    let silu = |v: f32| {
        let e = exp_nonpositive(-v.abs());
        let sigmoid = if v >= 0.0 { 1.0 } else { e } / (1.0 + e);
        v * sigmoid
    };
    elementwise(x, &Elementwise { name: "silu", f: silu }, candle_nn::ops::silu)
}

/// `op` on contiguous float32, `otherwise` on anything else.
fn elementwise<F: Fn(f32) -> f32 + Send + Sync>(x: &Tensor, op: &Elementwise<F>, otherwise: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    if x.dtype() == candle_core::DType::F32 && x.is_contiguous() {
        x.apply_op1_no_bwd(op)
    } else {
        otherwise(x)
    }
}

/// A function of each value, in a loop the compiler can vectorise (generic, so that the
/// function is inlined into the loop, not called through a pointer).
struct Elementwise<F> {
    name: &'static str,
    f: F,
}

impl<F: Fn(f32) -> f32 + Send + Sync> CustomOp1 for Elementwise<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("{} needs contiguous float32", self.name)
        };
        let out = values[start..end].iter().map(|&v| (self.f)(v)).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// erf in float32 (Norbert Juffa's minimax polynomials: one for |x| < 0.9277, one through
/// 1 − e^p(|x|) beyond), both computed and one selected, so that a loop of it vectorises.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let t = x.abs();
    let s = x * x;
    // Near 0: x + x·p(x²).
    let mut near = -5.967_617e-4;
    near = near * s + 4.991_194_2e-3;
    near = near * s + -2.676_813_5e-2;
    near = near * s + 1.128_199_3e-1;
    near = near * s + -3.761_253_4e-1;
    near = near * s + 1.283_791_7e-1;
    let near = near * x + x;
    // Beyond: 1 − e^(p(t)), p(t) ≤ 0, with the sign of x.
    let r = -1.728_534_7e-5 * t + 3.831_971_3e-4;
    let u = -3.883_964_4e-3 * t + 2.425_462_2e-2;
    let mut far = r * s + u;
    far = far * t + -1.067_778_8e-1;
    far = far * t + -6.348_467e-1;
    far = far * t + -1.287_175_1e-1;
    far = far * t - t;
    let far = (1.0 - exp_nonpositive(far)).copysign(x);
    if t > 0.927_734_4 {
        far
    } else {
        near
    }
}

/// softmax(scale · x) along the last axis of contiguous float32 `x` (any other tensor goes
/// through candle's ops): each row's largest value is subtracted first, and -inf (a masked
/// key) gives exactly 0.
pub fn softmax_scaled(x: &Tensor, scale: f32) -> Result<Tensor> {
    if x.dtype() == candle_core::DType::F32 && x.is_contiguous() && scale > 0.0 {
        x.apply_op1_no_bwd(&SoftmaxScaled { scale })
    } else {
        candle_nn::ops::softmax_last_dim(&(x * f64::from(scale))?)
    }
}

struct SoftmaxScaled {
    scale: f32,
}

impl CustomOp1 for SoftmaxScaled {
    fn name(&self) -> &'static str {
        "softmax-scaled"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("softmax-scaled needs contiguous float32")
        };
        let n = layout.dims().last().copied().unwrap_or(1).max(1);
        let mut out = values[start..end].to_vec();
        each_row(&mut out, n, |_, row| softmax_in_place(row, self.scale));
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

impl InplaceOp1 for SoftmaxScaled {
    fn name(&self) -> &'static str {
        "softmax-scaled-in-place"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("softmax-scaled needs contiguous float32")
        };
        let n = layout.dims().last().copied().unwrap_or(1).max(1);
        each_row(&mut values[start..end], n, |_, row| softmax_in_place(row, self.scale));
        Ok(())
    }
}

/// [`softmax_scaled`] or (with `mask`) [`softmax_scaled_masked`] where `x`'s values lie, when
/// they are contiguous float32 (true); otherwise `x` is left as it was (false). The scores
/// become the weights with no second tensor as large (38 MB a layer at 1,024 tokens of
/// SmolLM2, each a fresh allocation the system must zero).
pub fn softmax_in_place_where_possible(x: &Tensor, scale: f32, mask: Option<&Tensor>) -> Result<bool> {
    let fits = x.dtype() == candle_core::DType::F32 && x.is_contiguous() && scale > 0.0;
    match mask {
        None if fits => x.inplace_op1(&SoftmaxScaled { scale }).map(|_| true),
        Some(mask) if fits && mask.dtype() == candle_core::DType::F32 && mask.is_contiguous() && x.rank() >= 2 && mask.dims() == &x.dims()[x.rank() - 2..] => {
            x.inplace_op2(mask, &SoftmaxScaledMasked { scale }).map(|_| true)
        }
        _ => Ok(false),
    }
}

/// softmax(scale · x + mask) along the last axis: `x` [.., q, k] and `mask` [q, k] (0 or
/// -inf, broadcast over the leading axes), both contiguous float32, in one pass over the
/// scores where candle's ops would make three tensors of them (a long text's are tens of MB a
/// layer). The same numbers as scaling, adding the mask and [`softmax_scaled`] apart: each
/// score is rounded to float32 at the same steps. Other tensors go that way.
pub fn softmax_scaled_masked(x: &Tensor, scale: f32, mask: &Tensor) -> Result<Tensor> {
    let fits = x.dtype() == candle_core::DType::F32
        && mask.dtype() == candle_core::DType::F32
        && x.is_contiguous()
        && mask.is_contiguous()
        && x.rank() >= 2
        && mask.dims() == &x.dims()[x.rank() - 2..];
    if fits {
        x.apply_op2_no_bwd(mask, &SoftmaxScaledMasked { scale })
    } else {
        softmax_scaled(&(x * f64::from(scale))?.broadcast_add(mask)?.contiguous()?, 1.0)
    }
}

struct SoftmaxScaledMasked {
    scale: f32,
}

impl CustomOp2 for SoftmaxScaledMasked {
    fn name(&self) -> &'static str {
        "softmax-scaled-masked"
    }

    fn cpu_fwd(&self, scores: &CpuStorage, scores_layout: &Layout, mask: &CpuStorage, mask_layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(values), Some((start, end)), CpuStorage::F32(masks), Some((mask_start, mask_end))) =
            (scores, scores_layout.contiguous_offsets(), mask, mask_layout.contiguous_offsets())
        else {
            candle_core::bail!("softmax-scaled-masked needs contiguous float32")
        };
        let mut out = values[start..end].to_vec();
        self.apply(&mut out, scores_layout, &masks[mask_start..mask_end]);
        Ok((CpuStorage::F32(out), scores_layout.shape().clone()))
    }
}

impl InplaceOp2 for SoftmaxScaledMasked {
    fn name(&self) -> &'static str {
        "softmax-scaled-masked-in-place"
    }

    fn cpu_fwd(&self, scores: &mut CpuStorage, scores_layout: &Layout, mask: &CpuStorage, mask_layout: &Layout) -> Result<()> {
        let (CpuStorage::F32(values), Some((start, end)), CpuStorage::F32(masks), Some((mask_start, mask_end))) =
            (scores, scores_layout.contiguous_offsets(), mask, mask_layout.contiguous_offsets())
        else {
            candle_core::bail!("softmax-scaled-masked needs contiguous float32")
        };
        self.apply(&mut values[start..end], scores_layout, &masks[mask_start..mask_end]);
        Ok(())
    }
}

impl SoftmaxScaledMasked {
    /// Turns `scores` (rows of the layout's last axis) into weights where they lie.
    fn apply(&self, scores: &mut [f32], layout: &Layout, mask: &[f32]) {
        let n = layout.dims().last().copied().unwrap_or(1).max(1);
        let mask_rows = (mask.len() / n).max(1);
        // Row r of the scores takes row r mod q of the mask.
        each_row(scores, n, |r, row| {
            masked_softmax::<false>(row, &mask[(r % mask_rows) * n..][..n], self.scale);
        });
    }
}

/// `op(r, row r)` for every row of `n` values. Natively the rows are spread over rayon's
/// threads (candle runs a custom op on one, and the softmax was an eighth of a 1,024-token
/// run there); in wasm they run in order, as the engine splits attention across the threads
/// itself (see [`crate::parallel`]).
fn each_row(values: &mut [f32], n: usize, op: impl Fn(usize, &mut [f32]) + Sync) {
    let mut unused = vec![0.0f32; values.len() / n.max(1)];
    each_row_with(values, n, &mut unused, |r, row| {
        op(r, row);
        0.0
    });
}

/// [`each_row`] where each row also gives a number, kept in `slots` (one a row).
fn each_row_with(values: &mut [f32], n: usize, slots: &mut [f32], op: impl Fn(usize, &mut [f32]) -> f32 + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        // Below this many values a split costs more than it saves.
        const SPLIT_FROM: usize = 1 << 16;
        if values.len() >= SPLIT_FROM && rayon::current_num_threads() > 1 {
            values
                .par_chunks_exact_mut(n)
                .zip(slots.par_iter_mut())
                .enumerate()
                .with_min_len((SPLIT_FROM / n).max(1))
                .for_each(|(r, (row, slot))| *slot = op(r, row));
            return;
        }
    }
    for (r, (row, slot)) in values.chunks_exact_mut(n).zip(slots.iter_mut()).enumerate() {
        *slot = op(r, row);
    }
}

/// A row of [`softmax_scaled`], in place. Each pass is a loop the compiler vectorises: the
/// exponentials a plain map, the largest value and the sum kept in [`LANES`] running lanes
/// (a loop that folds into one float waits on each addition before the next, and one that
/// sums as it exponentiates ran scalar: a third of a long text's time natively).
#[inline(always)]
fn softmax_in_place(row: &mut [f32], scale: f32) {
    softmax_and_entropy::<false>(row, scale);
}

/// A row of [`softmax_scaled`] in place and, with `ENTROPY`, the weights' entropy in bits
/// (else 0), from what the softmax has at hand: with e_i = exp(d_i) (d_i the shifted, scaled
/// score) and Z = Σ e_i, -Σ p_i ln p_i = ln Z − Σ e_i d_i / Z: one multiply and one addition
/// a weight where the weights' own logarithms took a polynomial each (a tenth of a long
/// text's run natively). The weights are the same bits either way.
#[inline(always)]
fn softmax_and_entropy<const ENTROPY: bool>(row: &mut [f32], scale: f32) -> f32 {
    let max = largest(row);
    if max == f32::NEG_INFINITY {
        row.fill(0.0); // nothing to attend to (every key masked): no weight anywhere
        return 0.0;
    }
    let mut weighted = [0.0f32; LANES];
    if ENTROPY {
        // The exponents d_i first, then a block at a time: e_i from a copy of them, and
        // Σ e_i d_i in lanes. Three plain loops, each vectorised in WebAssembly too (one
        // that exponentiates and sums at once ran as scalar code there, slower than taking
        // the logarithms after). The same operations on each weight, so the same bits.
        row.iter_mut().for_each(|v| *v = (*v - max) * scale);
        let mut exponents = [0.0f32; ENTROPY_BLOCK];
        for block in row.chunks_mut(ENTROPY_BLOCK) {
            let exponents = &mut exponents[..block.len()];
            exponents.copy_from_slice(block);
            for (e, &d) in block.iter_mut().zip(exponents.iter()) {
                *e = exp_nonpositive(d);
            }
            add_weighted_exponents(&mut weighted, block, exponents);
        }
    } else {
        for v in row.iter_mut() {
            *v = exp_nonpositive((*v - max) * scale);
        }
    }
    let sum = lane_sum(row);
    let inverse = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inverse);
    if !ENTROPY {
        return 0.0;
    }
    let nats = sum.ln() - weighted.iter().sum::<f32>() / sum;
    // Never below 0 (a one-hot row's two terms may round a hair apart).
    (nats * std::f32::consts::LOG2_E).max(0.0)
}

/// Exponents a block of [`softmax_and_entropy`] takes at a time (a multiple of [`LANES`]):
/// a copy small enough to stay in the nearest cache.
const ENTROPY_BLOCK: usize = 64;

/// Σ e_i d_i into `weighted`'s lanes; a masked key (e_i = 0, d_i = -inf) adds nothing.
#[inline(always)]
fn add_weighted_exponents(weighted: &mut [f32; LANES], e: &[f32], d: &[f32]) {
    let term = |e: f32, d: f32| if e > 0.0 { e * d } else { 0.0 };
    let (whole, rest) = (e.len() / LANES * LANES, e.len() % LANES);
    for (e, d) in e[..whole].chunks_exact(LANES).zip(d[..whole].chunks_exact(LANES)) {
        for lane in 0..LANES {
            weighted[lane] += term(e[lane], d[lane]);
        }
    }
    for lane in 0..rest {
        weighted[lane] += term(e[whole + lane], d[whole + lane]);
    }
}

/// A row of scores scaled, its mask row added (0 or -inf), and made weights in place (with
/// `ENTROPY`, their entropy in bits returned): each score rounded to float32 at the same
/// steps as scaling, adding and [`softmax_scaled`] apart.
#[inline(always)]
fn masked_softmax<const ENTROPY: bool>(row: &mut [f32], mask_row: &[f32], scale: f32) -> f32 {
    for (s, &m) in row.iter_mut().zip(mask_row) {
        *s = *s * scale + m;
    }
    softmax_and_entropy::<ENTROPY>(row, 1.0)
}

/// softmax(scale · x + mask) in place, as [`softmax_in_place_where_possible`] makes it, and
/// each row's entropy in bits, when `x` is contiguous float32 (and the mask fits as there);
/// `None`, and `x` left as it was, otherwise.
pub fn softmax_and_entropies_where_possible(x: &Tensor, scale: f32, mask: Option<&Tensor>) -> Result<Option<Vec<f32>>> {
    let fits = x.dtype() == candle_core::DType::F32 && x.is_contiguous() && scale > 0.0;
    let op = SoftmaxAndEntropies { scale, bits: std::sync::Mutex::new(Vec::new()) };
    let done = match mask {
        None if fits => x.inplace_op1(&op).map(|_| true)?,
        Some(mask) if fits && mask.dtype() == candle_core::DType::F32 && mask.is_contiguous() && x.rank() >= 2 && mask.dims() == &x.dims()[x.rank() - 2..] => {
            x.inplace_op2(mask, &op).map(|_| true)?
        }
        _ => false,
    };
    Ok(done.then(|| op.bits.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())))
}

/// The softmax in place, masked or not, keeping each row's entropy in bits.
struct SoftmaxAndEntropies {
    scale: f32,
    bits: std::sync::Mutex<Vec<f32>>,
}

impl SoftmaxAndEntropies {
    /// Rows of `n` scores become weights; row r adds row r mod q of `mask` first, if any.
    fn apply(&self, scores: &mut [f32], n: usize, mask: Option<&[f32]>) {
        let mut bits = vec![0.0f32; scores.len() / n.max(1)];
        let mask_rows = mask.map_or(1, |m| (m.len() / n).max(1));
        each_row_with(scores, n, &mut bits, |r, row| match mask {
            Some(mask) => masked_softmax::<true>(row, &mask[(r % mask_rows) * n..][..n], self.scale),
            None => softmax_and_entropy::<true>(row, self.scale),
        });
        *self.bits.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = bits;
    }
}

impl InplaceOp1 for SoftmaxAndEntropies {
    fn name(&self) -> &'static str {
        "softmax-and-entropies"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("softmax-and-entropies needs contiguous float32")
        };
        self.apply(&mut values[start..end], layout.dims().last().copied().unwrap_or(1).max(1), None);
        Ok(())
    }
}

impl InplaceOp2 for SoftmaxAndEntropies {
    fn name(&self) -> &'static str {
        "softmax-and-entropies-masked"
    }

    fn cpu_fwd(&self, scores: &mut CpuStorage, scores_layout: &Layout, mask: &CpuStorage, mask_layout: &Layout) -> Result<()> {
        let (CpuStorage::F32(values), Some((start, end)), CpuStorage::F32(masks), Some((mask_start, mask_end))) =
            (scores, scores_layout.contiguous_offsets(), mask, mask_layout.contiguous_offsets())
        else {
            candle_core::bail!("softmax-and-entropies needs contiguous float32")
        };
        let n = scores_layout.dims().last().copied().unwrap_or(1).max(1);
        self.apply(&mut values[start..end], n, Some(&masks[mask_start..mask_end]));
        Ok(())
    }
}

/// The sum of `row`, in [`LANES`] running sums: value i goes to lane i mod [`LANES`], the
/// last few too, and the lanes are added in order. Zeros at the row's end (masked keys)
/// then change no lane, so a row cut short after its last weight, as a long text's stretch
/// cuts it (see `attention::visible_keys`, which starts a cut row at a multiple of
/// [`LANES`]), sums to the same bits as the whole row.
#[inline(always)]
fn lane_sum(row: &[f32]) -> f32 {
    let mut sums = [0.0f32; LANES];
    let values = row.chunks_exact(LANES);
    let rest = values.remainder();
    for v in values {
        for lane in 0..LANES {
            sums[lane] += v[lane];
        }
    }
    for (sum, v) in sums.iter_mut().zip(rest) {
        *sum += v;
    }
    sums.iter().sum()
}

/// Lanes of the row loops that run as one vector (two of simd128, one of AVX).
pub const LANES: usize = 8;

/// The largest of `row` (-inf for none), lane by lane.
#[inline(always)]
fn largest(row: &[f32]) -> f32 {
    let mut maxes = [f32::NEG_INFINITY; LANES];
    let values = row.chunks_exact(LANES);
    let rest = values.remainder();
    for v in values {
        for lane in 0..LANES {
            maxes[lane] = if v[lane] > maxes[lane] { v[lane] } else { maxes[lane] };
        }
    }
    maxes.iter().chain(rest).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// e^x for x ≤ 0 (a softmax's shifted scores), 0 below -87 (and for -inf): x = n ln 2 + r,
/// e^r by Cephes' degree-6 polynomial, 2^n put in the exponent bits. Compares and selects,
/// no branches or library calls, so a loop of it vectorises (simd128, SSE).
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer, kept in the low bits
    let clamped = if x < -87.0 { -87.0 } else { x };
    let t = clamped * std::f32::consts::LOG2_E + SHIFTER;
    let n = t - SHIFTER;
    // ln 2 in two parts, so that r keeps its low bits.
    let r = clamped - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let e = p * r * r + r + 1.0;
    let two_to_n = f32::from_bits(((t.to_bits() as i32 - SHIFTER.to_bits() as i32 + 127) << 23) as u32);
    if x < -87.0 {
        0.0
    } else {
        e * two_to_n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn gelu_erf_is_candles_to_1e_6() {
        let x: Vec<f32> = (-120_000..=120_000).map(|i| i as f32 * 1e-4).collect();
        let x = Tensor::new(x.as_slice(), &Device::Cpu).unwrap();
        let ours = gelu_erf(&x).unwrap().to_vec1::<f32>().unwrap();
        let theirs = x.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "off by {worst:e}");
        assert_eq!(erf(0.0), 0.0);
        assert!((erf(10.0) - 1.0).abs() < 1e-7 && (erf(-10.0) + 1.0).abs() < 1e-7);
    }

    #[test]
    fn silu_is_candles_to_a_millionth() {
        let x: Vec<f32> = (-1_000_000..=1_000_000).map(|i| i as f32 * 1e-4).chain([-200.0, 200.0]).collect();
        let x = Tensor::new(x.as_slice(), &Device::Cpu).unwrap();
        let ours = silu(&x).unwrap().to_vec1::<f32>().unwrap();
        let theirs = candle_nn::ops::silu(&x).unwrap().to_vec1::<f32>().unwrap();
        let worst = ours.iter().zip(&theirs).map(|(a, b)| ((a - b) / b.abs().max(1.0)).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "off by {worst:e}");
    }

    #[test]
    fn the_polynomial_exp_is_within_two_ulp() {
        // Against e^x in float64 (exact to 1e-16, the same on every machine), not the C
        // library's expf, which differs by an ulp between libraries.
        let mut worst = 0.0f64;
        for i in 0..=870_000 {
            let x = -(i as f32) * 1e-4;
            let (ours, exact) = (f64::from(exp_nonpositive(x)), f64::from(x).exp());
            worst = worst.max(((ours - exact) / exact).abs());
        }
        // Two ulp of float32 (2 · 2^-23 relative at most, 2.4e-7).
        assert!(worst < 2.0 * f64::from(f32::EPSILON), "relative error {worst:e}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-90.0), 0.0);
    }

    #[test]
    fn the_masked_softmax_in_one_pass_equals_the_steps_apart_to_the_bit() {
        // Two heads of a 3 × 4 map, a causal-like mask; and a mask that does not fit.
        let x = Tensor::from_vec((0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.9).collect::<Vec<_>>(), (2, 3, 4), &Device::Cpu).unwrap();
        let ninf = f32::NEG_INFINITY;
        let mask = Tensor::new(&[[0.0f32, ninf, ninf, ninf], [0.0, 0.0, ninf, ninf], [0.0, 0.0, 0.0, ninf]], &Device::Cpu).unwrap();
        let fused = softmax_scaled_masked(&x, 0.125, &mask).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let apart = softmax_scaled(&(&x * 0.125).unwrap().broadcast_add(&mask).unwrap().contiguous().unwrap(), 1.0)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(fused, apart);
        assert_eq!(fused[1], 0.0, "a masked key gets nothing");
        assert_eq!(fused[0], 1.0, "the first query sees only itself");
    }

    /// The entropies the softmax gives beside its weights are the weights' own, -Σ p log2 p
    /// in float64, and the weights are the same bits as the softmax without them.
    #[test]
    fn the_softmaxs_entropies_are_the_weights_own() {
        let (rows, n) = (40, 300);
        // Scores spread from near one-hot rows (row 0: one key far above the rest) to flat ones.
        let values: Vec<f32> = (0..rows * n).map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 0.002 * (i / n) as f32 + if i == 3 { 500.0 } else { 0.0 }).collect();
        let ninf = f32::NEG_INFINITY;
        let mask: Vec<f32> = (0..rows * n).map(|i| if i % n <= i / n * 7 { 0.0 } else { ninf }).collect();
        let mask = Tensor::from_vec(mask, (rows, n), &Device::Cpu).unwrap();
        for mask in [None, Some(&mask)] {
            let scores = Tensor::from_vec(values.clone(), (1, rows, n), &Device::Cpu).unwrap();
            let plain = scores.copy().unwrap();
            assert!(softmax_in_place_where_possible(&plain, 0.125, mask).unwrap());
            let bits = softmax_and_entropies_where_possible(&scores, 0.125, mask).unwrap().expect("contiguous float32 fits");
            let (weights, plain) = (scores.flatten_all().unwrap().to_vec1::<f32>().unwrap(), plain.flatten_all().unwrap().to_vec1::<f32>().unwrap());
            assert_eq!(weights.iter().map(|w| w.to_bits()).collect::<Vec<_>>(), plain.iter().map(|w| w.to_bits()).collect::<Vec<_>>());
            for (row, &ours) in weights.chunks(n).zip(&bits) {
                let exact: f64 = row.iter().filter(|&&w| w > 0.0).map(|&w| -(w as f64) * (w as f64).log2()).sum();
                // ln Z and Σ e d / Z each within a few float32 roundings of values up to
                // ln 300 ≈ 5.7 nats: 2e-6 bits is some ten ulp of the result's 8 bits.
                assert!((ours as f64 - exact).abs() < 2e-6, "{ours} against {exact}");
            }
            assert!(bits[0] < 1e-3, "the near one-hot row: {}", bits[0]);
        }
    }

    #[test]
    fn softmax_scaled_is_candles_softmax_and_masked_keys_get_nothing() {
        let x = Tensor::new(&[[1.0f32, 2.0, 3.0, f32::NEG_INFINITY], [0.5, -40.0, 7.0, 7.0]], &Device::Cpu).unwrap();
        let ours = softmax_scaled(&x, 0.125).unwrap().to_vec2::<f32>().unwrap();
        let theirs = candle_nn::ops::softmax_last_dim(&(&x * 0.125).unwrap()).unwrap().to_vec2::<f32>().unwrap();
        // Each weight e/S: ours with a 2-ulp exp (see above) and a multiply by 1/S, candle's
        // with the C library's expf and a division, each sum in its own order: relative
        // error at most about 2 · 2.4e-7 + 4 · 6e-8 = 7.2e-7 of a weight at most 1.
        for (a, b) in ours.iter().flatten().zip(theirs.iter().flatten()) {
            assert!((a - b).abs() < 1e-6, "{ours:?} against {theirs:?}");
        }
        assert_eq!(ours[0][3], 0.0);
    }

    #[test]
    fn relu_equals_candles() {
        let values = vec![-2.5f32, -0.0, 0.0, 1e-30, 3.25, f32::NAN, f32::NEG_INFINITY, f32::INFINITY];
        let x = Tensor::from_vec(values, (2, 4), &Device::Cpu).unwrap();
        let ours = relu(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let candles = x.relu().unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), candles.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        assert_eq!(ours, [0.0, 0.0, 0.0, 1e-30, 3.25, 0.0, 0.0, f32::INFINITY]);
    }
}
