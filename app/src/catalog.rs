//! The models the page offers: assets/models.json, served beside the page.

use serde::Deserialize;

/// One entry of models.json (the fields the page needs).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CatalogModel {
    pub id: String,
    pub label: String,
    pub files: Vec<CatalogFile>,
    /// `translation` for an encoder–decoder model; none for a one-sequence model.
    #[serde(default)]
    pub kind: Option<String>,
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
    let models = serde_json::from_str::<Catalog>(&text).map(|c| c.models).map_err(|e| format!("models.json: {e}"))?;
    Ok(models.into_iter().filter(CatalogModel::shown_in_page).collect())
}

/// The kinds of model the page has views for (none: a one-sequence model).
const PAGE_KINDS: [&str; 3] = ["translation", "speech", "vision"];

impl CatalogModel {
    /// Whether the page offers the model: the kinds it has views for.
    pub fn shown_in_page(&self) -> bool {
        self.kind.as_deref().is_none_or(|kind| PAGE_KINDS.contains(&kind))
    }
}
