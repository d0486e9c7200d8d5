//! A row of attention weights' sum and entropy in bits, in one vectorised pass (the head
//! scores' hot loop: `log2` is a scalar library call in WebAssembly).

/// Running sums kept apart, so the loop runs as vectors (two of simd128, one of AVX).
const LANES: usize = 8;

/// A row of attention weights' sum and entropy in bits, -Σ w log2 w over w > 0: a long
/// text's head scores take both of every weight (580 million at 2,072 tokens of SmolLM2),
/// and `log2` is a scalar library call in WebAssembly. Eight running sums, so the loop
/// vectorises and does not wait on one addition after another.
pub fn sum_and_entropy_bits(row: &[f32]) -> (f32, f32) {
    let (mut sums, mut entropies) = ([0.0f32; LANES], [0.0f32; LANES]);
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            let w = chunk[lane];
            sums[lane] += w;
            entropies[lane] += entropy_term_bits(w);
        }
    }
    let (mut sum, mut entropy) = (sums.iter().sum::<f32>(), entropies.iter().sum::<f32>());
    for &w in rest {
        sum += w;
        entropy += entropy_term_bits(w);
    }
    (sum, entropy)
}

/// A row of attention weights' sum, as [`sum_and_entropy_bits`] sums it (the same lanes in the
/// same order, so the same bits): for a row whose entropy the softmax already gave.
pub fn row_sum(row: &[f32]) -> f32 {
    let mut sums = [0.0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            sums[lane] += chunk[lane];
        }
    }
    let mut sum = sums.iter().sum::<f32>();
    for &w in rest {
        sum += w;
    }
    sum
}

/// -w log2 w for a weight w ≥ 0 (0 for 0): w = 2^e · m with m in [√½, √2), ln m by Cephes'
/// polynomial (as `logf`, within a few ulp), in plain float arithmetic that vectorises.
#[inline(always)]
fn entropy_term_bits(w: f32) -> f32 {
    let bits = w.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126; // w = 2^e · m, m in [½, 1)
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    if m < std::f32::consts::FRAC_1_SQRT_2 {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let e = e as f32;
    let z = m * m;
    let mut p = 7.037_683_6e-2;
    p = p * m - 1.151_461e-1;
    p = p * m + 1.167_699_9e-1;
    p = p * m - 1.242_014_1e-1;
    p = p * m + 1.424_932_3e-1;
    p = p * m - 1.666_805_8e-1;
    p = p * m + 2.000_071_5e-1;
    p = p * m - 2.499_999_4e-1;
    p = p * m + 3.333_333e-1;
    let y = p * m * z + e * -2.121_944_4e-4 - 0.5 * z;
    let ln = m + y + e * 0.693_359_4;
    if w > 0.0 {
        -w * ln * std::f32::consts::LOG2_E
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_polynomial_entropy_term_is_log2fs_to_a_millionth() {
        let mut worst = 0.0f64;
        // Weights from 1e-30 to 1, a few thousand per factor of ten.
        for i in 0..=120_000 {
            let w = 10f32.powf(-(i as f32) * 2.5e-4);
            let (ours, theirs) = (entropy_term_bits(w) as f64, -(w as f64) * (w as f64).log2());
            worst = worst.max(((ours - theirs) / theirs.abs().max(1e-30)).abs());
        }
        assert!(worst < 1e-6, "relative error {worst:e}");
        assert_eq!(entropy_term_bits(0.0), 0.0);
        assert_eq!(entropy_term_bits(1.0), 0.0);
        assert!((entropy_term_bits(0.5) - 0.5).abs() < 1e-7);
        assert!(entropy_term_bits(f32::from_bits(1)).abs() < 1e-40, "a subnormal weighs nothing");
        let row: Vec<f32> = (1..=19).map(|i| i as f32 / 190.0).collect();
        let (sum, bits) = sum_and_entropy_bits(&row);
        assert!((sum - 1.0).abs() < 1e-6);
        assert!((bits as f64 - row.iter().map(|&w| -(w as f64) * (w as f64).log2()).sum::<f64>()).abs() < 1e-6);
    }
}
