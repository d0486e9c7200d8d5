//! The selected head's attention as a heatmap, drawn with plotters on a canvas:
//! queries as rows, keys as columns, token labels on both axes, a colour legend
//! from 0 to 1 (to the map's largest value when weighted by value norms). Hovering a
//! cell shows `query → key: weight`.

use engine::AttentionReport;
use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_canvas::CanvasBackend;

use super::axis_labels::label_stride;
use super::token_label;
use crate::colormap::ColourScale;
use crate::weighting::{ShownMap, Weighting};
use crate::{AppState, Status};

/// The canvas's width in CSS pixels.
const SIZE: u32 = 640;
/// Room for the query labels (left) and the key labels (bottom).
const LABELS: u32 = 110;
/// Room for the legend (right).
const LEGEND: u32 = 70;
/// The grid's side: what the width leaves beside labels and legend.
const GRID: u32 = SIZE - LABELS - LEGEND - 10;
/// The canvas's height: the grid, and the key labels under it.
const HEIGHT: u32 = 10 + GRID + LABELS;

/// Where the grid of cells sits on the canvas: shared by drawing and hit-testing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub left: f64,
    pub top: f64,
    pub cell: f64,
    pub tokens: usize,
}

impl Layout {
    pub fn new(tokens: usize) -> Self {
        Self { left: LABELS as f64, top: 10.0, cell: GRID as f64 / tokens.max(1) as f64, tokens }
    }

    /// The (query, key) cell under a point of the canvas, if any.
    pub fn cell_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let key = ((x - self.left) / self.cell).floor();
        let query = ((y - self.top) / self.cell).floor();
        let inside = |v: f64| v >= 0.0 && (v as usize) < self.tokens;
        (inside(key) && inside(query)).then_some((query as usize, key as usize))
    }

    /// The label font size and which labels to draw (every `n`th): when the cells are
    /// too small for a readable font, labels are thinned rather than shrunk.
    pub fn labels(&self) -> (f64, usize) {
        label_stride(self.cell)
    }

    fn pixel(&self, index: usize, origin: f64) -> i32 {
        (origin + index as f64 * self.cell).round() as i32
    }
}

/// What one drawing of the heatmap shows.
struct Drawing<'a> {
    report: &'a AttentionReport,
    map: &'a ShownMap<'a>,
    focus: Option<usize>,
    scale: ColourScale,
}

fn draw(canvas: web_sys::HtmlCanvasElement, drawing: Drawing) -> Option<()> {
    let Drawing { report, map, focus, scale } = drawing;
    let root = CanvasBackend::with_canvas_object(canvas)?.into_drawing_area();
    // The page's panel and text colours, light or dark as the system says.
    let (paper, ink) = if prefers_dark() { (RGBColor(30, 32, 41), RGBColor(232, 233, 240)) } else { (WHITE, BLACK) };
    root.fill(&paper).ok()?;
    let n = report.tokens().len();
    let layout = Layout::new(n);
    for q in 0..n {
        for k in 0..n {
            let (r, g, b) = scale.colour(map.scaled(map.values[q * n + k]));
            let corner = (layout.pixel(k, layout.left), layout.pixel(q, layout.top));
            let opposite = (layout.pixel(k + 1, layout.left), layout.pixel(q + 1, layout.top));
            root.draw(&Rectangle::new([corner, opposite], RGBColor(r, g, b).filled())).ok()?;
        }
    }

    // The focused token: its row (what it attends to) and column (what attends to it).
    if let Some(i) = focus.filter(|&i| i < n) {
        let outline = ShapeStyle::from(&RGBColor(230, 57, 70)).stroke_width(2);
        let (left, right) = (layout.pixel(0, layout.left), layout.pixel(n, layout.left));
        let (top, bottom) = (layout.pixel(0, layout.top), layout.pixel(n, layout.top));
        let row = [(left, layout.pixel(i, layout.top)), (right, layout.pixel(i + 1, layout.top))];
        let column = [(layout.pixel(i, layout.left), top), (layout.pixel(i + 1, layout.left), bottom)];
        root.draw(&Rectangle::new(row, outline)).ok()?;
        root.draw(&Rectangle::new(column, outline)).ok()?;
    }

    let (font_px, every) = layout.labels();
    let font = ("sans-serif", font_px).into_font().color(&ink);
    let grid_bottom = layout.pixel(n, layout.top);
    for (i, token) in report.tokens().iter().enumerate().step_by(every) {
        let label = token_label(&token.text);
        let centre = layout.top + (i as f64 + 0.5) * layout.cell;
        let row_style = font.clone().pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(label.clone(), (layout.left as i32 - 6, centre as i32), row_style)).ok()?;
        let centre = layout.left + (i as f64 + 0.5) * layout.cell;
        let column_style = font.clone().transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(label, (centre as i32, grid_bottom + 6), column_style)).ok()?;
    }

    // The legend: 0 at the bottom, the scale's top (1 for attention) at the top.
    let (x0, x1) = ((SIZE - LEGEND + 16) as i32, (SIZE - LEGEND + 34) as i32);
    let (top, bottom) = (layout.top as i32, grid_bottom);
    let steps = 64;
    for s in 0..steps {
        let (r, g, b) = scale.colour((s as f32 + 0.5) / steps as f32);
        let y = |s: i32| bottom - (bottom - top) * s / steps;
        root.draw(&Rectangle::new([(x0, y(s + 1)), (x1, y(s))], RGBColor(r, g, b).filled())).ok()?;
    }
    let tick_style = ("sans-serif", 12).into_font().color(&ink).pos(Pos::new(HPos::Left, VPos::Center));
    for (value, y) in [(map.top, top), (map.top / 2.0, (top + bottom) / 2), (0.0, bottom)] {
        root.draw(&Text::new(tick(value), (x1 + 4, y), tick_style.clone())).ok()?;
    }
    root.present().ok()
}

/// A legend value, short: 1, 0.5, 0, or three significant digits (12.3, 0.417).
fn tick(value: f32) -> String {
    let text = if value == 0.0 || value >= 100.0 {
        format!("{value:.0}")
    } else {
        let decimals = (2 - value.abs().log10().floor() as i32).clamp(0, 4) as usize;
        format!("{value:.decimals$}")
    };
    // 1.00 -> 1, 0.500 -> 0.5
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// Whether the system asks for a dark theme.
fn prefers_dark() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|query| query.matches())
}

/// The heatmap of the selected head, with its tooltip.
#[component]
pub fn Heatmap() -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas_ref = NodeRef::<Canvas>::new();
    // (query, key) under the pointer.
    let hovered = RwSignal::new(None::<(usize, usize, f64, f64)>);

    let shown = move || state.selected_head();

    Effect::new(move |_| {
        let (Some(canvas), Some((report, _, _, map))) = (canvas_ref.get(), state.shown_map()) else { return };
        let drawing = Drawing { report: &report, map: &map, focus: state.focused_token(), scale: state.colour_scale.get() };
        if draw(canvas, drawing).is_none() {
            state.status.set(crate::Status::Failed("the heatmap could not be drawn".into()));
        }
    });

    let on_move = move |ev: web_sys::MouseEvent| {
        let Some((report, _, _)) = shown() else { return };
        let layout = Layout::new(report.tokens().len());
        let (x, y) = (ev.offset_x() as f64, ev.offset_y() as f64);
        // The canvas may be drawn smaller than its pixels (a narrow window): scale back.
        let scale = canvas_ref
            .get()
            .map(|c| c.width() as f64 / c.get_bounding_client_rect().width().max(1.0))
            .unwrap_or(1.0);
        hovered.set(layout.cell_at(x * scale, y * scale).map(|(q, k)| (q, k, x, y)));
    };

    let tooltip = move || {
        let (q, k, x, y) = hovered.get()?;
        let (report, layer, head) = shown()?;
        let weight = report.attention().weight(layer, head, q, k);
        let pair = format!("{} → {}", token_label(&report.tokens().get(q)?.text), token_label(&report.tokens().get(k)?.text));
        let norm = report.value_norms.as_ref().map(|n| n.head(layer, head)).and_then(|n| n.get(k).copied());
        let text = match (state.weighting.get(), norm) {
            (Weighting::ValueNorms, Some(norm)) => format!("{pair}: {:.4} (α {weight:.4} × ‖f(x)‖ {norm:.4})", weight * norm),
            _ => format!("{pair}: {weight:.4}"),
        };
        let style = format!("left: {}px; top: {}px", x + 14.0, y + 14.0);
        Some(view! { <div data-testid="heatmap-tooltip" class="tooltip" style=style>{text}</div> })
    };

    // Until there is a map, the frame says what it waits for instead of standing empty.
    let placeholder = move || {
        if shown().is_some() {
            return None;
        }
        let waiting_for = match state.status.get() {
            Status::Starting | Status::Loading { .. } => "The map appears here once the model has loaded.",
            Status::Computing | Status::Translating { .. } | Status::Done { .. } => "Computing the map…",
            Status::EmptyText => "Type a sentence above to see its attention here.",
            Status::Failed(_) => "No map: the status above says what went wrong.",
        };
        Some(view! { <p class="map-placeholder" data-testid="map-placeholder" role="status">{waiting_for}</p> })
    };

    view! {
        <figure
            class="heatmap"
            data-testid="heatmap"
            data-layer=move || state.layer.get().to_string()
            data-head=move || state.head.get().to_string()
            data-mask=move || state.mask.get().name()
            data-weighting=move || state.shown_map().map(|(_, _, _, map)| map.weighting.name())
            data-top=move || state.shown_map().map(|(_, _, _, map)| map.top.to_string())
            data-focus=move || state.focused_token().map(|i| i.to_string())
            class:empty=move || shown().is_none()
        >
            <div class="map-pickers">
            <label class="picker scale-picker">
                <span class="label">"Colour scale"</span>
                <select data-testid="colour-scale" on:change=move |ev| {
                    let name = event_target_value(&ev);
                    let scale = ColourScale::ALL.into_iter().find(|s| s.name() == name).unwrap_or(ColourScale::Viridis);
                    state.colour_scale.set(scale);
                }>
                    {ColourScale::ALL.map(|s| view! { <option value=s.name() selected=move || state.colour_scale.get() == s>{s.name()}</option> })}
                </select>
            </label>
            <label class="picker scale-picker">
                <span class="label">"Weigh by"</span>
                // A translator keeps no value norms: its maps are attention only.
                <select data-testid="weighting-select" disabled=move || state.is_translator()
                    title=move || state.is_translator().then_some("A translator's run keeps no value norms")
                    on:change=move |ev| {
                    state.weighting.set(Weighting::from_name(&event_target_value(&ev)).unwrap_or(Weighting::Attention));
                }>
                    {Weighting::ALL.map(|w| view! { <option value=w.name() selected=move || state.weighting.get() == w>{w.title()}</option> })}
                </select>
            </label>
            </div>
            <div class="canvas-wrap">
                <canvas
                    node_ref=canvas_ref
                    width=SIZE
                    height=HEIGHT
                    role="img"
                    aria-label=move || format!(
                        "Attention of layer {}, head {}: open the table for the numbers",
                        state.layer.get(),
                        state.head.get()
                    )
                    on:mousemove=on_move
                    on:mouseleave=move |_| hovered.set(None)
                ></canvas>
                {tooltip}
                {placeholder}
            </div>
            <figcaption class:hidden=move || shown().is_none()>
                "Rows: queries (the token that looks). Columns: keys (the token looked at)."
                // Said only of a map that really is weighted (a run without norms shows attention).
                {move || (state.shown_map().map(|(_, _, _, map)| map.weighting) == Some(Weighting::ValueNorms)).then(|| view! {
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

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn cells_are_found_under_the_pointer() {
        let layout = Layout::new(4);
        let centre = |q: usize, k: usize| {
            (layout.left + (k as f64 + 0.5) * layout.cell, layout.top + (q as f64 + 0.5) * layout.cell)
        };
        for (q, k) in [(0, 0), (3, 1), (2, 3)] {
            let (x, y) = centre(q, k);
            assert_eq!(layout.cell_at(x, y), Some((q, k)));
        }
        assert_eq!(layout.cell_at(layout.left - 1.0, layout.top + 1.0), None);
        assert_eq!(layout.cell_at(layout.left + 4.0 * layout.cell + 1.0, layout.top), None);
    }

    #[test]
    fn legend_ticks_are_short() {
        let ticks: Vec<String> = [1.0, 0.5, 0.0, 12.345, 0.41666, 250.2, 3.0].into_iter().map(super::tick).collect();
        assert_eq!(ticks, ["1", "0.5", "0", "12.3", "0.417", "250", "3"]);
    }

    #[test]
    fn labels_stay_readable_at_a_hundred_tokens() {
        // Few tokens: every label, at a comfortable size.
        assert_eq!(Layout::new(6).labels(), (13.0, 1));
        // 100 tokens: 4.5-pixel cells; labels 9 pixels high every third token.
        assert_eq!(Layout::new(100).labels(), (9.0, 3));
    }
}
