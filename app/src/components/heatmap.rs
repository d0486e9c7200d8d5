//! The selected head's attention as a heatmap, drawn with plotters on a canvas:
//! queries as rows, keys as columns, token labels on both axes, a colour legend
//! from 0 to 1 (to the map's largest value when weighted by value norms). Hovering a
//! cell shows `query → key: weight`.

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use report::figure::heatmap::{self, HeatmapFigure, Layout};
use report::figure::Theme;

use super::{token_label, ReadingNote};
use crate::state::{AppState, Status};
use crate::weighting::{ShownMap, Weighting};
use report::figure::ColourScale;

impl AppState {
    /// The selected head's map as a figure: the page draws it, the export saves it.
    pub fn heatmap_figure(&self, map: &ShownMap) -> HeatmapFigure {
        let focus = self.run.focused_token(&self.selection);
        HeatmapFigure {
            focus: (focus.and_then(|t| map.read.rows.index_of(t)), focus.and_then(|t| map.read.columns.index_of(t))),
            ..HeatmapFigure::of(map, self.display.value_scale.get(), self.display.colour_scale.get())
        }
    }
}

/// Draws a figure on the canvas, sized to it.
pub(crate) fn draw(canvas: web_sys::HtmlCanvasElement, figure: &HeatmapFigure) -> Option<()> {
    let (width, height) = Layout::of(figure, 1.0).size();
    canvas.set_width(width);
    canvas.set_height(height);
    let root = CanvasBackend::with_canvas_object(canvas.clone())?.into_drawing_area();
    // The page's panel and text colours, light or dark as the system says.
    let theme = if prefers_dark() { Theme::DARK } else { Theme::LIGHT };
    // The cells as one image (plotters draws on the canvas as it goes, so the outline and the
    // labels drawn after them lie over them).
    let put_cells = |cells: &heatmap::CellPixels| {
        crate::canvas::put_rgba_at(&canvas, &cells.rgba, (cells.width, cells.height), (cells.left, cells.top))
            .ok_or_else(|| "the heatmap's cells could not be put".to_string())
    };
    heatmap::draw_with_cells(&root, figure, theme, 1.0, Some(&put_cells)).ok()?;
    root.present().ok()
}

/// Whether the system asks for a dark theme.
pub(crate) fn prefers_dark() -> bool {
    web_sys::window().and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten()).is_some_and(|query| query.matches())
}

/// The heatmap of the selected head, with its tooltip.
#[component]
pub fn Heatmap() -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas_ref = NodeRef::<Canvas>::new();
    // (query, key) under the pointer.
    let hovered = RwSignal::new(None::<(usize, usize, f64, f64)>);

    let shown = move || state.run.selected_head(&state.selection);

    Effect::new(move |_| {
        let (Some(canvas), Some((_, _, _, map))) = (canvas_ref.get(), state.run.shown_map()) else { return };
        if draw(canvas, &state.heatmap_figure(&map)).is_none() {
            state.run.status.set(crate::state::Status::Failed("the heatmap could not be drawn".into()));
        }
    });

    let on_move = move |ev: web_sys::MouseEvent| {
        let Some((_, _, _, map)) = state.run.shown_map() else { return };
        let layout = Layout::of(&state.heatmap_figure(&map), 1.0);
        let (x, y) = (ev.offset_x() as f64, ev.offset_y() as f64);
        // The canvas may be drawn smaller than its pixels (a narrow window): scale back.
        let scale = canvas_ref.get().map(|c| c.width() as f64 / c.get_bounding_client_rect().width().max(1.0)).unwrap_or(1.0);
        hovered.set(layout.cell_at(x * scale, y * scale).map(|(q, k)| (q, k, x, y)));
    };

    let tooltip = move || {
        let (row, column, x, y) = hovered.get()?;
        let (report, layer, head, map) = state.run.shown_map()?;
        let read = &map.read;
        let value = *map.values().get(row * read.columns.len() + column)?;
        let pair = format!("{} → {}", token_label(read.rows.labels.get(row)?), token_label(read.columns.labels.get(column)?));
        // One token each way, as computed: the value's parts can be named.
        let as_computed = read.reading == Default::default();
        let norm = report.value_norms.as_ref().map(|n| n.head(layer, head)).and_then(|n| n.get(column).copied());
        let before = read.before_renormalising.as_ref().and_then(|b| b.get(row * read.columns.len() + column));
        let text = match (map.weighting, norm, before) {
            (Weighting::ValueNorms, Some(norm), _) if as_computed => {
                format!("{pair}: {value:.4} (α {:.4} × ‖f(x)‖ {norm:.4})", report.attention().weight(layer, head, row, column))
            }
            (_, _, Some(before)) => format!("{pair}: {value:.4} (before renormalising: {before:.4})"),
            _ => format!("{pair}: {value:.4}"),
        };
        let style = format!("left: {}px; top: {}px", x + 14.0, y + 14.0);
        Some(view! { <div data-testid="heatmap-tooltip" class="tooltip" style=style>{text}</div> })
    };

    // Until there is a map, the frame says what it waits for instead of standing empty.
    let placeholder = move || {
        if shown().is_some() {
            return None;
        }
        let waiting_for = match state.run.status.get() {
            Status::Starting | Status::Loading { .. } => "The map appears here once the model has loaded.",
            Status::Computing | Status::Attending { .. } | Status::Translating { .. } | Status::Transcribing { .. } | Status::Done { .. } => {
                "Computing the map…"
            }
            Status::EmptyText => "Type a sentence above to see its attention here.",
            Status::Failed(_) => "No map: the status above says what went wrong.",
        };
        Some(view! { <p class="map-placeholder" data-testid="map-placeholder" role="status">{waiting_for}</p> })
    };

    view! {
        <figure
            class="heatmap"
            data-testid="heatmap"
            data-layer=move || state.selection.layer.get().to_string()
            data-head=move || state.selection.head.get().to_string()
            data-mask=move || state.selection.mask.get().name()
            data-weighting=move || state.run.shown_map().map(|(_, _, _, map)| map.weighting.name())
            data-top=move || state.run.shown_map().map(|(_, _, _, map)| map.top.to_string())
            data-focus=move || state.run.focused_token(&state.selection).map(|i| i.to_string())
            class:empty=move || shown().is_none()
        >
            <div class="map-pickers">
            <label class="picker scale-picker">
                <span class="label">"Colour scale"</span>
                <select data-testid="colour-scale" on:change=move |ev| {
                    let name = event_target_value(&ev);
                    let scale = ColourScale::ALL.into_iter().find(|s| s.name() == name).unwrap_or(ColourScale::Viridis);
                    state.display.colour_scale.set(scale);
                }>
                    {ColourScale::ALL.map(|s| view! { <option value=s.name() selected=move || state.display.colour_scale.get() == s>{s.name()}</option> })}
                </select>
            </label>
            <label class="picker scale-picker">
                <span class="label">"Weigh by"</span>
                // Every model's run keeps value norms when asked: a translator's encoder heads,
                // a speech model's decoder heads, a picture's heads.
                <select data-testid="weighting-select" on:change=move |ev| {
                    state.display.weighting.set(Weighting::from_name(&event_target_value(&ev)).unwrap_or(Weighting::Attention));
                }>
                    {Weighting::ALL.map(|w| view! { <option value=w.name() selected=move || state.display.weighting.get() == w>{w.title()}</option> })}
                </select>
            </label>
            </div>
            <div class="canvas-wrap">
                <canvas
                    node_ref=canvas_ref
                    width=heatmap::WIDTH
                    height=heatmap::WIDTH
                    role="img"
                    aria-label=move || format!(
                        "Attention of layer {}, head {}: open the table for the numbers",
                        state.selection.layer.get(),
                        state.selection.head.get()
                    )
                    on:mousemove=on_move
                    on:mouseleave=move |_| hovered.set(None)
                ></canvas>
                {tooltip}
                {placeholder}
            </div>
            <figcaption class:hidden=move || shown().is_none()>
                "Rows: queries (the token that looks). Columns: keys (the token looked at)."
                <ReadingNote />
                // Said only of a map that really is weighted (a run without norms shows attention).
                {move || (state.run.shown_map().map(|(_, _, _, map)| map.weighting) == Some(Weighting::ValueNorms)).then(|| view! {
                    <span class="weighting-note" data-testid="weighting-note">
                        " Each cell is α·‖f(x_key)‖: the attention times the length of what the key's value adds to \
                        the output through this head (Kobayashi et al., 2020), scaled to the map's largest cell. \
                        A key that draws much attention but carries a short value (a sink) fades."
                    </span>
                })}
            </figcaption>
        </figure>
    }
}
