//! The models the page offers: assets/models.json, served beside the page.

use report::ModelKind;
use serde::Deserialize;

/// One entry of models.json (the fields the page needs).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CatalogModel {
    pub id: String,
    pub label: String,
    pub files: Vec<CatalogFile>,
    /// What the model reads and writes; none in models.json for a text model, and for a
    /// person's own model until it has loaded.
    #[serde(default)]
    pub kind: Option<ModelKind>,
    /// A model from the person's own files (opened or dropped), for this session only.
    #[serde(default)]
    pub local: bool,
    /// The size of a person's files, in bytes (what its label says).
    #[serde(default)]
    pub bytes: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CatalogFile {
    pub name: String,
}

#[derive(Deserialize)]
struct Catalog {
    models: Vec<CatalogModel>,
}

impl CatalogModel {
    /// The URLs of the model's files, relative to the page.
    pub fn urls(&self) -> Vec<String> {
        self.files.iter().map(|f| format!("models/{}/{}", self.id, f.name)).collect()
    }
}

/// The model the page starts with.
pub const DEFAULT_MODEL: &str = "smollm2-135m";

/// Fetches and parses models.json.
pub async fn fetch_catalog() -> Result<Vec<CatalogModel>, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str("models.json")).await.map_err(|_| "cannot fetch models.json".to_string())?.unchecked_into();
    if !response.ok() {
        return Err(format!("cannot fetch models.json: {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(|_| "models.json has no text")?)
        .await
        .map_err(|_| "cannot read models.json".to_string())?
        .as_string()
        .unwrap_or_default();
    serde_json::from_str::<Catalog>(&text).map(|c| c.models).map_err(|e| format!("models.json: {e}"))
}
