//! Every head's scores on the current text: a sortable table, and the grid coloured
//! by the chosen score. The scores are TransformerLens's head-detector scores (the
//! `mul` measure, nothing left out) and plain summaries, computed from the report.

use leptos::prelude::*;
use report::analysis::heads::HeadScores;

use crate::state::{Display, GridColour, Run, Selection};

/// The scores that mean something over a picture's patches, which have no order to copy or
/// repeat: how much a head gives the class token (the first item), the patch itself, and how
/// spread its rows are.
const OVER_A_PICTURE: [&str; 3] = ["first_token", "current_token", "entropy_bits"];

/// The scores shown for a model, in the table's order (`picture`: a vision model's).
pub fn shown_scores(picture: bool) -> &'static [&'static str] {
    if picture {
        &OVER_A_PICTURE
    } else {
        &HeadScores::SHOWN
    }
}

/// A score's column title (over a picture, the first item is the class token).
pub fn title(name: &str, picture: bool) -> String {
    match (name, picture) {
        ("first_token", true) => "class token".into(),
        ("current_token", true) => "the patch itself".into(),
        _ => name.replace('_', " "),
    }
}

#[component]
pub fn ScoresPanel() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    let sort = RwSignal::new("induction");

    // Colouring the grid by a score sorts the table by it too.
    Effect::new(move |_| {
        if let GridColour::Score(name) = display.grid_colour.get() {
            sort.set(name);
        }
    });

    let table = move || {
        let mut scores = run.head_scores.get()?;
        let picture = selection.is_vision();
        let shown = shown_scores(picture);
        // Sorted by the score chosen, or by the first shown where it is not shown.
        let key = Some(sort.get()).filter(|k| shown.contains(k)).unwrap_or(shown[0]);
        scores.sort_by(|a, b| b.get(key).unwrap_or(0.0).total_cmp(&a.get(key).unwrap_or(0.0)));
        let header = shown
            .iter()
            .map(|&name| {
                view! {
                    <th scope="col" aria-sort=move || if sort.get() == name { "descending" } else { "none" }>
                        <button class="sort" on:click=move |_| sort.set(name)>{title(name, picture)}</button>
                    </th>
                }
            })
            .collect_view();
        let rows = scores
            .into_iter()
            .map(|s| {
                let (layer, head) = (s.layer, s.head);
                // A long run's pooled maps give no positional score: a dash, not a 0.
                let cells =
                    shown.iter().map(|&name| view! { <td data-score=name>{s.get(name).map_or("—".to_string(), |v| format!("{v:.4}"))}</td> }).collect_view();
                view! {
                    <tr data-layer=layer.to_string() data-head=head.to_string()
                        class:selected=move || selection.layer.get() == layer && selection.head.get() == head
                        on:click=move |_| { selection.layer.set(layer); selection.head.set(head); }>
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
            {move || run.head_scores.with(Option::is_none).then(|| view! {
                <p class="hint" data-testid="scores-placeholder">"Every head's scores on the text appear here once it has run."</p>
            })}
            {table}
        </section>
    }
}
