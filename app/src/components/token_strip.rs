//! The tokens of the text, above the views. Hovering a token highlights its row
//! (what it attends to) and its column (what attends to it) in every view; a click
//! pins it, a second click lets it go.

use leptos::prelude::*;

use super::token_label;
use crate::AppState;

#[component]
pub fn TokenStrip() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        let report = state.report.get()?;
        let tokens = report
            .tokens()
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let pinned = move || state.pinned_token.get() == Some(i);
                let title = format!("token {i}: id {}{}", token.id, token.span.map_or(String::new(), |[a, b]| format!(", bytes {a}..{b}")));
                view! {
                    <button
                        class="token"
                        class:pinned=pinned
                        class:focused=move || state.focused_token() == Some(i)
                        aria-pressed=move || pinned().to_string()
                        data-testid="token"
                        data-index=i.to_string()
                        title=title
                        on:mouseenter=move |_| state.hovered_token.set(Some(i))
                        on:mouseleave=move |_| state.hovered_token.set(None)
                        on:focus=move |_| state.hovered_token.set(Some(i))
                        on:blur=move |_| state.hovered_token.set(None)
                        on:click=move |_| state.pinned_token.update(|p| *p = if *p == Some(i) { None } else { Some(i) })
                    >
                        {token_label(&token.text)}
                    </button>
                }
            })
            .collect_view();
        Some(view! {
            <div class="token-strip" data-testid="token-strip" aria-label="Tokens: hover to highlight, click to pin">
                {tokens}
            </div>
        })
    }
}
