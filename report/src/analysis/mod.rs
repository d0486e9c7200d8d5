//! Pure functions over reports: the arithmetic of one attention row, and
//! per-head summaries. No tensors here: numbers in, numbers out.

pub mod alignment_math;
pub mod arithmetic;
pub mod entropy;
pub mod heads;
pub mod norms;
pub mod offsets;
pub mod patches;
pub mod probe;
pub mod reading;
pub mod rollout;
pub mod shown;
pub mod summary;
pub mod word_timing;

/// A map [n, n] whose every query puts all its weight on one key, `key_of(query)`: the
/// hand-made heads the analyses' tests score.
#[cfg(test)]
pub(crate) fn one_hot(n: usize, key_of: impl Fn(usize) -> usize) -> Vec<f32> {
    let mut map = vec![0.0; n * n];
    for q in 0..n {
        map[q * n + key_of(q)] = 1.0;
    }
    map
}
