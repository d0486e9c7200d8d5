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

/// The files the page loads an RNN aligner from: what scripts/convert_rnn.py makes of the
/// files aligners.json fetches.
const ALIGNER_FILES: [&str; 3] = ["config.json", "vocabulary.json", "model.safetensors"];

/// The page's models: models.json's, then the RNN aligners of aligners.json (each a
/// translation, read from its converted files).
pub async fn fetch_catalog() -> Result<Vec<CatalogModel>, String> {
    let mut models = serde_json::from_str::<Catalog>(&fetch_text("models.json").await?).map_err(|e| format!("models.json: {e}"))?.models;
    let aligners = serde_json::from_str::<Catalog>(&fetch_text("aligners.json").await?).map_err(|e| format!("aligners.json: {e}"))?.models;
    models.extend(aligners.into_iter().map(|model| CatalogModel {
        files: ALIGNER_FILES.iter().map(|name| CatalogFile { name: name.to_string() }).collect(),
        kind: Some(ModelKind::Translation),
        ..model
    }));
    Ok(models)
}

/// The text of `url`, beside the page.
async fn fetch_text(url: &str) -> Result<String, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url)).await.map_err(|_| format!("cannot fetch {url}"))?.unchecked_into();
    if !response.ok() {
        return Err(format!("cannot fetch {url}: {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(|_| format!("{url} has no text"))?).await.map_err(|_| format!("cannot read {url}"))?;
    Ok(text.as_string().unwrap_or_default())
}
