//! The sound as the model heard it: the log-mel spectrogram the encoder read with the
//! waveform under it, each word's span and the alignment path over it, and the focused
//! token's cross-attention lighting up the columns it listened to; the transcript's tokens;
//! the words with their times, each playable.

use leptos::html::Canvas;
use leptos::prelude::*;

use super::super::token_label;
use super::cross_map::{cross_values, frames_heard};
use crate::state::{Run, Selection, Speech};

/// Pixels per mel bin, and the waveform's height.
const MEL_ROW: usize = 2;
const WAVE_HEIGHT: usize = 48;

/// The transcript's tokens: hover one to light what it listened to, click to keep it.
#[component]
pub fn Transcript() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let tokens = move || run.report.with(|r| r.as_ref().and_then(|r| r.sequence("transcript")).map(|s| s.tokens.clone())).unwrap_or_default();
    let text = move || run.report.with(|r| r.as_ref().and_then(|r| r.transcript.as_ref()).map(|t| t.text.trim().to_string()));
    view! {
        <section class="transcript" aria-label="Transcript">
            <h2>"Transcript"</h2>
            <p class="transcript-text" data-testid="transcript-text">{text}</p>
            <crate::components::UnchangedWritten />
            <div class="token-strip" data-testid="transcript">
                {move || tokens().into_iter().enumerate().map(|(i, token)| {
                    let special = token.text.starts_with("<|");
                    view! {
                        <span class="token" class:special=special data-testid="token" data-index=i.to_string() data-id=token.id.to_string()
                            class:focused=move || selection.hovered_token.get() == Some(i)
                            class:pinned=move || selection.pinned_token.get() == Some(i)
                            role="button" tabindex="0"
                            aria-pressed=move || (selection.pinned_token.get() == Some(i)).to_string()
                            on:mouseenter=move |_| selection.hovered_token.set(Some(i))
                            on:mouseleave=move |_| selection.hovered_token.set(None)
                            on:focus=move |_| selection.hovered_token.set(Some(i))
                            on:blur=move |_| selection.hovered_token.set(None)
                            on:click=move |_| selection.pinned_token.update(|p| *p = if *p == Some(i) { None } else { Some(i) })
                            on:keydown=move |ev: web_sys::KeyboardEvent| if ev.key() == "Enter" || ev.key() == " " {
                                ev.prevent_default();
                                selection.pinned_token.update(|p| *p = if *p == Some(i) { None } else { Some(i) });
                            }
                        >{token_label(&token.text)}</span>
                    }
                }).collect_view()}
            </div>
        </section>
    }
}

/// Paints the spectrogram (frames of 10 ms across, mel bins up) and the waveform under it.
fn paint(canvas: web_sys::HtmlCanvasElement, mels: usize, frames: usize, values: &[f32], samples: &[f32]) -> Option<()> {
    let (width, height) = (frames.max(1), mels * MEL_ROW + WAVE_HEIGHT);
    let mut pixels = vec![0u8; width * height * 4];
    // Whisper's log-mel lies in about [-1, 1.5]: shown over that range.
    for m in 0..mels {
        for f in 0..frames {
            let v = values.get(m * frames + f).copied().unwrap_or(-1.0);
            let (r, g, b) = report::figure::ColourScale::Magma.colour(((v + 1.0) / 2.5).clamp(0.0, 1.0));
            for dy in 0..MEL_ROW {
                let y = (mels - 1 - m) * MEL_ROW + dy; // low frequencies at the bottom
                let at = (y * width + f) * 4;
                pixels[at..at + 4].copy_from_slice(&[r, g, b, 255]);
            }
        }
    }
    // The waveform: each column's lowest and highest sample (160 samples per frame).
    let top = mels * MEL_ROW;
    let mid = top + WAVE_HEIGHT / 2;
    for f in 0..frames {
        let chunk = samples.get(f * 160..((f + 1) * 160).min(samples.len())).unwrap_or(&[]);
        let (low, high) = chunk.iter().fold((0.0f32, 0.0f32), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        let half = (WAVE_HEIGHT / 2) as f32;
        let (y0, y1) = ((mid as f32 - high.clamp(-1.0, 1.0) * half) as usize, (mid as f32 - low.clamp(-1.0, 1.0) * half) as usize);
        for y in y0.max(top)..=y1.min(height - 1) {
            let at = (y * width + f) * 4;
            pixels[at..at + 4].copy_from_slice(&[90, 140, 200, 255]);
        }
    }
    super::put_pixels(canvas, width, height, &pixels)
}

/// The spectrogram with the words, the alignment path and the focused token's listening.
#[component]
pub fn Spectrogram() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let speech = expect_context::<Speech>();
    let canvas_ref = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let Some(canvas) = canvas_ref.get() else { return };
        // The clip is read where it lies (ten minutes of sound is 38 MB: no copy per redraw).
        let clip = speech.audio.get();
        let samples = clip.as_ref().map_or(&[][..], |c| c.samples.as_slice());
        run.report.with(|r| {
            if let Some(t) = r.as_ref().and_then(|r| r.transcript.as_ref()) {
                let s = &t.spectrogram;
                paint(canvas, s.mels, s.frames, &s.values, samples);
            }
        });
    });
    // The overlay is drawn in mel frames (10 ms) across and mel rows up, as the canvas.
    let size = move || run.report.with(|r| r.as_ref().and_then(|r| r.transcript.as_ref()).map(|t| (t.spectrogram.frames.max(1), t.spectrogram.mels * MEL_ROW)));
    let overlay =
        move || {
            let report = run.report.get()?;
            let transcript = report.transcript.as_ref()?;
            let (width, height) = size()?;
            let full = height + WAVE_HEIGHT;
            // Words: their spans (the SVG stretches with the canvas; the labels, HTML, do not).
            let words = transcript
                .words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let (x0, x1) = (w.start * 100.0, w.end * 100.0);
                    view! {
                        <rect class="word-span" data-index=i.to_string() x=x0.to_string() y="0" width=(x1 - x0).max(1.0).to_string() height=full.to_string() />
                    }
                })
                .collect_view();
            let labels = transcript
                .words
                .iter()
                .map(|w| {
                    let left = format!("left: {:.3}%", w.start * 100.0 / width as f64 * 100.0);
                    view! { <span class="word-label" style=left>{w.word.trim().to_string()}</span> }
                })
                .collect_view();
            // The path DTW took: text token (down the spectrogram's height) against time.
            let text_rows = transcript.path.iter().map(|p| p[0]).max().unwrap_or(0) + 1;
            let points = transcript
                .path
                .iter()
                .map(|&[t, f]| format!("{},{}", f as f64 * 2.0 + 1.0, (t as f64 + 0.5) / text_rows as f64 * height as f64))
                .collect::<Vec<_>>()
                .join(" ");
            // What the focused token listened to while it was written: its frames, lit.
            let lit =
                run.focused_token(&selection).filter(|&t| t >= 1).and_then(|t| {
                    let (values, _, frames) = cross_values(&report, speech.cross_view.get(), selection.layer.get(), selection.head.get())?;
                    let row = values.get((t - 1) * frames..t * frames)?.to_vec();
                    let top = row.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
                    Some(row.into_iter().enumerate().filter(|(_, v)| *v / top > 0.05).map(|(f, v)| view! {
                <rect class="listened" x=(f * 2).to_string() y="0" width="2" height=full.to_string() opacity=format!("{:.3}", 0.75 * v / top) />
            }).collect_view())
                });
            Some(view! {
                <svg class="spectrogram-overlay" viewBox=format!("0 0 {width} {full}") preserveAspectRatio="none" aria-hidden="true">
                    {lit}
                    {words}
                    <polyline class="alignment-path" data-testid="alignment-path" points=points />
                </svg>
                <div class="word-labels" aria-hidden="true">{labels}</div>
            })
        };
    view! {
        <figure
            class="spectrogram"
            data-testid="spectrogram"
            data-frames=move || size().map(|s| s.0.to_string())
            data-seconds=move || run.report.with(|r| r.as_ref().and_then(|r| r.transcript.as_ref()).map(|t| format!("{:.3}", t.audio_seconds)))
            data-lit=move || run.focused_token(&selection).map(|t| t.to_string())
        >
            <div class="spectrogram-stack">
                <canvas node_ref=canvas_ref role="img" aria-label="The log-mel spectrogram the model heard, and the waveform"></canvas>
                {overlay}
            </div>
            <figcaption>
                "The log-mel spectrogram Whisper's encoder reads (10 ms across, 80 mel bands up) over the waveform. \
                Boxes: each word's span, as Whisper's word timestamps find it; the line: the path dynamic time \
                warping takes through the alignment heads' attention. Hover a token: the frames it listened to light up."
            </figcaption>
        </figure>
    }
}

/// The words with their times: a click plays the word's piece of sound.
#[component]
pub fn WordTimings() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let speech = expect_context::<Speech>();
    let play = move |start: f64, end: f64| {
        if let Some(clip) = speech.audio.get_untracked() {
            if let Err(message) = crate::audio::play(&clip.samples, start, end - start) {
                speech.notice.set(Some(format!("cannot play the word: {message}")));
            }
        }
    };
    let words = move || {
        let report = run.report.get()?;
        let transcript = report.transcript.as_ref()?;
        Some(
            transcript
                .words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let (start, end) = (w.start, w.end);
                    let first_token = w.tokens.first().copied();
                    view! {
                        <li>
                            <button class="word" data-testid="word" data-index=i.to_string()
                                data-start=format!("{start:.2}") data-end=format!("{end:.2}")
                                title="Play this word"
                                on:click=move |_| play(start, end)
                                on:mouseenter=move |_| selection.hovered_token.set(first_token)
                                on:mouseleave=move |_| selection.hovered_token.set(None)
                            >
                                <span class="word-text">{w.word.trim().to_string()}</span>
                                <span class="word-time">{format!("{start:.2}–{end:.2} s")}</span>
                            </button>
                        </li>
                    }
                })
                .collect_view(),
        )
    };
    view! {
        <section class="word-timings" data-testid="word-timings" aria-label="Words and their times"
            data-frames-heard=move || run.report.with(|r| r.as_ref().map(|r| frames_heard(r).to_string()))
        >
            <h2>"Words"</h2>
            <ol class="words">{words}</ol>
            <p class="hint">"Click a word to hear its piece of the sound."</p>
        </section>
    }
}
