//! The model's guess for the next token, as bars: a causal model under the causal
//! mask only (with the mask off, the last position has seen nothing it must predict).

use leptos::prelude::*;

use super::token_label;
use crate::state::Run;

#[component]
pub fn NextTokens() -> impl IntoView {
    let run = expect_context::<Run>();
    move || {
        let report = run.report.get()?;
        // A translator's output is its translation and a speech model's its transcript, both
        // shown above; a picture's model guesses no token at all.
        if report.translation.is_some() || report.transcript.is_some() || report.picture.is_some() {
            return None;
        }
        let Some(next) = report.next_tokens.clone() else {
            let why = if report.model.causal {
                "Next-token guesses are shown under the causal mask.".to_string()
            } else {
                format!("{} is an encoder: it reads the whole text at once and makes no next-token guess.", report.model.name)
            };
            return Some(view! { <section class="next-tokens"><h2>"Next token"</h2><p class="hint">{why}</p></section> }.into_any());
        };
        // A changed run: each token's bar before (the unchanged run) and after.
        if let Some(changes) = report.intervention.as_ref().map(|i| i.next_token_changes.clone()).filter(|c| !c.is_empty()) {
            let top = changes.iter().map(|c| c.probability_before.max(c.probability_after)).fold(1e-6f32, f32::max);
            let bars = changes
                .into_iter()
                .map(|c| {
                    let width = |p: f32| format!("width: {:.1}%", 100.0 * p / top);
                    view! {
                        <li data-token-id=c.id.to_string() data-probability=format!("{:.6}", c.probability_after) data-probability-before=format!("{:.6}", c.probability_before)
                            data-logit=format!("{:.6}", c.logit_after) data-logit-before=format!("{:.6}", c.logit_before)>
                            <span class="next-label">{token_label(&c.text)}</span>
                            <span class="bar-track two">
                                <span class="bar before" style=width(c.probability_before) title="before"></span>
                                <span class="bar" style=width(c.probability_after) title="after"></span>
                            </span>
                            <span class="next-p">{format!("{:.1}% → {:.1}%", 100.0 * c.probability_before, 100.0 * c.probability_after)}</span>
                        </li>
                    }
                })
                .collect_view();
            return Some(
                view! {
                    <section class="next-tokens">
                        <h2>"Next token, before and after"</h2>
                        <p class="hint">"Grey: with every head on; coloured: with the heads switched off."</p>
                        <ol data-testid="next-tokens" data-changed="true">{bars}</ol>
                    </section>
                }
                .into_any(),
            );
        }
        let top = next.first().map_or(1.0, |t| t.probability).max(1e-6);
        let bars = next
            .into_iter()
            .map(|token| {
                let width = format!("width: {:.1}%", 100.0 * token.probability / top);
                view! {
                    <li data-token-id=token.id.to_string() data-probability=format!("{:.6}", token.probability) data-logit=format!("{:.6}", token.logit)>
                        <span class="next-label">{token_label(&token.text)}</span>
                        <span class="bar-track"><span class="bar" style=width></span></span>
                        <span class="next-p">{format!("{:.1}%", 100.0 * token.probability)}</span>
                    </li>
                }
            })
            .collect_view();
        Some(
            view! {
                <section class="next-tokens">
                    <h2>"Next token"</h2>
                    <ol data-testid="next-tokens" data-changed="false">{bars}</ol>
                </section>
            }
            .into_any(),
        )
    }
}
