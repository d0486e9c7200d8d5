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
