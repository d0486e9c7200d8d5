//! What the page knows of its worker: its threads, its memory, the files a person opened.

use leptos::prelude::*;

/// The worker, as the page sees it.
#[derive(Clone, Copy)]
pub struct Worker {
    /// How many threads the engine's worker computes on (0 until it has started).
    pub threads: RwSignal<usize>,
    /// The worker's wasm memory in bytes, as its last answer said.
    pub wasm_memory: RwSignal<u64>,
    /// The `File` objects of the models the person opened, by model id.
    pub local_files: StoredValue<std::collections::HashMap<String, js_sys::Array>, LocalStorage>,
}
