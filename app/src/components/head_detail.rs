//! The selected head in detail: one tab per way of looking at it.

use leptos::prelude::*;

use super::{AblateToggle, Heatmap, LinesView, LongMap, MathView, OverlayView, ReadingBar, WeightsTable};
use crate::state::{Run, Selection, Tab};

/// The tab bar and the selected tab's view. The heatmap stays in the page (hidden)
/// under the other tabs, so that switching back is instant. A long text's head is shown
/// on its own canvas instead (see [`LongMap`]).
#[component]
pub fn HeadDetail() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let tabs = move || {
        Tab::ALL
            .into_iter()
            .map(|tab| {
                let selected = move || selection.tab.get() == tab;
                view! {
                    <button
                        role="tab"
                        class="tab"
                        class:selected=selected
                        aria-selected=move || selected().to_string()
                        data-testid=format!("tab-{}", tab.name())
                        on:click=move |_| selection.tab.set(tab)
                    >
                        {tab.title()}
                    </button>
                }
            })
            .collect_view()
    };
    // A long text's maps are pooled: its selected head is shown whole, on a canvas of its own.
    let long = move || run.is_long();
    let long_view = move || {
        view! {
            <div class="head-detail">
                <LongMap />
                <p class="hint" data-testid="long-note">
                    "A long text: the heatmap, table, lines and arithmetic tabs are for texts of at most "
                    {crate::WHOLE_MAX_TOKENS}" tokens, whose maps the page keeps whole."
                </p>
            </div>
        }
    };
    view! {
        <Show when=move || !long() fallback=long_view>
        <div class="head-detail">
            <ReadingBar />
            <AblateToggle />
            <div class="tabs" role="tablist" aria-label="Ways to look at the selected head">{tabs()}</div>
            <div class="tab-panel" role="tabpanel">
                <div class:hidden=move || selection.tab.get() != Tab::Heatmap>
                    <Heatmap />
                </div>
                <WeightsTable />
                <LinesView />
                <MathView />
                <OverlayView />
                <super::offsets::OffsetsView />
            </div>
        </div>
        </Show>
    }
}
