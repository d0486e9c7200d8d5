//! A speech model in the page: the audio panel (the sample, a recording, a file), and the
//! views of what the transcript listened to: the spectrogram with the words' times and the
//! alignment path, the transcript, the cross-attention map, and the encoder's map.

mod cross_map;
mod encoder_map;
mod spectrogram;

use std::sync::Arc;

use leptos::prelude::*;

use crate::audio::{self, Clip, Recording, WINDOW_SECONDS};
use crate::state::{AppState, Run, Selection};

pub use cross_map::cross_values;

/// Puts `pixels` (RGBA, `width` × `height`) on `canvas`, sized to them: the spectrogram and
/// the cross map are images a pixel a cell, stretched by CSS.
fn put_pixels(canvas: web_sys::HtmlCanvasElement, width: usize, height: usize, pixels: &[u8]) -> Option<()> {
    use wasm_bindgen::{Clamped, JsCast};
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let context: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(pixels), width as u32, height as u32).ok()?;
    context.put_image_data(&image, 0.0, 0.0).ok()
}

/// The sample clip served beside the page, and what the page calls it.
pub const SAMPLE_URL: &str = "samples/flite-cat.wav";
pub const SAMPLE_NAME: &str = "the sample clip (“The cat sat on the mat.”, synthesized by flite)";

/// Hands a decoded sound to the page: it becomes the sound the model hears (and is
/// transcribed), with a notice when it is longer than the model's window.
fn use_clip(state: AppState, clip: Result<Clip, String>) {
    match clip {
        Ok(clip) => {
            let seconds = clip.seconds();
            state.speech.notice.set(
                (seconds > WINDOW_SECONDS)
                    .then(|| format!("{} lasts {seconds:.1} s: Whisper hears 30 s at once, so the first 30 s are transcribed.", clip.name)),
            );
            state.speech.audio.set(Some(Arc::new(clip)));
        }
        Err(message) => state.speech.notice.set(Some(message)),
    }
}

/// Fetches and decodes the sample clip (a first visit shows the feature working).
pub fn load_sample(state: AppState) {
    leptos::task::spawn_local(async move { use_clip(state, audio::fetch_and_decode(SAMPLE_URL, SAMPLE_NAME).await) });
}

/// Decodes a file the person opened or dropped.
pub fn open_audio(state: AppState, file: web_sys::File) {
    state.speech.notice.set(Some(format!("Decoding {}…", file.name())));
    leptos::task::spawn_local(async move {
        let clip = audio::decode_file(&file).await;
        if clip.is_ok() {
            state.speech.notice.set(None);
        }
        use_clip(state, clip);
    });
}

/// The input of a speech model: the sample, the microphone, a file.
#[component]
pub fn AudioPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let recording = StoredValue::new_local(None::<Recording>);
    let is_recording = RwSignal::new(false);
    let on_record = move |_| {
        if is_recording.get_untracked() {
            is_recording.set(false);
            let Some(active) = recording.try_update_value(Option::take).flatten() else { return };
            leptos::task::spawn_local(async move { use_clip(state, active.finish().await) });
            return;
        }
        state.speech.notice.set(Some("Asking for the microphone…".into()));
        leptos::task::spawn_local(async move {
            match audio::start_recording().await {
                Ok(active) => {
                    recording.set_value(Some(active));
                    is_recording.set(true);
                    state.speech.notice.set(Some("Recording: press Stop when you have spoken.".into()));
                }
                Err(message) => state.speech.notice.set(Some(message)),
            }
        });
    };
    let on_file = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            open_audio(state, file);
        }
        input.set_value("");
    };
    let heard = move || state.speech.audio.get().map(|clip| format!("Hearing {}: {:.2} s", clip.name, clip.seconds().min(WINDOW_SECONDS)));
    view! {
        <section class="audio-input" data-testid="audio-input" aria-label="Sound">
            <div class="audio-buttons">
                <button data-testid="sample-button" class="toggle" on:click=move |_| load_sample(state)>"Sample clip"</button>
                <button
                    data-testid="record-button"
                    class="toggle"
                    class:recording=move || is_recording.get()
                    aria-pressed=move || is_recording.get().to_string()
                    on:click=on_record
                >
                    {move || if is_recording.get() { "■ Stop" } else { "● Record" }}
                </button>
                <label class="file-button toggle">
                    "Open a sound file…"
                    <input data-testid="audio-file" type="file" accept="audio/*,video/webm,.wav,.flac,.mp3,.ogg,.opus,.m4a" on:change=on_file />
                </label>
                <span class="audio-heard" data-testid="audio-heard">{heard}</span>
            </div>
            <p class="hint">"Or drop a sound file anywhere on the page. WAV, FLAC, MP3, OGG: whatever this browser decodes, made 16 kHz mono."</p>
            {move || state.speech.notice.get().map(|notice| view! { <p class="notice" data-testid="audio-notice" role="status">{notice}</p> })}
        </section>
    }
}

/// Everything a transcription shows.
#[component]
pub fn SpeechView() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let has_transcript = move || run.report.with(|r| r.as_ref().is_some_and(|r| r.transcript.is_some()));
    view! {
        <Show when=move || selection.is_speech() && has_transcript()>
            <section class="speech" aria-label="What each word listened to">
                <spectrogram::Transcript />
                <spectrogram::Spectrogram />
                <spectrogram::WordTimings />
                <cross_map::CrossMap />
                <encoder_map::EncoderMap />
            </section>
        </Show>
    }
}
