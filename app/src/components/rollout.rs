//! Attention rollout for one query token: how much of each input token reaches it
//! through every layer (head means plus the residual, multiplied across layers), as
//! a bar over each input token. The query is the pinned token, else the last.

use leptos::prelude::*;
use report::analysis::rollout::rollout_row;

use report::analysis::reading::{read, Side};

use super::reading::HideSinkSwitch;
use super::{token_label, ReadingNote};
use crate::state::{Display, Run, Selection};

/// From this share of the flow on the first token, the rollout says the sink swamps it.
const SWAMPED_FROM: f32 = 0.5;

#[component]
pub fn RolloutView() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    move || {
        let report = run.report.get()?;
        let n = report.tokens().len();
        let query = selection.pinned_token.get().filter(|&q| q < n).unwrap_or(n.checked_sub(1)?);
        // A long text's maps are pooled: its rollout multiplies the layers' block maps, from
        // the query's block to every block (read as the block map is).
        let block = match report.sites.first().map(|s| s.form) {
            Some(report::MapForm::Pooled { block, .. }) => Some(block),
            _ => None,
        };
        let flow = rollout_row(report.attention(), query / block.unwrap_or(1));
        let read = match block {
            Some(_) => {
                let shown = report::analysis::shown::ShownMap::of(&report, 0, 0, crate::weighting::Weighting::Attention, Default::default(), "");
                report::analysis::reading::ReadMap { values: flow, columns: shown.read.columns, ..Default::default() }
            }
            // Read as every map is: one row, the query's, over every token (the first hidden
            // and the rest renormalised, or by words).
            None => {
                let tokens = report.tokens();
                run.report_text.with(|text| read(&flow, Side { tokens: &tokens[query..=query], text }, Side { tokens, text }, display.reading.get(), true))
            }
        };
        let top = read.values.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
        // The first token's share of what reaches the query, when it is shown: most causal
        // models pour their weight into it (an attention sink), and its bar then swamps the rest.
        let hiding = display.reading.with(|r| r.hide_first_key);
        let total: f32 = read.values.iter().sum();
        let sink_share = (block.is_none() && !hiding && total > 0.0).then(|| read.values.first().copied().unwrap_or(0.0) / total);
        let swamped = sink_share.filter(|&share| share >= SWAMPED_FROM).map(|share| {
            view! {
                <p class="hint sink-note" data-testid="rollout-sink-note">
                    {format!("The first token takes {:.0}% of the flow (an attention sink), so the other bars are barely there: hide it to see how the rest is shared.", 100.0 * share)}
                </p>
            }
        });
        // The switch where the rollout stands; the reading bar's, the same reading.
        let switch = block.is_none().then(|| view! { <div class="reading-bar"><HideSinkSwitch test_id="rollout-hide-sink" /></div> });
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
                {switch}
                {swamped}
                <ol class="rollout-bars" data-testid="rollout-view" data-query=query.to_string()>{bars}</ol>
            </section>
        })
    }
}
