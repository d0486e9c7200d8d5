//! Attention before the Transformer (issue 31): recurrent encoder–decoders whose decoder, at
//! each output step, weighs the encoder's states by a score (Bahdanau's additive, Luong's
//! multiplicative) and reads their weighted sum. A run is a report like a translator's: the
//! `source` and `target` sequences and one `cross` site of 1 layer × 1 head, the alignment.
//!
//! The shapes are small (tens of slots, at most a few hundred units): plain float32 loops,
//! the same natively and in WebAssembly, with nothing worth splitting across threads.
//! docs/notes/rnn-attention.md has the plan and what each model's files hold.

pub mod cells;
pub mod khmer_translit;
pub mod scores;
pub mod weights;

pub use khmer_translit::KhmerTranslit;
