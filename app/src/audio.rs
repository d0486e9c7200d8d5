//! Sound in the page: any file the browser decodes (WAV, FLAC, MP3, OGG, WebM…) made
//! 16 kHz mono by the browser's own decoder and resampler (an `OfflineAudioContext` at
//! 16 kHz decodes straight to that rate), a recording from the microphone, and playback
//! of a stretch of it. The engine gets the samples; it never sees a file format.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, ArrayBuffer, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AudioBuffer, AudioContext, AudioContextOptions, Blob, BlobEvent, MediaRecorder, MediaStream, MediaStreamConstraints, OfflineAudioContext};

/// The rate every speech model here hears at.
pub const SAMPLE_RATE: f32 = 16_000.0;
/// What Whisper hears at once; longer sound is cut to it (and the page says so).
pub const WINDOW_SECONDS: f64 = 30.0;

/// A sound ready for the engine: 16 kHz mono samples, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// What the page calls it: a file's name, "your recording", "the sample".
    pub name: String,
    pub samples: Vec<f32>,
}

impl Clip {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(SAMPLE_RATE)
    }
}

fn js_message(value: JsValue) -> String {
    value.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| value.as_string()).unwrap_or_else(|| "an unknown error".into())
}

/// Decodes a file's bytes with the browser: 16 kHz, channels averaged.
pub async fn decode(name: &str, bytes: ArrayBuffer) -> Result<Clip, String> {
    if bytes.byte_length() == 0 {
        return Err(format!("{name} is empty: there is no sound in it"));
    }
    let context = OfflineAudioContext::new_with_number_of_channels_and_length_and_sample_rate(1, 1, SAMPLE_RATE)
        .map_err(|e| format!("this browser cannot decode sound: {}", js_message(e)))?;
    let promise = context.decode_audio_data(&bytes).map_err(|e| format!("{name}: {}", js_message(e)))?;
    let buffer: AudioBuffer = JsFuture::from(promise)
        .await
        .map_err(|e| format!("{name} is not a sound this browser can decode ({}): try WAV, FLAC, MP3 or OGG", js_message(e)))?
        .unchecked_into();
    let channels = buffer.number_of_channels().max(1);
    let mut samples = vec![0.0f32; buffer.length() as usize];
    for channel in 0..channels {
        let data = buffer.get_channel_data(channel).map_err(|e| format!("{name}: {}", js_message(e)))?;
        for (sum, value) in samples.iter_mut().zip(data) {
            *sum += value / channels as f32;
        }
    }
    if samples.is_empty() {
        return Err(format!("{name} holds no sound"));
    }
    Ok(Clip { name: name.to_string(), samples })
}

/// Fetches a file beside the page (the sample clip) and decodes it.
pub async fn fetch_and_decode(url: &str, name: &str) -> Result<Clip, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str(url)).await.map_err(|e| format!("cannot fetch {url}: {}", js_message(e)))?.unchecked_into();
    if !response.ok() {
        return Err(format!("cannot fetch {url}: {}", response.status()));
    }
    let bytes = JsFuture::from(response.array_buffer().map_err(js_message)?).await.map_err(js_message)?;
    decode(name, bytes.unchecked_into()).await
}

/// Reads a `File` (opened or dropped) and decodes it.
pub async fn decode_file(file: &web_sys::File) -> Result<Clip, String> {
    let bytes = JsFuture::from(file.array_buffer()).await.map_err(|e| format!("cannot read {}: {}", file.name(), js_message(e)))?;
    decode(&file.name(), bytes.unchecked_into()).await
}

/// A recording in progress: the microphone's stream and what has been recorded so far.
pub struct Recording {
    recorder: MediaRecorder,
    stream: MediaStream,
    chunks: Rc<RefCell<Vec<Blob>>>,
    _on_data: Closure<dyn FnMut(BlobEvent)>,
}

/// Asks for the microphone (the browser asks the person) and starts recording.
pub async fn start_recording() -> Result<Recording, String> {
    let devices = web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or("this browser gives no access to a microphone here (a page needs https or localhost for it)")?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&JsValue::TRUE);
    let promise = devices.get_user_media_with_constraints(&constraints).map_err(js_message)?;
    let stream: MediaStream = JsFuture::from(promise)
        .await
        .map_err(|e| {
            let name = js_sys::Reflect::get(&e, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
            match name.as_str() {
                "NotAllowedError" | "SecurityError" => {
                    "the microphone was not allowed: allow it in the browser's site settings to record, or open a file".to_string()
                }
                "NotFoundError" => "there is no microphone: open a sound file instead".to_string(),
                _ => format!("cannot use the microphone: {}", js_message(e)),
            }
        })?
        .unchecked_into();
    let recorder = MediaRecorder::new_with_media_stream(&stream).map_err(|e| format!("cannot record: {}", js_message(e)))?;
    let chunks = Rc::new(RefCell::new(Vec::new()));
    let kept = chunks.clone();
    let on_data = Closure::<dyn FnMut(BlobEvent)>::new(move |event: BlobEvent| {
        if let Some(blob) = event.data() {
            kept.borrow_mut().push(blob);
        }
    });
    recorder.set_ondataavailable(Some(on_data.as_ref().unchecked_ref()));
    recorder.start().map_err(|e| format!("cannot record: {}", js_message(e)))?;
    Ok(Recording { recorder, stream, chunks, _on_data: on_data })
}

impl Recording {
    /// Stops recording, lets the microphone go, and decodes what was recorded.
    pub async fn finish(self) -> Result<Clip, String> {
        let stopped = js_sys::Promise::new(&mut |resolve, _| {
            self.recorder.set_onstop(Some(&resolve));
        });
        self.recorder.stop().map_err(js_message)?;
        JsFuture::from(stopped).await.map_err(js_message)?;
        for track in self.stream.get_tracks().iter() {
            track.unchecked_into::<web_sys::MediaStreamTrack>().stop();
        }
        let parts: Array = self.chunks.borrow().iter().cloned().collect();
        let blob = Blob::new_with_blob_sequence(&parts).map_err(js_message)?;
        let bytes = JsFuture::from(blob.array_buffer()).await.map_err(js_message)?;
        let bytes: ArrayBuffer = bytes.unchecked_into();
        if Uint8Array::new(&bytes).length() == 0 {
            return Err("the recording is empty: record for a moment longer".into());
        }
        decode("your recording", bytes).await
    }
}

/// Plays `samples` (16 kHz) from `start` for `duration` seconds.
pub fn play(samples: &[f32], start: f64, duration: f64) -> Result<(), String> {
    let options = AudioContextOptions::new();
    options.set_sample_rate(SAMPLE_RATE);
    let context = AudioContext::new_with_context_options(&options).map_err(js_message)?;
    let buffer = context.create_buffer(1, samples.len().max(1) as u32, SAMPLE_RATE).map_err(js_message)?;
    buffer.copy_to_channel(samples, 0).map_err(js_message)?;
    let source = context.create_buffer_source().map_err(js_message)?;
    source.set_buffer(Some(&buffer));
    source.connect_with_audio_node(&context.destination()).map_err(js_message)?;
    source.start_with_when_and_grain_offset_and_grain_duration(0.0, start.max(0.0), duration.max(0.05)).map_err(js_message)
}
