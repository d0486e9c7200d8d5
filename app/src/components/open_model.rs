//! "Open a model…": a person's own model files, from the file picker or dropped anywhere
//! on the page (a .gguf file, or a Hugging Face model's config.json + safetensors +
//! tokenizer.json). Nothing is uploaded: the worker reads the files where they are, a
//! piece at a time. The model joins the picker for the session.

use leptos::html::Input;
use leptos::prelude::*;
use report::ModelInfo;
use wasm_bindgen::JsCast;

use crate::catalog::{CatalogFile, CatalogModel};
use crate::state::AppState;
use crate::state::Status;
use crate::user_files::model_name;
use report::files::classify;

/// The picker's label for a person's model once loaded: what it turned out to be, and the
/// size of its files.
pub fn label(id: &str, info: &ModelInfo, bytes: Option<f64>) -> String {
    let name = id.strip_prefix("file:").unwrap_or(id);
    let size = bytes.map_or(String::new(), |b| format!(", {}", megabytes(b)));
    format!("{name}: {}, {} layers × {} heads (your file{size})", info.architecture, info.layers, info.heads)
}

fn megabytes(bytes: f64) -> String {
    if bytes < 1e6 {
        format!("{:.0} KB", bytes / 1e3)
    } else {
        format!("{:.0} MB", bytes / 1e6)
    }
}

/// The files of a `FileList` (from the picker or a drop).
pub fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.item(i)).collect()
}

/// Takes the picked or dropped files: the model they make joins the picker and is
/// chosen, or the page says what is missing.
pub fn open_files(state: AppState, files: Vec<web_sys::File>) {
    if files.is_empty() {
        return;
    }
    let names: Vec<String> = files.iter().map(|f| f.name()).collect();
    match classify(&names) {
        Ok(model) => open_named(state, files, model_name(&names, &model)),
        Err(message) => state.run.status.set(Status::Failed(message)),
    }
}

/// Takes files that make a model (see [`classify`]) under the picker's id `id`: the model
/// joins the picker and is chosen.
pub fn open_named(state: AppState, files: Vec<web_sys::File>, id: String) {
    let names: Vec<String> = files.iter().map(|f| f.name()).collect();
    let array = js_sys::Array::new();
    for file in &files {
        array.push(file.unchecked_ref());
    }
    let size: f64 = files.iter().map(|f| f.size()).sum();
    state.worker.local_files.update_value(|stored| {
        stored.insert(id.clone(), array);
    });
    let entry = CatalogModel {
        id: id.clone(),
        label: format!("{} ({}, your file, loading)", id.trim_start_matches("file:"), megabytes(size)),
        files: names.into_iter().map(|name| CatalogFile { name }).collect(),
        kind: None,
        local: true,
        bytes: Some(size),
    };
    state.selection.catalog.update(|catalog| {
        catalog.retain(|m| m.id != id);
        catalog.push(entry);
    });
    state.selection.model.set(id);
}

#[component]
pub fn OpenModel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let input = NodeRef::<Input>::new();
    view! {
        <div class="open-model">
            <button type="button" class="toggle" data-testid="open-model" title="A .gguf file, or a Hugging Face model's config.json, safetensors and tokenizer.json; or drop them anywhere on the page. Nothing is uploaded."
                on:click=move |_| {
                    if let Some(input) = input.get() {
                        input.click();
                    }
                }>"Open a model…"</button>
            <input node_ref=input type="file" multiple class="hidden" data-testid="open-model-input"
                accept=".gguf,.safetensors,.json,.onnx,.bin"
                on:change=move |_| {
                    if let Some(element) = input.get() {
                        open_files(state, files_of(element.files()));
                        // The same files picked again must fire again.
                        element.set_value("");
                    }
                } />
        </div>
    }
}
