//! The focused token's row and column drawn over a pixel map (a thumbnail, a small
//! map of the comparison, an alignment) as two outlined bands, so the token strip's
//! highlight reaches the maps that are painted a pixel per weight.

use leptos::prelude::*;

use crate::state::{Run, Selection};

/// A band's place: (index, count) along its axis.
pub type Band = Option<(usize, usize)>;

/// The focused token of the input's self-attention, as both the row and the column.
pub fn self_attention_focus(run: Run, selection: Selection) -> Signal<(Band, Band)> {
    Signal::derive(move || {
        let tokens = run.report.with(|r| r.as_ref().map(|r| r.tokens().len()));
        let band = run.focused_token(&selection).zip(tokens);
        (band, band)
    })
}

fn percent(index: usize, count: usize) -> (f64, f64) {
    (100.0 * index as f64 / count.max(1) as f64, 100.0 / count.max(1) as f64)
}

/// Two bands over the map beside them; the parent must be `position: relative`.
#[component]
pub fn FocusBands(
    /// The focused row and column, each as (index, count); the input's focused token for
    /// both when not given.
    #[prop(optional, into)]
    focus: Option<Signal<(Band, Band)>>,
) -> impl IntoView {
    let focus = focus.unwrap_or_else(|| self_attention_focus(expect_context::<Run>(), expect_context::<Selection>()));
    move || {
        let (row, column) = focus.get();
        let row = row.map(|(i, n)| {
            let (start, size) = percent(i, n);
            view! { <div class="focus-band focus-row" style=format!("top: {start:.3}%; height: {size:.3}%")></div> }
        });
        let column = column.map(|(i, n)| {
            let (start, size) = percent(i, n);
            view! { <div class="focus-band focus-column" style=format!("left: {start:.3}%; width: {size:.3}%")></div> }
        });
        view! { {row} {column} }
    }
}
