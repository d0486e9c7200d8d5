//! The cross-attention as a map: each written token (a row) over the sound heard (the
//! columns, 20 ms each), for one head, the layer's mean, or the mean of the model's
//! alignment heads (those whose attention follows the words; word timings come from them).

use leptos::html::Canvas;
use leptos::prelude::*;
use report::AttentionReport;

use super::super::token_label;
use crate::state::{CrossView, Display, Run, Selection, Speech};

/// Encoder frames that hold the sound heard (20 ms each), at most the model's 1500.
pub fn frames_heard(report: &AttentionReport) -> usize {
    let frames = report.site("cross").map_or(0, |s| s.maps.keys());
    let seconds = report.transcript.as_ref().map_or(0.0, |t| t.audio_seconds);
    ((seconds / 0.02).ceil() as usize).clamp(1, frames.max(1))
}

/// The cross-attention the map shows: one row per written token (row r is where the
/// decoder listened while writing transcript token r + 1), over the frames heard;
/// [rows, frames] flat, with the rows and frames counted.
pub fn cross_values(report: &AttentionReport, view: CrossView, layer: usize, head: usize) -> Option<(Vec<f32>, usize, usize)> {
    let maps = &report.site("cross")?.maps;
    let [layers, heads, queries, keys] = maps.shape();
    let heads_shown: Vec<(usize, usize)> = match view {
        CrossView::Head => vec![(layer, head)],
        CrossView::LayerMean => (0..heads).map(|h| (layer, h)).collect(),
        CrossView::AlignmentHeads => report.transcript.as_ref()?.alignment_heads.iter().map(|&[l, h]| (l, h)).collect(),
    };
    if heads_shown.is_empty() || heads_shown.iter().any(|&(l, h)| l >= layers || h >= heads) || queries < 2 {
        return None;
    }
    let (rows, frames) = (queries - 1, frames_heard(report));
    let mut values = vec![0.0f32; rows * frames];
    for &(l, h) in &heads_shown {
        let map = maps.head(l, h);
        for r in 0..rows {
            for f in 0..frames {
                values[r * frames + f] += map[r * keys + f] / heads_shown.len() as f32;
            }
        }
    }
    Some((values, rows, frames))
}

/// Paints the map as an image, a pixel a frame and a row a token (stretched by CSS to the
/// spectrogram's width, so each column sits under the sound it is), each cell's colour
/// scaled to the map's largest value.
fn paint(canvas: web_sys::HtmlCanvasElement, values: &[f32], rows: usize, frames: usize, top: f32, colours: report::figure::ColourScale) -> Option<()> {
    let pixels: Vec<u8> = values
        .iter()
        .flat_map(|&v| {
            let (r, g, b) = colours.colour((v / top).clamp(0.0, 1.0));
            [r, g, b, 255]
        })
        .collect();
    super::put_pixels(canvas, frames.max(1), rows.max(1), &pixels)
}

/// The cross map of the transcription, with its picker.
#[component]
pub fn CrossMap() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    let speech = expect_context::<Speech>();
    let canvas_ref = NodeRef::<Canvas>::new();
    let shown = Memo::new(move |_| {
        let report = run.report.get()?;
        let (values, rows, frames) = cross_values(&report, speech.cross_view.get(), selection.layer.get(), selection.head.get())?;
        let tokens = &report.sequence("transcript")?.tokens;
        let labels: Vec<String> = tokens[1..=rows].iter().map(|t| token_label(&t.text)).collect();
        let top = values.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
        Some((values, rows, frames, labels, top))
    });
    Effect::new(move |_| {
        let Some(canvas) = canvas_ref.get() else { return };
        shown.with(|s| {
            if let Some((values, rows, frames, _, top)) = s {
                paint(canvas, values, *rows, *frames, *top, display.colour_scale.get());
            }
        });
    });
    // The cell under the pointer: (row, frame, x, y).
    let hovered = RwSignal::new(None::<(usize, usize, i32, i32)>);
    let on_move = move |ev: web_sys::MouseEvent| {
        let Some(canvas) = canvas_ref.get() else { return };
        let rect = canvas.get_bounding_client_rect();
        let (x, y) = (ev.offset_x() as f64 / rect.width().max(1.0), ev.offset_y() as f64 / rect.height().max(1.0));
        let cell = shown.with(|s| s.as_ref().map(|(_, rows, frames, ..)| ((y * *rows as f64) as usize, (x * *frames as f64) as usize)));
        hovered.set(cell.map(|(r, f)| (r, f, ev.offset_x(), ev.offset_y())));
    };
    let tooltip = move || {
        let (row, frame, x, y) = hovered.get()?;
        let text = shown.with(|s| {
            let (values, rows, frames, labels, _) = s.as_ref()?;
            (row < *rows && frame < *frames).then(|| format!("{} · {:.2} s: {:.4}", labels[row], frame as f64 * 0.02, values[row * frames + frame]))
        })?;
        Some(view! { <div class="tooltip" data-testid="cross-tooltip" style=format!("left: {}px; top: {}px", x + 14, y + 14)>{text}</div> })
    };
    let head_name = move || match speech.cross_view.get() {
        CrossView::Head => selection.head.get().to_string(),
        CrossView::LayerMean => "mean".into(),
        CrossView::AlignmentHeads => "alignment".into(),
    };
    // The numbers drawn, for a reader that wants them (and the tests): 6 decimals.
    let numbers =
        move || shown.with(|s| s.as_ref().map(|(values, ..)| format!("[{}]", values.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(","))));
    let labels = move || shown.with(|s| s.as_ref().map(|(_, _, _, labels, _)| labels.iter().map(|l| view! { <span>{l.clone()}</span> }).collect_view()));
    let rows = move || shown.with(|s| s.as_ref().map_or(1, |s| s.1));
    view! {
        <figure
            class="cross-map"
            data-testid="cross-map"
            data-site="cross"
            data-layer=move || if speech.cross_view.get() == CrossView::AlignmentHeads { "all".to_string() } else { selection.layer.get().to_string() }
            data-head=head_name
            data-rows=move || shown.with(|s| s.as_ref().map(|s| s.1.to_string()))
            data-frames=move || shown.with(|s| s.as_ref().map(|s| s.2.to_string()))
            data-top=move || shown.with(|s| s.as_ref().map(|s| s.4.to_string()))
            data-values=numbers
        >
            <div class="map-pickers">
                <label class="picker">
                    <span class="label">"Cross-attention of"</span>
                    <select data-testid="cross-view" on:change=move |ev| {
                        let name = event_target_value(&ev);
                        speech.cross_view.set(CrossView::ALL.into_iter().find(|v| v.name() == name).unwrap_or_default());
                    }>
                        {CrossView::ALL.map(|v| view! { <option value=v.name() selected=move || speech.cross_view.get() == v>{v.title()}</option> })}
                    </select>
                </label>
            </div>
            <div class="cross-body" style=move || format!("--rows: {}", rows())>
                <div class="cross-labels" aria-hidden="true">{labels}</div>
                <div class="canvas-wrap">
                    <canvas node_ref=canvas_ref role="img" aria-label="Cross-attention: each written token over the sound heard"
                        on:mousemove=on_move on:mouseleave=move |_| hovered.set(None)></canvas>
                    {tooltip}
                </div>
            </div>
            <figcaption>
                {move || format!(
                    "Rows: the tokens written, each where the decoder listened while writing it. Columns: the sound heard, 20 ms each, \
                    under the spectrogram's own time axis (the rest of Whisper's 30-s window is silence it also attends to). \
                    Colour scaled to the map's largest weight, {:.3}.",
                    shown.with(|s| s.as_ref().map_or(0.0, |s| s.4))
                )}
            </figcaption>
        </figure>
    }
}
