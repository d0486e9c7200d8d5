//! Token labels around a map that is painted without them (a pixel per weight, scaled
//! up by CSS): the query tokens down its left side, the key tokens along its bottom,
//! read upwards. The two lists are separate, so a map whose rows and columns are
//! different sequences (cross-attention) is labelled the same way. When the cells
//! are too small for a readable font the labels are thinned, never shrunk, by the
//! same rule as the heatmap's.

use leptos::prelude::*;

use super::focus_bands::{self_attention_focus, Band};
use super::{token_label, FocusBands};
use crate::state::{Run, Selection};

pub use report::figure::labels::{label_stride, MAX_FONT_PX, MIN_FONT_PX};

/// One axis's labels, absolutely placed at their cells' centres.
fn axis(labels: &[String], side_px: f64, class: &'static str, focus: Option<usize>) -> impl IntoView {
    let n = labels.len().max(1);
    let (font_px, every) = label_stride(side_px / n as f64);
    let items = labels
        .iter()
        .enumerate()
        .step_by(every)
        .map(|(i, label)| {
            let centre = 100.0 * (i as f64 + 0.5) / n as f64;
            view! {
                <li data-index=i.to_string() class:focused=focus == Some(i) style=format!("--at: {centre:.3}%")>
                    {token_label(label)}
                </li>
            }
        })
        .collect_view();
    view! { <ol class=format!("axis-labels {class}") aria-hidden="true" style=format!("font-size: {font_px:.1}px")>{items}</ol> }
}

/// A map with its query labels (left) and key labels (bottom); the map itself is the child.
#[component]
pub fn LabelledMap(
    /// The tokens of the rows, in order.
    #[prop(into)]
    queries: Signal<Vec<String>>,
    /// The tokens of the columns, in order.
    #[prop(into)]
    keys: Signal<Vec<String>>,
    /// The map's width in CSS pixels, as it is drawn.
    side_px: f64,
    /// The map's height, when it is not square.
    #[prop(optional)]
    height_px: Option<f64>,
    /// Whether focused tokens are outlined over the map and their labels lit.
    #[prop(default = true)]
    focus_bands: bool,
    /// The focused row and column; the input's focused token for both (self-attention) when not given.
    #[prop(optional, into)]
    focus: Option<Signal<(Band, Band)>>,
    children: Children,
) -> impl IntoView {
    let height_px = height_px.unwrap_or(side_px);
    let focus = focus.unwrap_or_else(|| self_attention_focus(expect_context::<Run>(), expect_context::<Selection>()));
    let lit = move |pick: fn((Band, Band)) -> Band| focus_bands.then(|| pick(focus.get()).map(|(i, _)| i)).flatten();
    view! {
        <div class="labelled-map" style=format!("--width: {side_px}px; --height: {height_px}px")>
            {move || axis(&queries.get(), height_px, "query-labels", lit(|(row, _)| row))}
            <div class="map-frame">
                {children()}
                {focus_bands.then(|| view! { <FocusBands focus=focus /> })}
            </div>
            {move || axis(&keys.get(), side_px, "key-labels", lit(|(_, column)| column))}
        </div>
    }
}
