//! Masked and unmasked attention side by side: the selected head under the causal
//! mask, the same head with the mask off, and their difference (unmasked − causal)
//! in a diverging scale centred on 0. Beside them, per head of the layer, how much
//! weight the unmasked run puts on later tokens: the mass the causal mask forbids.

use engine::analysis::summary::{difference, lookahead_mass};
use leptos::html::Canvas;
use leptos::prelude::*;

use super::head_grid::paint_pixels;
use super::LabelledMap;
use crate::colormap::{diverging, viridis};
use crate::AppState;

/// The side of a small map in CSS pixels (the stylesheet's `.small-map canvas`).
const SMALL_MAP_PX: f64 = 180.0;

/// A small map painted a pixel per weight, with its tokens on both axes and a caption.
#[component]
fn SmallMap(
    /// Shown under the map.
    caption: &'static str,
    /// The test id of the figure.
    test_id: &'static str,
    /// The map ([query, key] row-major) and its side.
    #[prop(into)]
    map: Signal<Option<(Vec<f32>, usize)>>,
    /// Paints a value.
    colour: fn(f32) -> (u8, u8, u8),
    /// The tokens of the rows and of the columns (one list: both maps are self-attention).
    #[prop(into)]
    tokens: Signal<Vec<String>>,
) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        if let (Some(canvas), Some((values, side))) = (canvas.get(), map.get()) {
            paint_pixels(&canvas, &values, (side, side), &colour);
        }
    });
    view! {
        <figure class="small-map" data-testid=test_id>
            <figcaption>{caption}</figcaption>
            <LabelledMap queries=tokens keys=tokens side_px=SMALL_MAP_PX>
                <canvas node_ref=canvas role="img" aria-label=caption></canvas>
            </LabelledMap>
        </figure>
    }
}

#[component]
pub fn CompareView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let head_map = move |unmasked: bool| {
        let (causal, none) = state.both_masks()?;
        let report = if unmasked { none } else { causal };
        let (layer, head) = (state.layer.get(), state.head.get());
        (layer < report.attention().layers() && head < report.attention().heads())
            .then(|| (report.attention().head(layer, head).to_vec(), report.tokens().len()))
    };
    let tokens = Signal::derive(move || {
        state.both_masks().map(|(causal, _)| causal.tokens().iter().map(|t| t.text.clone()).collect()).unwrap_or_default()
    });
    let causal = Signal::derive(move || head_map(false));
    let unmasked = Signal::derive(move || head_map(true));
    let diff = Signal::derive(move || {
        let ((a, side), (b, _)) = (unmasked.get()?, causal.get()?);
        Some((difference(&a, &b), side))
    });
    let lookahead = move || {
        let (_, none) = state.both_masks()?;
        let layer = state.layer.get();
        let mass = lookahead_mass(&none.attention());
        let rows = mass
            .get(layer)?
            .iter()
            .enumerate()
            .map(|(head, &m)| {
                let selected = move || state.head.get() == head;
                view! {
                    <tr data-layer=layer.to_string() data-head=head.to_string() data-mass=format!("{m:.6}")
                        class:selected=selected on:click=move |_| state.head.set(head)>
                        <th scope="row">{format!("L{layer} H{head}")}</th>
                        <td><span class="bar-track"><span class="bar" style=format!("width: {:.1}%", 100.0 * m)></span></span></td>
                        <td>{format!("{m:.4}")}</td>
                    </tr>
                }
            })
            .collect_view();
        Some(view! {
            <table data-testid="lookahead-table" class="weights lookahead">
                <caption>{format!("Layer {layer}: mean weight on later tokens with the mask off")}</caption>
                <tbody>{rows}</tbody>
            </table>
        })
    };

    view! {
        <section class="compare">
            <div class="compare-controls">
                <button
                    class="toggle"
                    data-testid="compare-toggle"
                    disabled=move || state.is_translator()
                    title=move || state.is_translator().then_some("A translator runs with its own masks: its encoder sees the whole source")
                    aria-pressed=move || state.compare.get().to_string()
                    on:click=move |_| state.compare.update(|on| *on = !*on)
                >
                    {move || if state.compare.get() { "Hide the mask comparison" } else { "Compare masks" }}
                </button>
            </div>
            <Show when=move || state.compare.get() && !state.is_translator()>
                <div class="compare-view" data-testid="compare-view">
                    <p class="hint">{move || if state.both_masks().is_some() {
                        format!("Layer {}, head {}: the same head under both masks.", state.layer.get(), state.head.get())
                    } else {
                        "Running the other mask…".to_string()
                    }}</p>
                    <div class="compare-maps">
                        <SmallMap caption="causal" test_id="causal-map" map=causal tokens=tokens colour=viridis />
                        <SmallMap caption="no mask" test_id="unmasked-map" map=unmasked tokens=tokens colour=viridis />
                        <SmallMap caption="difference: red where the unmasked run looks more" test_id="diff-map" map=diff tokens=tokens colour=diverging />
                    </div>
                    {lookahead}
                </div>
            </Show>
        </section>
    }
}
