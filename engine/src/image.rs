//! Pictures in: the report crate frames 8-bit RGB into what a Vision Transformer reads
//! ([`report::image`]); natively the engine also decodes image files to it.

#[cfg(not(target_arch = "wasm32"))]
pub mod decode;

pub use report::image::*;
