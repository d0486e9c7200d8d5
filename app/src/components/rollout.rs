//! Attention rollout for one query token: how much of each input token reaches it
//! through every layer (head means plus the residual, multiplied across layers), as
//! a bar over each input token. The query is the pinned token, else the last.

use engine::analysis::rollout::rollout_row;
use leptos::prelude::*;

use engine::analysis::reading::{read, Side};

use super::{token_label, ReadingNote};
use crate::AppState;

#[component]
pub fn RolloutView() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        let report = state.report.get()?;
        let n = report.tokens().len();
        let query = state.pinned_token.get().filter(|&q| q < n).unwrap_or(n.checked_sub(1)?);
        // A long text's maps are pooled: its rollout multiplies the layers' block maps, from
        // the query's block to every block (read as the block map is).
        let block = match report.sites.first().map(|s| s.form) {
            Some(engine::MapForm::Pooled { block, .. }) => Some(block),
            _ => None,
        };
        let flow = rollout_row(report.attention(), query / block.unwrap_or(1));
        let read = match block {
            Some(_) => {
                let shown = engine::analysis::shown::ShownMap::of(&report, 0, 0, crate::weighting::Weighting::Attention, Default::default(), "");
                engine::analysis::reading::ReadMap { values: flow, columns: shown.read.columns, ..Default::default() }
            }
            // Read as every map is: one row, the query's, over every token (the first hidden
            // and the rest renormalised, or by words).
            None => {
                let tokens = report.tokens();
                state.report_text.with(|text| read(&flow, Side { tokens: &tokens[query..=query], text }, Side { tokens, text }, state.reading.get(), true))
            }
        };
        let top = read.values.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
        let bars = read
            .columns
            .labels
            .iter()
            .zip(&read.values)
            .enumerate()
            .map(|(i, (label, &value))| {
                let label = token_label(label);
                let title = format!("{label}: {value:.4}");
                view! {
                    <li data-index=i.to_string() data-value=format!("{value:.6}") title=title>
                        <span class="rollout-track">
                            <span class="rollout-bar" style=format!("height: {:.1}%", 100.0 * value / top)></span>
                        </span>
                        // Read upwards, as the heatmap's column labels: a label is as narrow as its bar.
                        <span class="rollout-token">{label}</span>
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <section class="rollout" aria-label="Attention rollout" data-testid="rollout-panel">
                <h2>"Attention rollout"</h2>
                <p class="hint">{format!(
                    "How much of each token reaches “{}” (token {query}) through all {} layers. Pin a token to choose another.",
                    token_label(&report.tokens()[query].text), report.attention().layers())}
                    {block.map(|block| format!(
                        " A long text: rolled out over blocks of {block} tokens (each layer's pooled map multiplied; an approximation of the tokens' rollout), from the query's block."
                    ))}
                    <ReadingNote /></p>
                <ol class="rollout-bars" data-testid="rollout-view" data-query=query.to_string()>{bars}</ol>
            </section>
        })
    }
}
