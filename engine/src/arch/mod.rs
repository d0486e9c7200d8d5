//! One file per architecture family, each built of the layers in [`nn`]. A text network
//! exposes its parts to the engine's one forward loop ([`crate::forward`]): its embedding,
//! each layer's attention half and feed-forward half, and its readout.

pub mod bert;
pub mod family;
pub mod gpt2;
pub mod gpt_neox;
pub mod llama;
pub mod llama_config;
pub mod marian;
pub mod nn;
pub mod projection;
pub mod registry;
pub mod rotary;
pub mod stablelm;
pub mod vit;
pub mod whisper;

pub use crate::forward::Network;
