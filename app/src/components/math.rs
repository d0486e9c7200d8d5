//! The arithmetic of one attention row, with the model's real numbers: for a chosen
//! query, every key's raw score q·k, the model's scaling (1/√d_k for most), the mask and
//! the softmax, and what changes without the scaling, with hard attention, or at another
//! temperature.

use leptos::prelude::*;
use report::analysis::arithmetic::{scoring_text, steps, visible_keys, Recipe};

use super::token_label;
use crate::state::{Display, Run, Selection, Tab};

fn number(value: f32) -> String {
    format!("{value:.4}")
}

#[component]
pub fn MathView() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    // The query is the pinned token (the token strip and this view share it); without
    // one, the last token, the one whose row matters most for a next-token guess.
    let query = selection.pinned_token;
    let scale = RwSignal::new(true);
    let hard = RwSignal::new(false);
    let temperature = RwSignal::new(1.0f32);

    move || {
        if selection.tab.get() != Tab::Math {
            return None;
        }
        let report = run.report.get()?;
        let (layer, head) = (selection.layer.get(), selection.head.get());
        let n = report.tokens().len();
        let Some(scores) = report.sites.first().and_then(|s| s.scores_of(layer)).filter(|s| head < s.dot.len()) else {
            return Some(view! { <div class="math-view" data-testid="math-view"><p class="hint">"Computing this layer's scores…"</p></div> }.into_any());
        };
        let q = query.get().filter(|&q| q < n).unwrap_or(n - 1);
        let recipe = Recipe { scale: scale.get(), temperature: temperature.get(), hard: hard.get() };
        let visible = visible_keys(q, n, report.mask, report.model.window_of(layer));
        let row = steps(&scores.dot[head][q], &visible, scores.scoring, recipe);
        let model_row = report.attention().head(layer, head)[q * n..(q + 1) * n].to_vec();
        let scaling = scoring_text(scores.scoring, scores.head_dim);

        let options = report
            .tokens()
            .iter()
            .enumerate()
            .map(|(i, t)| view! { <option value=i.to_string() selected=i == q>{format!("{i}: {}", token_label(&t.text))}</option> })
            .collect_view();
        let rows = (0..n)
            .map(|k| {
                let masked = match row.masked[k] {
                    Some(v) => number(v),
                    None => "−∞".to_string(),
                };
                view! {
                    <tr data-key=k.to_string()>
                        <th scope="row">{token_label(&report.tokens()[k].text)}</th>
                        <td class="dot">{number(row.dot[k])}</td>
                        <td class="scaled">{number(row.scaled[k])}</td>
                        <td class="masked">{masked}</td>
                        <td class="weight">{number(row.weights[k])}</td>
                        <td class="model">{number(model_row[k])}</td>
                    </tr>
                }
            })
            .collect_view();
        let scaled = if recipe.scale { format!("(q·k {scaling})") } else { "q·k (no scaling)".into() };
        let formula = format!(
            "weight = softmax({scaled} ÷ T + mask), T = {:.2}{}",
            recipe.temperature,
            if recipe.hard { "; hard: all weight on the largest" } else { "" }
        );
        Some(
            view! {
                <div class="math-view" data-testid="math-view">
                    <div class="math-controls">
                        <label>"Query "
                            <select data-testid="math-query" on:change=move |ev| query.set(event_target_value(&ev).parse().ok())>{options}</select>
                        </label>
                        <label><input type="checkbox" data-testid="math-scale" prop:checked=move || scale.get()
                            on:change=move |ev| scale.set(event_target_checked(&ev)) />{format!(" scale ({scaling})")}</label>
                        <label><input type="checkbox" data-testid="math-hard" prop:checked=move || hard.get()
                            on:change=move |ev| hard.set(event_target_checked(&ev)) />" hard attention"</label>
                        <label>"temperature "
                            <input type="range" data-testid="math-temperature" min="0.1" max="4" step="0.05"
                                prop:value=move || temperature.get().to_string()
                                on:input=move |ev| temperature.set(event_target_value(&ev).parse().unwrap_or(1.0)) />
                            {format!(" {:.2}", recipe.temperature)}
                        </label>
                    </div>
                    <p class="formula">{formula}</p>
                    // The arithmetic is the model's: a reading switch that is on does not apply here.
                    {(display.reading.get() != Default::default()).then(|| view! {
                        <p class="hint" data-testid="math-reading-note">"The arithmetic is the model's own, every token and every key: \
                            the reading switches (first token hidden, words) do not apply here."</p>
                    })}
                    <table class="weights math">
                        <caption>{format!("Layer {layer}, head {head}, query {q}: every key's score, step by step")}</caption>
                        <thead><tr>
                            <th scope="col">"key"</th><th scope="col">"q·k"</th><th scope="col">"scaled"</th>
                            <th scope="col">"masked"</th><th scope="col">"weight"</th><th scope="col">"model's weight"</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
            .into_any(),
        )
    }
}
