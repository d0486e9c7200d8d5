//! Attention laid over the picture: a translucent heat layer, a cell per patch, over the
//! picture as the model saw it (letterboxed or cropped into its square input). The main
//! overlay follows the selected head (or its layer's mean, or the rollout) and takes the
//! query from a click on a patch; the layer's heads and every head come as small overlays.

use leptos::html::Canvas;
use leptos::prelude::*;
use report::analysis::patches::{PatchMap, PatchSource};
use report::{AttentionReport, PictureInput};
use wasm_bindgen::JsCast;
use web_sys::{KeyboardEvent, MouseEvent};

use crate::canvas::paint_pixels;
use crate::state::PatchView;
use crate::state::{AppState, Run, Selection};

/// The side of the main overlay, and of the small ones, in CSS pixels.
const MAIN_SIZE: f64 = 448.0;
const HEAD_SIZE: f64 = 150.0;
const CELL_SIZE: f64 = 76.0;

impl AppState {
    /// The query whose attention the overlays show: the clicked patch, else the class token.
    pub fn patch_query(&self) -> usize {
        let tokens = self.run.report.with(|r| r.as_ref().map_or(0, |r| r.tokens().len()));
        self.selection.pinned_token.get().filter(|&q| q < tokens).unwrap_or(0)
    }
}

/// Where the picture's `<img>` lies in an overlay `size` pixels wide: (left, top, width,
/// height), so that the part the model saw fills the place it had in the input.
fn picture_box(picture: &PictureInput, size: f64) -> (f64, f64, f64, f64) {
    let k = size / picture.input_size as f64;
    let ([sl, st, sw, sh], [pl, pt, pw, ph]) = (picture.source, picture.placed);
    let (sx, sy) = (pw / sw, ph / sh);
    ((pl - sl * sx) * k, (pt - st * sy) * k, picture.width as f64 * sx * k, picture.height as f64 * sy * k)
}

/// The query's attention in `layer` from `source`, over the patches of the report in view:
/// computed once per change, for an overlay and whatever else shows it (the caption's scale).
fn patch_map(state: AppState, layer: Signal<usize>, source: Signal<PatchSource>) -> Memo<Option<PatchMap>> {
    Memo::new(move |_| {
        let report = state.run.report.get()?;
        PatchMap::of(&report, layer.get(), source.get(), state.patch_query())
    })
}

/// One query's attention over the picture. `select`: what a click does on a small overlay
/// (select its head); without it, a click picks the query and the pointer highlights patches.
#[component]
pub fn PatchOverlay(
    /// The layer shown.
    #[prop(into)]
    layer: Signal<usize>,
    /// Whose attention: a head, the layer's mean, the rollout.
    #[prop(into)]
    source: Signal<PatchSource>,
    /// Its values (see [`patch_map`]); made here when not given.
    #[prop(optional)]
    map: Option<Memo<Option<PatchMap>>>,
    /// The side in CSS pixels.
    size: f64,
    /// The overlay's `data-testid`.
    testid: &'static str,
    /// What a click does instead of picking the query.
    #[prop(optional)]
    select: Option<Callback<()>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas = NodeRef::<Canvas>::new();
    let map = map.unwrap_or_else(|| patch_map(state, layer, source));
    Effect::new(move |_| {
        let (Some(canvas), Some(map)) = (canvas.get(), map.get()) else { return };
        let (scale, value_scale) = (state.display.colour_scale.get(), state.display.value_scale.get());
        paint_pixels(&canvas, &map.values, (map.grid.rows, map.grid.columns), &|v| scale.colour(value_scale.fraction(v, map.top)));
    });
    let report = move || state.run.report.get();
    let picture_style = move || {
        let report: std::sync::Arc<AttentionReport> = report()?;
        let (left, top, width, height) = picture_box(report.picture.as_ref()?, size);
        Some(format!("left: {left:.2}px; top: {top:.2}px; width: {width:.2}px; height: {height:.2}px"))
    };
    // The patch under (x, y) of the overlay, as an item of the sequence.
    let patch_at = move |event: &MouseEvent| -> Option<usize> {
        let target: web_sys::Element = event.current_target()?.dyn_into().ok()?;
        let rect = target.get_bounding_client_rect();
        let grid = map.get_untracked()?.grid;
        let (x, y) = ((f64::from(event.client_x()) - rect.left()) / rect.width(), (f64::from(event.client_y()) - rect.top()) / rect.height());
        let (row, column) = ((y * grid.rows as f64).floor(), (x * grid.columns as f64).floor());
        (row >= 0.0 && column >= 0.0).then(|| grid.index_of(row as usize, column as usize)).flatten()
    };
    // Only a move onto another patch is news: every view that marks the hovered item redraws.
    let on_move = move |event: MouseEvent| {
        let patch = patch_at(&event);
        if state.selection.hovered_token.get_untracked() != patch {
            state.selection.hovered_token.set(patch);
        }
    };
    let on_click = move |event: MouseEvent| match select {
        Some(select) => select.run(()),
        None => state.selection.pinned_token.set(patch_at(&event)),
    };
    // A patch's square, as a style, in the overlay's pixels.
    let square = move |item: usize| -> Option<String> {
        let grid = map.get()?.grid;
        let (row, column) = grid.cell_of(item)?;
        let (w, h) = (size / grid.columns as f64, size / grid.rows as f64);
        Some(format!("left: {:.2}px; top: {:.2}px; width: {w:.2}px; height: {h:.2}px", column as f64 * w, row as f64 * h))
    };
    let head_name = move || match source.get() {
        PatchSource::Head(h) => h.to_string(),
        PatchSource::LayerMean => "mean".into(),
        PatchSource::Rollout => "rollout".into(),
    };
    let values = move || map.get().map(|m| m.values.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(" ")).unwrap_or_default();
    let label = move || format!("Layer {}, {}: where item {} looks over the picture", layer.get(), source.get().name(), state.patch_query());
    view! {
        <div
            class="patch-overlay"
            class:selectable=select.is_some()
            data-testid=testid
            data-layer=move || layer.get().to_string()
            data-head=head_name
            data-query=move || state.patch_query().to_string()
            data-top=move || map.get().map(|m| format!("{:.6}", m.top)).unwrap_or_default()
            data-values=values
            style=format!("width: {size}px; height: {size}px")
            role="img"
            aria-label=label
            on:mousemove=on_move
            on:mouseleave=move |_| state.selection.hovered_token.set(None)
            on:click=on_click
        >
            {move || report().and_then(|r| r.picture).and(state.vision.looked_at.get()).map(|p| view! { <img src=p.url.clone() alt="" draggable="false" style=picture_style /> })}
            <canvas class="heat" node_ref=canvas aria-hidden="true"></canvas>
            {move || state.selection.hovered_token.get().and_then(square).map(|style| view! { <div class="patch-focus" style=style></div> })}
            {move || square(state.patch_query()).map(|style| view! { <div class="patch-query" style=style></div> })}
        </div>
    }
}

/// The main overlay: what it shows (a head, the layer's mean, the rollout), the query, and
/// the keyboard: arrows move the query over the patches, Escape returns it to the class token.
#[component]
pub fn MainOverlay() -> impl IntoView {
    let state = expect_context::<AppState>();
    let layer = Signal::derive(move || state.selection.layer.get());
    let source = Signal::derive(move || state.vision.patch_view.get().source(state.selection.head.get()));
    let map = patch_map(state, layer, source);
    let buttons = PatchView::ALL
        .into_iter()
        .map(|view| {
            view! {
                <button
                    class="toggle"
                    data-testid=format!("patch-view-{}", view.name())
                    aria-pressed=move || (state.vision.patch_view.get() == view).to_string()
                    on:click=move |_| state.vision.patch_view.set(view)
                >
                    {view.title()}
                </button>
            }
        })
        .collect_view();
    let on_key = move |event: KeyboardEvent| {
        let Some(grid) = state.run.report.with_untracked(|r| r.as_ref().and_then(|r| r.sequences.first()?.grid)) else { return };
        let query = state.patch_query();
        // From the class token, the arrows start in the middle of the picture.
        let (row, column) = grid.cell_of(query).unwrap_or((grid.rows / 2, grid.columns / 2));
        let moved = match event.key().as_str() {
            "ArrowUp" => Some((row.saturating_sub(1), column)),
            "ArrowDown" => Some(((row + 1).min(grid.rows - 1), column)),
            "ArrowLeft" => Some((row, column.saturating_sub(1))),
            "ArrowRight" => Some((row, (column + 1).min(grid.columns - 1))),
            "Escape" => {
                state.selection.pinned_token.set(None);
                None
            }
            _ => return,
        };
        event.prevent_default();
        if let Some((row, column)) = moved {
            state.selection.pinned_token.set(grid.index_of(row, column));
        }
    };
    let query_label = move || {
        let query = state.patch_query();
        let text = state.run.report.with(|r| r.as_ref().and_then(|r| r.tokens().get(query).map(|t| t.text.clone()))).unwrap_or_default();
        if query == 0 {
            format!(
                "Query: {text}, the class token: where it looks is what the model gathers of the whole picture. Click a patch to see where that patch looks."
            )
        } else {
            format!("Query: the patch at {text}. Escape returns to the class token.")
        }
    };
    let caption = move || {
        let top = map.with(|m| m.as_ref().map(|m| m.top));
        let what = match state.vision.patch_view.get() {
            PatchView::Head => format!("Layer {}, head {}", state.selection.layer.get(), state.selection.head.get()),
            PatchView::LayerMean => format!("Layer {}, the mean of its heads", state.selection.layer.get()),
            PatchView::Rollout => "Rollout through every layer (each layer's head mean plus the residual, multiplied)".into(),
        };
        format!("{what}. Brighter patches receive more of the query's attention; the colour is scaled to the largest, {:.3}.", top.unwrap_or(0.0))
    };
    view! {
        <div class="vision-main" tabindex="0" on:keydown=on_key aria-label="The picture with the attention over it; arrow keys move the query">
            <div class="vision-controls" role="group" aria-label="What the overlay shows">{buttons}</div>
            <p class="hint" data-testid="patch-query-label">{query_label}</p>
            <PatchOverlay layer=layer source=source map=map size=MAIN_SIZE testid="patch-overlay" />
            <p class="caption" data-testid="patch-caption">{caption}</p>
        </div>
    }
}

/// Every head of the selected layer side by side; a click selects the head.
#[component]
pub fn LayerHeads() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let heads = move || run.report.with(|r| r.as_ref().map_or(0, |r| r.attention().heads()));
    view! {
        <div class="layer-heads" data-testid="layer-heads">
            <h3>{move || format!("Every head of layer {}", selection.layer.get())}</h3>
            <div class="overlay-row">
                {move || (0..heads()).map(|head| view! {
                    <figure class:selected=move || selection.head.get() == head>
                        <PatchOverlay
                            layer=Signal::derive(move || selection.layer.get())
                            source=Signal::derive(move || PatchSource::Head(head))
                            size=HEAD_SIZE
                            testid="layer-head"
                            select=Callback::new(move |_| selection.head.set(head))
                        />
                        <figcaption>{format!("head {head}")}</figcaption>
                    </figure>
                }).collect_view()}
            </div>
        </div>
    }
}

/// Every head of every layer over the picture, layers down and heads across; a click
/// selects the head.
#[component]
pub fn AllHeads() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let shape = move || run.report.with(|r| r.as_ref().map_or((0, 0), |r| (r.attention().layers(), r.attention().heads())));
    view! {
        <details class="all-heads" data-testid="all-heads">
            <summary>"Every head of every layer"</summary>
            <div class="overlay-grid" style=move || format!("grid-template-columns: 4rem repeat({}, {CELL_SIZE}px)", shape().1)>
                {move || {
                    let (layers, heads) = shape();
                    (0..layers).map(|layer| view! {
                        <div class="head-label">{format!("layer {layer}")}</div>
                        {(0..heads).map(|head| view! {
                            <PatchOverlay
                                layer=Signal::derive(move || layer)
                                source=Signal::derive(move || PatchSource::Head(head))
                                size=CELL_SIZE
                                testid="all-heads-cell"
                                select=Callback::new(move |_| { selection.layer.set(layer); selection.head.set(head); })
                            />
                        }).collect_view()}
                    }).collect_view()
                }}
            </div>
        </details>
    }
}
