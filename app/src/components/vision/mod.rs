//! A Vision Transformer in the page: the image panel (the sample photo, a file, a drop or a
//! paste), and the views of where each head looks over the picture: the selected head (or
//! its layer's mean, or the rollout) laid over it, every head of the layer side by side,
//! and every head of every layer.

mod overlay;

use std::sync::Arc;

use leptos::prelude::*;
use report::Framing;

use crate::picture::{self, Picture};
use crate::state::{AppState, Run, Selection};

pub use overlay::PatchOverlay;

/// The sample photo served beside the page, and what the page calls it.
pub const SAMPLE_URL: &str = "samples/chelsea.png";
pub const SAMPLE_NAME: &str = "the sample photo (Chelsea the cat, scikit-image, CC0)";

/// Hands a decoded picture to the page: it becomes the picture the model looks at.
fn use_picture(state: AppState, picture: Result<Picture, String>) {
    match picture {
        Ok(picture) => {
            state.vision.notice.set(picture.scaled_from.map(|(w, h)| {
                format!(
                    "{} is {w} × {h} pixels: the browser scaled it to {} × {} first (the model reads 224 × 224 of it).",
                    picture.name, picture.width, picture.height
                )
            }));
            // A new picture starts from the class token's view.
            state.selection.pinned_token.set(None);
            // The picture replaced before the model looked at it is let go; the one the
            // overlays show goes when their next report comes (see `release_picture`).
            if let Some(old) =
                state.vision.picture.get_untracked().filter(|old| !state.vision.looked_at.with_untracked(|l| l.as_ref().is_some_and(|l| Arc::ptr_eq(l, old))))
            {
                let _ = web_sys::Url::revoke_object_url(&old.url);
            }
            state.vision.picture.set(Some(Arc::new(picture)));
        }
        Err(message) => state.vision.notice.set(Some(message)),
    }
}

/// Makes `picture` the one the overlays show, letting the one before go unless it is still
/// the panel's.
pub fn show_picture(state: AppState, picture: Option<Arc<Picture>>) {
    let old = state.vision.looked_at.get_untracked();
    let kept = |p: &Arc<Picture>| {
        picture.as_ref().is_some_and(|n| Arc::ptr_eq(n, p)) || state.vision.picture.with_untracked(|c| c.as_ref().is_some_and(|c| Arc::ptr_eq(c, p)))
    };
    if let Some(old) = old.filter(|old| !kept(old)) {
        let _ = web_sys::Url::revoke_object_url(&old.url);
    }
    state.vision.looked_at.set(picture);
}

/// Fetches and decodes the sample photo (a first visit shows the feature working).
pub fn load_sample(state: AppState) {
    leptos::task::spawn_local(async move { use_picture(state, picture::fetch_and_decode(SAMPLE_URL, SAMPLE_NAME).await) });
}

/// Decodes a picture the person opened, dropped or pasted.
pub fn open_picture(state: AppState, name: String, blob: web_sys::Blob) {
    state.vision.notice.set(Some(format!("Decoding {name}…")));
    leptos::task::spawn_local(async move {
        let picture = picture::decode(&name, &blob).await;
        if picture.is_ok() {
            state.vision.notice.set(None);
        }
        use_picture(state, picture);
    });
}

/// The first picture among dropped or pasted files, if any.
pub fn picture_file(files: &[web_sys::File]) -> Option<web_sys::File> {
    files.iter().find(|f| f.type_().starts_with("image/")).cloned()
}

/// The input of a vision model: the sample, a file, a drop, a paste; and the framing.
#[component]
pub fn ImagePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let on_file = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            open_picture(state, file.name(), file.into());
        }
        input.set_value("");
    };
    let on_framing = move |ev: leptos::ev::Event| {
        if let Some(framing) = Framing::from_name(&event_target_value(&ev)) {
            state.vision.framing.set(framing);
        }
    };
    let seen = move || state.vision.picture.get().map(|p| format!("Seeing {}: {} × {} pixels", p.name, p.width, p.height));
    view! {
        <section class="image-input" data-testid="image-input" aria-label="Picture">
            <div class="audio-buttons">
                <button data-testid="sample-picture" class="toggle" on:click=move |_| load_sample(state)>"Sample photo"</button>
                <label class="file-button toggle">
                    "Open a picture…"
                    <input data-testid="image-file" type="file" accept="image/*" on:change=on_file />
                </label>
                <label class="framing">
                    "Framing "
                    <select data-testid="framing" on:change=on_framing prop:value=move || state.vision.framing.get().name()>
                        <option value="letterbox">"Letterbox: the whole picture on black (the model's own)"</option>
                        <option value="centre-crop">"Centre crop: the middle square"</option>
                    </select>
                </label>
                <span class="audio-heard" data-testid="picture-seen">{seen}</span>
            </div>
            <p class="hint">"Or drop a picture anywhere on the page, or paste one (Ctrl+V). PNG, JPEG, WebP: whatever this browser decodes."</p>
            {move || state.vision.notice.get().map(|notice| view! { <p class="notice" data-testid="picture-notice" role="status">{notice}</p> })}
        </section>
    }
}

/// Everything a picture's run shows.
#[component]
pub fn VisionView() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let has_picture = move || run.report.with(|r| r.as_ref().is_some_and(|r| r.picture.is_some()));
    view! {
        <Show when=move || selection.is_vision() && has_picture()>
            <section class="vision" aria-label="Where each head looks">
                <overlay::MainOverlay />
                <overlay::LayerHeads />
                <overlay::AllHeads />
            </section>
        </Show>
    }
}
