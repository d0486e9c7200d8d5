//! Masked and unmasked attention side by side: the selected head under the causal
//! mask, the same head with the mask off, and their difference (unmasked − causal)
//! in a diverging scale centred on 0. Beside them, per head of the layer, how much
//! weight the unmasked run puts on later tokens: the mass the causal mask forbids.

use leptos::html::Canvas;
use leptos::prelude::*;
use report::analysis::summary::{difference, lookahead_mass};

use super::{ExportMenu, LabelledMap, ReadingNote, Subject};
use crate::canvas::paint_pixels;
use crate::state::{Display, Run, Selection};
use crate::weighting::{ShownMap, Weighting};
use report::analysis::reading::ReadMap;
use report::figure::colour::{diverging, viridis};
use report::figure::ValueScale;

/// The side of a small map in CSS pixels (the stylesheet's `.small-map canvas`).
const SMALL_MAP_PX: f64 = 180.0;

/// A small map painted a pixel per weight, with its tokens on both axes and a caption.
#[component]
fn SmallMap(
    /// Shown under the map.
    caption: &'static str,
    /// The test id of the figure.
    test_id: &'static str,
    /// The map as read ([row, column] row-major, with its labels).
    #[prop(into)]
    map: Signal<Option<ReadMap>>,
    /// Paints a value.
    colour: fn(f32) -> (u8, u8, u8),
    /// Whether the linear/log choice applies (a difference stays linear around 0).
    #[prop(default = true)]
    follows_scale: bool,
) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let display = expect_context::<Display>();
    Effect::new(move |_| {
        if let (Some(canvas), Some(map)) = (canvas.get(), map.get()) {
            let value_scale = if follows_scale { display.value_scale.get() } else { ValueScale::Linear };
            // A difference in [-1, 1] goes to the diverging scale as it is.
            paint_pixels(&canvas, &map.values, (map.rows.len(), map.columns.len()), &|v| {
                colour(match value_scale {
                    ValueScale::Log => value_scale.fraction(v, 1.0),
                    _ => v,
                })
            });
        }
    });
    let queries = Signal::derive(move || map.get().map(|m| m.rows.labels).unwrap_or_default());
    let keys = Signal::derive(move || map.get().map(|m| m.columns.labels).unwrap_or_default());
    view! {
        <figure class="small-map" data-testid=test_id>
            <figcaption>{caption}</figcaption>
            <LabelledMap queries=queries keys=keys side_px=SMALL_MAP_PX>
                <canvas node_ref=canvas role="img" aria-label=caption></canvas>
            </LabelledMap>
        </figure>
    }
}

#[component]
pub fn CompareView() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    let head_map = move |unmasked: bool| {
        let (causal, none) = run.both_masks()?;
        let report = if unmasked { none } else { causal };
        let (layer, head) = (selection.layer.get(), selection.head.get());
        // Attention under both masks, read as every map is (the first token hidden, words).
        (layer < report.attention().layers() && head < report.attention().heads())
            .then(|| run.report_text.with(|text| ShownMap::of(&report, layer, head, Weighting::Attention, display.reading.get(), text).read))
    };
    let causal = Signal::derive(move || head_map(false));
    let unmasked = Signal::derive(move || head_map(true));
    let diff = Signal::derive(move || {
        let (a, b) = (unmasked.get()?, causal.get()?);
        Some(ReadMap { values: difference(&a.values, &b.values), before_renormalising: None, ..a })
    });
    let lookahead = move || {
        let (_, none) = run.both_masks()?;
        let layer = selection.layer.get();
        let mass = lookahead_mass(none.attention());
        let rows = mass
            .get(layer)?
            .iter()
            .enumerate()
            .map(|(head, &m)| {
                let selected = move || selection.head.get() == head;
                view! {
                    <tr data-layer=layer.to_string() data-head=head.to_string() data-mass=format!("{m:.6}")
                        class:selected=selected on:click=move |_| selection.head.set(head)>
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
                    disabled=move || selection.runs_own_masks()
                    title=move || selection.runs_own_masks().then_some("This model runs with its own masks only")
                    aria-pressed=move || selection.compare.get().to_string()
                    on:click=move |_| selection.compare.update(|on| *on = !*on)
                >
                    {move || if selection.compare.get() { "Hide the mask comparison" } else { "Compare masks" }}
                </button>
            </div>
            <Show when=move || selection.compare.get() && !selection.runs_own_masks()>
                <div class="compare-view" data-testid="compare-view">
                    <p class="hint">{move || if run.is_long() {
                        format!("A long text: the mask comparison is for texts of at most {} tokens, whose maps the page keeps whole.", crate::WHOLE_MAX_TOKENS)
                    } else if run.both_masks().is_some() {
                        format!("Layer {}, head {}: the same head under both masks.", selection.layer.get(), selection.head.get())
                    } else {
                        "Running the other mask…".to_string()
                    }}<ReadingNote /></p>
                    <ExportMenu subject=Subject::Compare test_id="compare-export" />
                    <div class="compare-maps">
                        <SmallMap caption="causal" test_id="causal-map" map=causal colour=viridis />
                        <SmallMap caption="no mask" test_id="unmasked-map" map=unmasked colour=viridis />
                        <SmallMap caption="difference: red where the unmasked run looks more" test_id="diff-map" map=diff colour=diverging follows_scale=false />
                    </div>
                    {lookahead}
                </div>
            </Show>
        </section>
    }
}
