//! The focused token's row and column drawn over a pixel map (a thumbnail, a small
//! map of the comparison) as two outlined bands, so the token strip's highlight
//! reaches the maps that are painted a pixel per weight.

use leptos::prelude::*;

use crate::AppState;

/// Two bands over the map beside them; the parent must be `position: relative`.
#[component]
pub fn FocusBands() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        let focus = state.focused_token()?;
        let tokens = state.report.with(|r| r.as_ref().map(|r| r.tokens().len()))?;
        let (start, size) = (100.0 * focus as f64 / tokens as f64, 100.0 / tokens as f64);
        Some(view! {
            <div class="focus-band focus-row" style=format!("top: {start:.3}%; height: {size:.3}%")></div>
            <div class="focus-band focus-column" style=format!("left: {start:.3}%; width: {size:.3}%")></div>
        })
    }
}
