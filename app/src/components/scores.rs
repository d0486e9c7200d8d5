//! Every head's scores on the current text: a sortable table, and the grid coloured
//! by the chosen score. The scores are TransformerLens's head-detector scores (the
//! `mul` measure, nothing left out) and plain summaries, computed from the report.

use leptos::prelude::*;
use report::analysis::heads::HeadScores;

use crate::state::{AppState, GridColour};

/// A score's column title.
pub fn title(name: &str) -> String {
    name.replace('_', " ")
}

#[component]
pub fn ScoresPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sort = RwSignal::new("induction");

    // Colouring the grid by a score sorts the table by it too.
    Effect::new(move |_| {
        if let GridColour::Score(name) = state.display.grid_colour.get() {
            sort.set(name);
        }
    });

    let table = move || {
        let mut scores = state.run.head_scores.get()?;
        let key = sort.get();
        scores.sort_by(|a, b| b.get(key).unwrap_or(0.0).total_cmp(&a.get(key).unwrap_or(0.0)));
        let header = HeadScores::NAMES
            .into_iter()
            .map(|name| {
                view! {
                    <th scope="col" aria-sort=move || if sort.get() == name { "descending" } else { "none" }>
                        <button class="sort" on:click=move |_| sort.set(name)>{title(name)}</button>
                    </th>
                }
            })
            .collect_view();
        let rows = scores
            .into_iter()
            .map(|s| {
                let (layer, head) = (s.layer, s.head);
                let cells =
                    HeadScores::NAMES.into_iter().map(|name| view! { <td data-score=name>{format!("{:.4}", s.get(name).unwrap_or(0.0))}</td> }).collect_view();
                view! {
                    <tr data-layer=layer.to_string() data-head=head.to_string()
                        class:selected=move || state.selection.layer.get() == layer && state.selection.head.get() == head
                        on:click=move |_| { state.selection.layer.set(layer); state.selection.head.set(head); }>
                        <th scope="row">{format!("L{layer} H{head}")}</th>
                        {cells}
                    </tr>
                }
            })
            .collect_view();
        Some(view! {
            <div class="table-wrap scores-wrap">
                <table data-testid="scores-table" class="weights scores">
                    <caption>"Every head on this text, highest first: click a column to sort, a row to select the head"</caption>
                    <thead><tr><th scope="col">"head"</th>{header}</tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        })
    };

    view! {
        <section class="scores-panel" aria-label="Head scores">
            <h2>"Head scores"</h2>
            {move || state.run.head_scores.with(Option::is_none).then(|| view! {
                <p class="hint" data-testid="scores-placeholder">"Every head's scores on the text appear here once it has run."</p>
            })}
            {table}
        </section>
    }
}
