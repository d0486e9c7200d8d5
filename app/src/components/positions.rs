//! Where the model tells each token where it stands (issue 32), drawn for each of its position
//! sets: rotary angles by position and pair (a hue a turn), a table's first rows (a diverging
//! colour a value) beside their cosine similarity, and a ViT's grid coloured by each patch's
//! similarity to a chosen one.

use leptos::html::Canvas;
use leptos::prelude::*;
use report::positions::{rotary_angle, PositionKind, PositionSet, Table};

use crate::canvas::paint_pixels;
use crate::state::{Display, Run};

/// Positions the rotary angles are drawn for.
const ANGLE_POSITIONS: usize = 64;

#[component]
pub fn PositionsPanel() -> impl IntoView {
    let run = expect_context::<Run>();
    let on_toggle = move |event: leptos::ev::Event| {
        let open = event_target::<web_sys::HtmlDetailsElement>(&event).open();
        if open {
            run.positions_wanted.set(true);
        }
    };
    let sets = move || {
        let loaded = run.loaded.with(|l| l.as_ref().map(|(info, _)| info.name.clone()))?;
        let positions = run.positions.get().filter(|p| p.model == loaded)?;
        if let Some(failed) = run.positions_failed.get() {
            return Some(
                view! { <p class="notice" data-testid="positions-failed" role="status">{format!("Cannot read this model's positions: {failed}")}</p> }
                    .into_any(),
            );
        }
        if positions.sets.is_empty() {
            return Some(view! { <p class="hint" data-testid="positions-none">"This model has no positions: recurrence, or an episode's steps, tell it where it is."</p> }.into_any());
        }
        Some(positions.sets.iter().enumerate().map(|(i, set)| view! { <PositionSetView set=set.clone() index=i /> }).collect_view().into_any())
    };
    view! {
        <details class="positions" data-testid="positions" on:toggle=on_toggle>
            <summary>"Where each token stands: the model's positions"</summary>
            <p class="explain">
                "A Transformer has no recurrence: each model is told where each token stands in its own way — its heads' queries and keys turned \
                 by an angle that grows with the position (rotary), a learned row a position, sines and cosines at many frequencies, or, over a \
                 picture, a learned row a patch. Below, this model's, as the engine holds them, checked against the model's own package."
            </p>
            {move || sets().unwrap_or_else(|| view! { <p class="hint">"Reading the model's positions…"</p> }.into_any())}
        </details>
    }
}

#[component]
fn PositionSetView(set: PositionSet, index: usize) -> impl IntoView {
    let heading = set.describe();
    let body = match set.kind {
        PositionKind::Rotary { inv_freq, .. } => {
            let pairs = inv_freq.len();
            let angles: Vec<f32> =
                (0..ANGLE_POSITIONS).flat_map(|p| (0..pairs).map(|i| rotary_angle(&inv_freq, p, i) / std::f32::consts::TAU).collect::<Vec<_>>()).collect();
            view! {
                <figure>
                    <Matrix values=angles shape=(ANGLE_POSITIONS, pairs) colour=Colour::Cyclic id=format!("positions-{index}-angles")
                        label=format!("the angle each of {pairs} pairs has turned at positions 0 to {}, a hue a turn", ANGLE_POSITIONS - 1) />
                    <figcaption>{format!("Angle by position (down, 0 to {}) and pair (across, fastest first), a full turn a full circle of hues: the first pairs spin every few tokens, the last barely move — near tokens and far ones are told apart by different pairs.", ANGLE_POSITIONS - 1)}</figcaption>
                </figure>
            }
            .into_any()
        }
        PositionKind::Learned { table, .. } | PositionKind::Sinusoidal { table, .. } => view! { <TableViews table index /> }.into_any(),
        PositionKind::Grid { leading, rows, columns, table, .. } => view! { <GridView table leading rows columns index /> }.into_any(),
    };
    view! {
        <section class="position-set" data-testid=format!("positions-{index}")>
            <h3>{heading}</h3>
            {body}
        </section>
    }
}

/// A table's rows (values in a diverging colour) and their cosine similarity.
#[component]
fn TableViews(table: Table, index: usize) -> impl IntoView {
    // The colour's ends at the 99th percentile of |value|: a learned table's few outliers
    // (MiniLM's reach 1.9 where most values are below 0.1) would leave the rest white.
    let mut magnitudes: Vec<f32> = table.values.iter().map(|v| v.abs()).collect();
    magnitudes.sort_by(f32::total_cmp);
    let top = magnitudes.get(magnitudes.len() * 99 / 100).copied().unwrap_or(1.0).max(1e-9);
    let scaled: Vec<f32> = table.values.iter().map(|v| 0.5 + 0.5 * v / top).collect();
    let (shown, width) = (table.shown, table.width);
    view! {
        <div class="position-tables">
            <figure>
                <Matrix values=scaled shape=(shown, width) colour=Colour::Diverging id=format!("positions-{index}-table")
                    label=format!("the first {shown} positions' rows, {width} values each") />
                <figcaption>{format!("The first {shown} positions (down) × {width} dimensions (across); blue below 0, red above, full at ±{top:.3} (99% of the values are within it).")}</figcaption>
            </figure>
            <figure>
                <Matrix values=table.similarity.clone() shape=(shown, shown) colour=Colour::Scale id=format!("positions-{index}-similarity")
                    label=format!("the cosine similarity of the first {shown} positions' rows") />
                <figcaption>"Cosine similarity of every two positions' rows: a bright diagonal band means near positions look alike."</figcaption>
            </figure>
        </div>
    }
}

/// A ViT's grid: every patch coloured by its similarity to the chosen one (the middle first).
#[component]
fn GridView(table: Table, leading: usize, rows: usize, columns: usize, index: usize) -> impl IntoView {
    let chosen = RwSignal::new((rows / 2, columns / 2));
    let values = move || {
        let (r, c) = chosen.get();
        let at = leading + r * columns + c;
        (0..rows * columns).map(|j| 0.5 + 0.5 * table.similarity[at * table.shown + leading + j]).collect::<Vec<f32>>()
    };
    let pick = move |event: web_sys::MouseEvent| {
        let Some(target) = event.current_target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok()) else { return };
        let rect = target.get_bounding_client_rect();
        let (x, y) = ((f64::from(event.client_x()) - rect.left()) / rect.width(), (f64::from(event.client_y()) - rect.top()) / rect.height());
        let cell = |v: f64, n: usize| ((v * n as f64) as usize).min(n - 1);
        chosen.set((cell(y, rows), cell(x, columns)));
    };
    view! {
        <figure on:click=pick>
            {move || view! { <Matrix values=values() shape=(rows, columns) colour=Colour::Diverging id=format!("positions-{index}-grid")
                label=format!("each patch's similarity to patch {:?}", chosen.get()) /> }}
            <figcaption data-testid=format!("positions-{index}-chosen")>{move || {
                let (r, c) = chosen.get();
                format!("Each patch of the {rows} × {columns} grid coloured by its row's cosine similarity to patch ({r}, {c}): red alike, blue opposite. Click a patch to compare with it.")
            }}</figcaption>
        </figure>
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Colour {
    /// The page's colour scale, over [0, 1].
    Scale,
    /// Blue (0) through white (0.5) to red (1).
    Diverging,
    /// A hue a turn: 0 and 1 the same colour.
    Cyclic,
}

/// A matrix of values in [0, 1] painted a pixel a value (CSS scales it up).
#[component]
fn Matrix(values: Vec<f32>, shape: (usize, usize), colour: Colour, id: String, label: String) -> impl IntoView {
    let display = expect_context::<Display>();
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let scale = display.colour_scale.get();
        let Some(canvas) = canvas.get() else { return };
        let paint = |v: f32| match colour {
            Colour::Scale => scale.colour(v.clamp(0.0, 1.0)),
            Colour::Diverging => diverging(v),
            Colour::Cyclic => cyclic(v),
        };
        paint_pixels(&canvas, &values, shape, &paint);
    });
    let (rows, columns) = shape;
    // Wide tables are drawn 1 CSS pixel a value, narrow ones larger, at most 480 across.
    let zoom = (480.0 / columns.max(1) as f64).clamp(1.0, 8.0).floor();
    view! {
        <canvas node_ref=canvas class="positions-matrix" data-testid=id data-rows=rows.to_string() data-columns=columns.to_string() role="img" aria-label=label
            style=format!("width: {}px; height: {}px; image-rendering: pixelated;", zoom * columns as f64, zoom * rows as f64)></canvas>
    }
}

fn diverging(v: f32) -> (u8, u8, u8) {
    let t = (v.clamp(0.0, 1.0) - 0.5) * 2.0; // −1 … 1
    let fade = |x: f32| (255.0 * (1.0 - x.abs())) as u8;
    if t < 0.0 {
        (fade(t), fade(t), 255)
    } else {
        (255, fade(t), fade(t))
    }
}

fn cyclic(v: f32) -> (u8, u8, u8) {
    // The hue wheel at full saturation: red, yellow, green, cyan, blue, magenta, red.
    let h = v.rem_euclid(1.0) * 6.0;
    let x = (255.0 * (1.0 - (h % 2.0 - 1.0).abs())) as u8;
    match h as u32 {
        0 => (255, x, 0),
        1 => (x, 255, 0),
        2 => (0, 255, x),
        3 => (0, x, 255),
        4 => (x, 0, 255),
        _ => (255, 0, x),
    }
}
