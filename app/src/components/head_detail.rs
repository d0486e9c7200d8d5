//! The selected head in detail: one tab per way of looking at it.

use leptos::prelude::*;

use super::{AblateToggle, Heatmap, LinesView, MathView, OverlayView, ReadingBar, WeightsTable};
use crate::{AppState, Tab};

/// The tab bar and the selected tab's view. The heatmap stays in the page (hidden)
/// under the other tabs, so that switching back is instant.
#[component]
pub fn HeadDetail() -> impl IntoView {
    let state = expect_context::<AppState>();
    let tabs = Tab::ALL
        .into_iter()
        .map(|tab| {
            let selected = move || state.tab.get() == tab;
            view! {
                <button
                    role="tab"
                    class="tab"
                    class:selected=selected
                    aria-selected=move || selected().to_string()
                    data-testid=format!("tab-{}", tab.name())
                    on:click=move |_| state.tab.set(tab)
                >
                    {tab.title()}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="head-detail">
            <ReadingBar />
            <AblateToggle />
            <div class="tabs" role="tablist" aria-label="Ways to look at the selected head">{tabs}</div>
            <div class="tab-panel" role="tabpanel">
                <div class:hidden=move || state.tab.get() != Tab::Heatmap>
                    <Heatmap />
                </div>
                <WeightsTable />
                <LinesView />
                <MathView />
                <OverlayView />
            </div>
        </div>
    }
}
