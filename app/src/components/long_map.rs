//! A long text's selected head: its whole map (every token, computed by the worker when the
//! head is selected) on a canvas a pixel a cell, with zoom (the wheel, the buttons, + and -)
//! and pan (a drag, the arrow keys), a tooltip, and a table of the weights around the cell
//! under the pointer. Until the whole map arrives, the report's pooled map stands in.

use std::rc::Rc;

use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use super::{token_label, ScalePicker};
use crate::canvas::paint_pixels;
use crate::state::{Display, Run, Selection};

/// The canvas's side, in CSS pixels.
const VIEW_PX: f64 = 560.0;
/// The fewest tokens the zoom shows across.
const MIN_SPAN: usize = 12;
/// How many rows and columns the table shows on each side of its cell.
const TABLE_REACH: usize = 4;

/// Which square of the map the canvas shows: `span` tokens across from (`query`, `key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewport {
    pub tokens: usize,
    pub span: usize,
    pub query: usize,
    pub key: usize,
}

impl Viewport {
    /// The whole map.
    pub fn whole(tokens: usize) -> Self {
        Self { tokens, span: tokens.max(1), query: 0, key: 0 }
    }

    /// `factor` times as many tokens across (below 1: closer), keeping the cell
    /// (`query`, `key`) where it is on the canvas.
    pub fn zoomed(self, factor: f64, (query, key): (usize, usize)) -> Self {
        let span = ((self.span as f64 * factor).round() as usize).clamp(MIN_SPAN.min(self.tokens.max(1)), self.tokens.max(1));
        let keep = |at: usize, from: usize| at as f64 - (at as f64 - from as f64) * span as f64 / self.span as f64;
        Self { span, ..self }.at(keep(query, self.query), keep(key, self.key))
    }

    /// Moved by (`queries`, `keys`) tokens, kept inside the map.
    pub fn panned(self, queries: f64, keys: f64) -> Self {
        self.at(self.query as f64 + queries, self.key as f64 + keys)
    }

    fn at(self, query: f64, key: f64) -> Self {
        let last = self.tokens.saturating_sub(self.span) as f64;
        Self { query: query.round().clamp(0.0, last) as usize, key: key.round().clamp(0.0, last) as usize, ..self }
    }

    /// The cell under (`x`, `y`), a point on a canvas `side` pixels square.
    pub fn cell_at(&self, x: f64, y: f64, side: f64) -> Option<(usize, usize)> {
        let per_pixel = self.span as f64 / side;
        let (query, key) = (self.query + (y * per_pixel).floor() as usize, self.key + (x * per_pixel).floor() as usize);
        (x >= 0.0 && y >= 0.0 && query < self.tokens && key < self.tokens).then_some((query, key))
    }

    /// The cell in the middle of the view.
    pub fn centre(&self) -> (usize, usize) {
        (self.query + self.span / 2, self.key + self.span / 2)
    }
}

/// What the canvas draws: the whole map, or the pooled one standing in (`block` tokens a
/// cell), as an image a pixel a cell.
struct Drawn {
    block: usize,
    image: HtmlCanvasElement,
}

/// The map as an image a pixel a cell, on a canvas of its own (drawn scaled from there).
fn image_of(values: &[f32], cells: usize, colour: impl Fn(f32) -> (u8, u8, u8)) -> Option<HtmlCanvasElement> {
    let image: HtmlCanvasElement = document().create_element("canvas").ok()?.dyn_into().ok()?;
    paint_pixels(&image, values, (cells, cells), &colour)?;
    Some(image)
}

#[component]
pub fn LongMap() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    let canvas_ref = NodeRef::<Canvas>::new();
    let tokens = move || run.report.with(|r| r.as_ref().map_or(0, |r| r.tokens().len()));
    let view_of = RwSignal::new(Viewport::whole(0));
    // A new text shows its whole map first.
    Effect::new(move |_| view_of.set(Viewport::whole(tokens())));
    let hovered = RwSignal::new(None::<(usize, usize, f64, f64)>);
    let dragging = RwSignal::new(None::<(f64, f64, Viewport)>);
    let whole = move || run.whole_map.get().filter(|w| w.is_of(selection.layer.get(), selection.head.get()) && w.queries == tokens());

    // The image to draw, made once per map and colouring (not per zoom or pan). A canvas is
    // a JavaScript object, which stays on its thread: the signal is a local one.
    let drawn = RwSignal::new_local(None::<Rc<Drawn>>);
    let image = move || -> Option<Rc<Drawn>> {
        let (scale, values) = (display.colour_scale.get(), display.value_scale.get());
        let colour = move |w: f32| scale.colour(values.fraction(w, 1.0));
        if let Some(whole) = whole() {
            return image_of(&whole.values, whole.queries, colour).map(|image| Rc::new(Drawn { block: 1, image }));
        }
        let report = run.report.get()?;
        let site = report.sites.first()?;
        let report::MapForm::Pooled { block, .. } = site.form else { return None };
        let (layer, head) = (selection.layer.get(), selection.head.get());
        if layer >= site.maps.layers() || head >= site.maps.heads() {
            return None;
        }
        let cells = site.maps.shape()[2];
        image_of(site.maps.head(layer, head), cells, colour).map(|image| Rc::new(Drawn { block, image }))
    };
    Effect::new(move |_| drawn.set(image()));

    Effect::new(move |_| {
        let (Some(canvas), Some(drawn)) = (canvas_ref.get(), drawn.get()) else { return };
        let view = view_of.get();
        paint(&canvas, &drawn, view);
    });

    let offset = move |ev: &web_sys::MouseEvent| {
        let canvas = canvas_ref.get_untracked()?;
        let rect = canvas.get_bounding_client_rect();
        // In the canvas's CSS pixels, whatever size the page drew it at.
        let scale = VIEW_PX / rect.width().max(1.0);
        Some(((ev.client_x() as f64 - rect.left()) * scale, (ev.client_y() as f64 - rect.top()) * scale))
    };
    let on_move = move |ev: web_sys::MouseEvent| {
        let Some((x, y)) = offset(&ev) else { return };
        if let Some((x0, y0, from)) = dragging.get_untracked() {
            let per_pixel = from.span as f64 / VIEW_PX;
            view_of.set(from.panned((y0 - y) * per_pixel, (x0 - x) * per_pixel));
        }
        let cell = view_of.get_untracked().cell_at(x, y, VIEW_PX);
        hovered.set(cell.map(|(q, k)| (q, k, x, y)));
        // The token strip and the grid's bands follow the query row (set only when it changes:
        // 270 thumbnails' bands redraw on each set).
        let query = cell.map(|(q, _)| q);
        if selection.hovered_token.get_untracked() != query {
            selection.hovered_token.set(query);
        }
    };
    let on_wheel = move |ev: web_sys::WheelEvent| {
        let Some((x, y)) = offset(&ev) else { return };
        ev.prevent_default();
        let view = view_of.get_untracked();
        let around = view.cell_at(x, y, VIEW_PX).unwrap_or_else(|| view.centre());
        view_of.set(view.zoomed(if ev.delta_y() > 0.0 { 1.25 } else { 0.8 }, around));
    };
    let zoom = move |factor: f64| view_of.update(|v| *v = v.zoomed(factor, v.centre()));
    let on_key = move |ev: web_sys::KeyboardEvent| {
        let view = view_of.get_untracked();
        let step = (view.span as f64 / 8.0).max(1.0);
        let moved = match ev.key().as_str() {
            "+" | "=" => view.zoomed(0.8, view.centre()),
            "-" | "_" => view.zoomed(1.25, view.centre()),
            "0" => Viewport::whole(view.tokens),
            "ArrowUp" => view.panned(-step, 0.0),
            "ArrowDown" => view.panned(step, 0.0),
            "ArrowLeft" => view.panned(0.0, -step),
            "ArrowRight" => view.panned(0.0, step),
            _ => return,
        };
        ev.prevent_default();
        view_of.set(moved);
    };

    // The weight of (query, key): the whole map's, or the pooled block's standing in.
    let weight = move |query: usize, key: usize| -> Option<(f32, bool)> {
        if let Some(whole) = whole() {
            return whole.at(query, key).map(|w| (w, true));
        }
        let report = run.report.get()?;
        let site = report.sites.first()?;
        let report::MapForm::Pooled { block, .. } = site.form else { return None };
        let cells = site.maps.shape()[2];
        site.maps.head(selection.layer.get(), selection.head.get()).get((query / block) * cells + key / block).map(|w| (*w, false))
    };
    let token = move |i: usize| run.report.with(|r| r.as_ref().and_then(|r| r.tokens().get(i).map(|t| token_label(&t.text)))).unwrap_or_default();
    let tooltip = move || {
        let (query, key, x, y) = hovered.get()?;
        let (value, exact) = weight(query, key)?;
        let text =
            format!("#{query} {} → #{key} {}: {value:.4}{}", token(query), token(key), if exact { "" } else { " (its block's, until the whole map arrives)" });
        let style = format!("left: {}px; top: {}px", x + 14.0, y + 14.0);
        Some(view! { <div data-testid="long-map-tooltip" class="tooltip" style=style>{text}</div> })
    };
    // The table's cell: the one under the pointer, else the middle of the view.
    let table_cell = move || hovered.get().map(|(q, k, ..)| (q, k)).unwrap_or_else(|| view_of.get().centre());
    let table = move || {
        let (query, key) = table_cell();
        let n = tokens();
        if n == 0 {
            return None;
        }
        let reach = |at: usize| at.saturating_sub(TABLE_REACH)..(at + TABLE_REACH + 1).min(n);
        let header = reach(key).map(|k| view! { <th scope="col" data-key=k.to_string() title=format!("token {k}")>{token(k)}</th> }).collect_view();
        let rows = reach(query)
            .map(|q| {
                let cells = reach(key)
                    .map(|k| {
                        let value = weight(q, k).map(|(w, _)| w).unwrap_or(0.0);
                        view! {
                            <td data-query=q.to_string() data-key=k.to_string() data-value=value.to_string() class:current=(q, k) == (query, key)>
                                {format!("{value:.4}")}
                            </td>
                        }
                    })
                    .collect_view();
                view! { <tr><th scope="row" data-query=q.to_string() title=format!("token {q}")>{token(q)}</th>{cells}</tr> }
            })
            .collect_view();
        Some(view! {
            <table class="long-table" data-testid="long-table" data-query=query.to_string() data-key=key.to_string()>
                <caption>{format!("Weights around #{query} → #{key} (rows look, columns are looked at)")}</caption>
                <thead><tr><th></th>{header}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        })
    };
    let resolution = move || if whole().is_some() { "whole" } else { "pooled" };
    let caption = move || {
        let view = view_of.get();
        let shown = if view.span >= view.tokens {
            format!("all {} tokens", view.tokens)
        } else {
            format!("tokens {}–{} of {} (queries) × {}–{} (keys)", view.query, view.query + view.span - 1, view.tokens, view.key, view.key + view.span - 1)
        };
        match run.whole_map.get().filter(|_| whole().is_some()).map(|w| w.millis) {
            Some(millis) => format!(
                "Layer {}, head {}: the whole map, {shown}; computed in {millis:.0} ms when the head was selected.",
                selection.layer.get(),
                selection.head.get()
            ),
            None => format!("Layer {}, head {}: {shown}, pooled into blocks until the whole map is computed…", selection.layer.get(), selection.head.get()),
        }
    };
    view! {
        <figure
            class="long-map"
            data-testid="long-map"
            data-layer=move || selection.layer.get().to_string()
            data-head=move || selection.head.get().to_string()
            data-tokens=move || tokens().to_string()
            data-resolution=resolution
            data-span=move || view_of.get().span.to_string()
            data-origin=move || { let v = view_of.get(); format!("{},{}", v.query, v.key) }
        >
            <div class="map-pickers">
                <button data-testid="long-zoom-in" class="toggle" title="Closer (+)" on:click=move |_| zoom(0.5)>"+"</button>
                <button data-testid="long-zoom-out" class="toggle" title="Farther (-)" on:click=move |_| zoom(2.0)>"−"</button>
                <button data-testid="long-whole" class="toggle" title="The whole map (0)" on:click=move |_| view_of.set(Viewport::whole(tokens()))>"Whole map"</button>
                // A long text's weights are mostly small: the log scale shows them.
                <ScalePicker test_id="long-scale" />
                {move || (whole().is_none()).then(|| view! {
                    <span class="hint" role="status" data-testid="long-map-waiting">
                        {move || run.whole_map_failed.get().map_or("Computing this head's whole map…".to_string(), |why| format!("No whole map: {why}. The pooled map stands in."))}
                    </span>
                })}
            </div>
            <div
                class="canvas-wrap"
                tabindex="0"
                aria-label="The selected head's whole map: + and - zoom, the arrow keys move, 0 shows it whole"
                on:keydown=on_key
            >
                <canvas
                    node_ref=canvas_ref
                    data-testid="long-map-canvas"
                    role="img"
                    aria-label=move || format!("Attention of layer {}, head {} over every token", selection.layer.get(), selection.head.get())
                    style=format!("width: {VIEW_PX}px")
                    on:mousemove=on_move
                    on:mousedown=move |ev: web_sys::MouseEvent| {
                        if let Some((x, y)) = offset(&ev) {
                            dragging.set(Some((x, y, view_of.get_untracked())));
                        }
                    }
                    on:mouseup=move |_| dragging.set(None)
                    on:mouseleave=move |_| {
                        dragging.set(None);
                        hovered.set(None);
                        selection.hovered_token.set(None);
                    }
                    on:wheel=on_wheel
                ></canvas>
                {tooltip}
            </div>
            <figcaption>{caption}" Rows: queries (the token that looks). Columns: keys (the token looked at)."</figcaption>
            {table}
        </figure>
    }
}

/// Draws the part of `drawn` that `view` shows onto the canvas, cells as sharp squares.
fn paint(canvas: &HtmlCanvasElement, drawn: &Drawn, view: Viewport) -> Option<()> {
    let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()).max(1.0);
    let side = (VIEW_PX * ratio).round() as u32;
    if canvas.width() != side {
        canvas.set_width(side);
        canvas.set_height(side);
    }
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    context.set_image_smoothing_enabled(false);
    context.clear_rect(0.0, 0.0, side as f64, side as f64);
    let block = drawn.block as f64;
    let (x, y, span) = (view.key as f64 / block, view.query as f64 / block, view.span as f64 / block);
    context
        .draw_image_with_html_canvas_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(&drawn.image, x, y, span, span, 0.0, 0.0, side as f64, side as f64)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zooming_keeps_the_cell_under_the_pointer_and_stays_inside_the_map() {
        let whole = Viewport::whole(2000);
        let closer = whole.zoomed(0.5, (1000, 500));
        assert_eq!(closer.span, 1000);
        // The cell at half the map's height and a quarter of its width stays there.
        assert_eq!((closer.query, closer.key), (500, 250));
        assert_eq!(closer.cell_at(140.0, 280.0, 560.0), Some((1000, 500)));
        // Never closer than MIN_SPAN, never farther than the whole map, never outside it.
        assert_eq!(closer.zoomed(0.0001, (0, 0)).span, MIN_SPAN);
        assert_eq!(closer.zoomed(100.0, (1999, 1999)), whole);
        assert_eq!(closer.panned(5000.0, -5000.0), Viewport { query: 1000, key: 0, ..closer });
        assert_eq!(whole.cell_at(559.9, 0.0, 560.0), Some((0, 1999)));
        assert_eq!(Viewport::whole(5).zoomed(0.1, (2, 2)).span, 5, "a map smaller than the closest zoom stays whole");
    }
}
