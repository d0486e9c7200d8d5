//! The selected head's weights as an HTML table: the canvas's text alternative.

use leptos::prelude::*;

use super::token_label;
use crate::{AppState, Tab};

/// Rows are queries, columns keys, one cell per weight (or value-weighted norm), four decimals.
#[component]
pub fn WeightsTable() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        if state.tab.get() != Tab::Table {
            return None;
        }
        let (report, layer, head, map) = state.shown_map()?;
        let labels: Vec<String> = report.tokens().iter().map(|t| token_label(&t.text)).collect();
        let n = labels.len();
        let weights = &map.values;
        let header = labels.iter().map(|l| view! { <th scope="col">{l.clone()}</th> }).collect_view();
        let focus = state.focused_token();
        let rows = (0..n)
            .map(|q| {
                let cells = weights[q * n..(q + 1) * n]
                    .iter()
                    .enumerate()
                    .map(|(k, w)| view! { <td class:focused=focus == Some(k)>{format!("{w:.4}")}</td> })
                    .collect_view();
                view! { <tr class:focused=focus == Some(q)><th scope="row">{labels[q].clone()}</th>{cells}</tr> }
            })
            .collect_view();
        Some(view! {
            <div class="table-wrap">
                <table data-testid="weights-table" class="weights">
                    <caption>{format!("Layer {layer}, head {head}: {}; rows are queries, columns are keys", map.weighting.title())}</caption>
                    <thead><tr><th scope="col">"query \\ key"</th>{header}</tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        })
    }
}
