//! What a translator or a speech model wrote with every head on, under what it wrote with
//! heads switched off: the changed run is the one in view, the unchanged one beside it.

use leptos::prelude::*;

use crate::interventions::Interventions;
use crate::state::Run;

#[component]
pub fn UnchangedWritten() -> impl IntoView {
    let run = expect_context::<Run>();
    let interventions = expect_context::<Interventions>();
    move || {
        let (heads, site) = run.report.with(|r| r.as_ref()?.intervention.as_ref().map(|i| (i.ablated.clone(), i.site.clone())))?;
        let unchanged = interventions.unchanged.with(|u| u.as_ref()?.written().map(|w| w.trim().to_string()));
        let changed = run.report.with(|r| r.as_ref()?.written().map(|w| w.trim().to_string()));
        // Named by their attention where it is not the grid's ("encoder L1 H2").
        let prefix = site.map(|s| format!("{s} ")).unwrap_or_default();
        let names: Vec<String> = heads.iter().map(|h| format!("{prefix}L{} H{}", h.layer, h.head)).collect();
        let same = unchanged.is_some() && unchanged == changed;
        Some(view! {
            <p class="notice unchanged-written" data-testid="unchanged-written" data-same=same.to_string()>
                {format!("Written with {} switched off. With every head on: ", names.join(", "))}
                <q data-testid="unchanged-text">{unchanged.unwrap_or_else(|| "…".into())}</q>
                {same.then_some(" (the same)")}
            </p>
        })
    }
}
