//! The selected head's weights as an HTML table: the canvas's text alternative. With the
//! first token hidden, each cell gives the renormalised weight and, smaller, the weight
//! the model computed.

use leptos::prelude::*;

use super::{token_label, ReadingNote};
use crate::state::{Run, Selection, Tab};

/// Rows are queries, columns keys (tokens, or words), one cell per weight (or
/// value-weighted norm), four decimals.
#[component]
pub fn WeightsTable() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    move || {
        if selection.tab.get() != Tab::Table {
            return None;
        }
        let (_, layer, head, map) = run.shown_map()?;
        let read = &map.read;
        let columns = read.columns.len();
        let header = read.columns.labels.iter().map(|l| view! { <th scope="col">{token_label(l)}</th> }).collect_view();
        let focus = run.focused_token(&selection);
        let (focus_row, focus_column) = (focus.and_then(|t| read.rows.index_of(t)), focus.and_then(|t| read.columns.index_of(t)));
        let rows = (0..read.rows.len())
            .map(|q| {
                let cells = (0..columns)
                    .map(|k| {
                        let at = q * columns + k;
                        let before = read
                            .before_renormalising
                            .as_ref()
                            .map(|b| view! { <small class="before" title="the model's weight, before renormalising">{format!("{:.4}", b[at])}</small> });
                        view! { <td class:focused=focus_column == Some(k)>{format!("{:.4}", map.values()[at])}{before}</td> }
                    })
                    .collect_view();
                let empty = read.empty_rows.contains(&q).then(|| view! { <small class="empty-row">" (all on the first token)"</small> });
                view! { <tr class:focused=focus_row == Some(q)><th scope="row">{token_label(&read.rows.labels[q])}{empty}</th>{cells}</tr> }
            })
            .collect_view();
        let both = read.before_renormalising.is_some().then_some(" Each cell: the renormalised weight, and under it the weight as computed.");
        Some(view! {
            <div class="table-wrap">
                <table data-testid="weights-table" class="weights">
                    <caption>
                        {format!("Layer {layer}, head {head}: {}; rows are queries, columns are keys.", map.weighting.title())}
                        {both}
                        <ReadingNote />
                    </caption>
                    <thead><tr><th scope="col">"query \\ key"</th>{header}</tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        })
    }
}
