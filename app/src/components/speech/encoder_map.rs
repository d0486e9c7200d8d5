//! The encoder's self-attention over the sound, for the selected layer and head: pooled
//! into 0.2-s blocks as the report carries it, or, zoomed, the whole map (20 ms frames)
//! the worker computes on demand, a window of it at a time.

use leptos::html::Canvas;
use leptos::prelude::*;
use report::figure::heatmap::HeatmapFigure;
use report::AttentionReport;

use super::super::heatmap::draw;
use super::cross_map::frames_heard;
use crate::state::{Display, Interventions, Run, Selection, Speech};

/// The report's name for the encoder's self-attention (its site), as an intervention names it too.
const ENCODER: &str = "encoder";

/// The most frames a whole-resolution window shows across (6 s).
pub const WINDOW_FRAMES: usize = 300;

/// The pooled map of `layer`, `head` over the blocks that hold the sound heard:
/// ([blocks, blocks] flat, blocks, seconds per block).
fn pooled(report: &AttentionReport, layer: usize, head: usize) -> Option<(Vec<f32>, usize, f64)> {
    let site = report.site(ENCODER)?;
    let seconds = report.sequence(&site.keys)?.seconds_per_item?;
    let [layers, heads, blocks, _] = site.maps.shape();
    if layer >= layers || head >= heads {
        return None;
    }
    let heard = ((frames_heard(report) as f64 * 0.02 / seconds).ceil() as usize).clamp(1, blocks);
    let map = site.maps.head(layer, head);
    let values = (0..heard).flat_map(|r| map[r * blocks..r * blocks + heard].iter().copied()).collect();
    Some((values, heard, seconds))
}

#[component]
pub fn EncoderMap() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    let speech = expect_context::<Speech>();
    let interventions = expect_context::<Interventions>();
    let selected = move || report::HeadId { layer: selection.layer.get(), head: selection.head.get() };
    let canvas_ref = NodeRef::<Canvas>::new();
    // Where the whole-resolution window starts, in frames.
    let start = RwSignal::new(0usize);
    let whole = move || run.whole_map.get().filter(|whole| speech.encoder_zoom.get() && whole.is_of(selection.layer.get(), selection.head.get()));
    let figure = Memo::new(move |_| {
        let report = run.report.get()?;
        let axis = |count: usize, step: f64, from: usize| (0..count).map(|i| format!("{:.2} s", (from + i) as f64 * step)).collect::<Vec<_>>();
        let (values, rows, columns) = match whole() {
            Some(whole) => {
                let (frames, values) = (whole.keys, &whole.values);
                let heard = frames_heard(&report).min(frames);
                let from = start.get().min(heard.saturating_sub(1));
                let count = WINDOW_FRAMES.min(heard - from);
                let cells = (from..from + count).flat_map(|q| values[q * frames + from..q * frames + from + count].iter().copied()).collect();
                (cells, axis(count, 0.02, from), axis(count, 0.02, from))
            }
            None => {
                let (values, blocks, seconds) = pooled(&report, selection.layer.get(), selection.head.get())?;
                (values, axis(blocks, seconds, 0), axis(blocks, seconds, 0))
            }
        };
        Some(HeatmapFigure {
            rows,
            columns,
            values,
            top: 1.0,
            value_scale: display.value_scale.get(),
            colours: display.colour_scale.get(),
            focus: (None, None),
            title: None,
            note: None,
            overlay: None,
        })
    });
    Effect::new(move |_| {
        if let (Some(canvas), Some(figure)) = (canvas_ref.get(), figure.get()) {
            draw(canvas, &figure);
        }
    });
    let heard = move || run.report.with(|r| r.as_ref().map(|r| frames_heard(r))).unwrap_or(0usize);
    let windowed = move || whole().is_some() && heard() > WINDOW_FRAMES;
    view! {
        <figure
            class="encoder-map"
            data-testid="encoder-map"
            data-site=ENCODER
            data-layer=move || selection.layer.get().to_string()
            data-head=move || selection.head.get().to_string()
            data-resolution=move || if whole().is_some() { "whole" } else { "pooled" }
            data-start=move || start.get().to_string()
            data-cells=move || figure.with(|f| f.as_ref().map(|f| f.rows.len().to_string()))
        >
            <div class="map-pickers">
                <label class="ablate-switch" title="Zero this encoder head's output: the decoder then hears the changed encoder, and writes again">
                    <input
                        type="checkbox"
                        data-testid="encoder-ablate-toggle"
                        data-layer=move || selection.layer.get().to_string()
                        data-head=move || selection.head.get().to_string()
                        prop:checked=move || interventions.is_ablated_at(Some(ENCODER), selected())
                        on:change=move |_| interventions.toggle_at(Some(ENCODER), selected())
                    />
                    {move || format!(" Switch encoder layer {}, head {} off", selection.layer.get(), selection.head.get())}
                </label>
                <button data-testid="encoder-zoom" class="toggle" aria-pressed=move || speech.encoder_zoom.get().to_string()
                    on:click=move |_| speech.encoder_zoom.update(|z| *z = !*z)>
                    {move || if speech.encoder_zoom.get() { "Pooled 0.2-s blocks" } else { "Zoom: every 20-ms frame" }}
                </button>
                <Show when=windowed>
                    <label class="picker">
                        <span class="label">"From"</span>
                        <input data-testid="encoder-window" type="range" min="0" step="25"
                            max=move || heard().saturating_sub(WINDOW_FRAMES).to_string()
                            prop:value=move || start.get().to_string()
                            on:input=move |ev| start.set(event_target_value(&ev).parse().unwrap_or(0)) />
                    </label>
                </Show>
                {move || (speech.encoder_zoom.get() && whole().is_none()).then(|| view! { <span class="hint" role="status">"Computing the whole map…"</span> })}
            </div>
            <div class="canvas-wrap">
                <canvas node_ref=canvas_ref role="img" aria-label="The encoder's self-attention over the sound"></canvas>
            </div>
            <figcaption>
                {move || format!(
                    "The encoder's self-attention, layer {}, head {}: {}. Rows look, columns are looked at; only the sound heard is shown.",
                    selection.layer.get(),
                    selection.head.get(),
                    if whole().is_some() { "every 20-ms frame (a window of at most 6 s; computed when asked)" } else { "pooled into 0.2-s blocks (the mean of a block's rows, the sum of its columns)" }
                )}
            </figcaption>
        </figure>
    }
}
