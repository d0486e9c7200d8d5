//! The tokens of the text, above the views. Hovering a token highlights its row
//! (what it attends to) and its column (what attends to it) in every view; a click
//! pins it, a second click lets it go. A long text's strip shows a window of its tokens
//! (a few hundred buttons, not thousands), which follows the token in focus.

use leptos::prelude::*;

use super::token_label;
use crate::state::{Run, Selection};

/// How many tokens the strip shows at once.
pub const STRIP_WINDOW: usize = 200;

/// Where a window of `window` of `tokens` tokens starts to hold `token`, moving from `start`
/// only when `token` is outside it (then centred on it).
pub fn window_start(start: usize, token: Option<usize>, tokens: usize, window: usize) -> usize {
    let last = tokens.saturating_sub(window);
    match token {
        Some(t) if t < start || t >= start + window => t.saturating_sub(window / 2).min(last),
        _ => start.min(last),
    }
}

#[component]
pub fn TokenStrip() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let count = move || run.report.with(|r| r.as_ref().map_or(0, |r| r.tokens().len()));
    let start = RwSignal::new(0usize);
    // The window follows the token in focus (from the long map's pointer, say).
    Effect::new(move |_| {
        let moved = window_start(start.get_untracked(), run.focused_token(&selection), count(), STRIP_WINDOW);
        if moved != start.get_untracked() {
            start.set(moved);
        }
    });
    let chips = move || {
        let report = run.report.get()?;
        let from = start.get().min(report.tokens().len());
        let tokens = report
            .tokens()
            .iter()
            .enumerate()
            .skip(from)
            .take(STRIP_WINDOW)
            .map(|(i, token)| {
                let pinned = move || selection.pinned_token.get() == Some(i);
                let title = format!("token {i}: id {}{}", token.id, token.span.map_or(String::new(), |[a, b]| format!(", bytes {a}..{b}")));
                view! {
                    <button
                        class="token"
                        class:pinned=pinned
                        class:focused=move || run.focused_token(&selection) == Some(i)
                        aria-pressed=move || pinned().to_string()
                        data-testid="token"
                        data-index=i.to_string()
                        title=title
                        on:mouseenter=move |_| selection.hovered_token.set(Some(i))
                        on:mouseleave=move |_| selection.hovered_token.set(None)
                        on:focus=move |_| selection.hovered_token.set(Some(i))
                        on:blur=move |_| selection.hovered_token.set(None)
                        on:click=move |_| selection.pinned_token.update(|p| *p = if *p == Some(i) { None } else { Some(i) })
                    >
                        {token_label(&token.text)}
                    </button>
                }
            })
            .collect_view();
        Some(tokens)
    };
    // Only a text longer than the window has one to move.
    let windowed = move || count() > STRIP_WINDOW;
    let any = move || count() > 0;
    let step = move |forward: bool| {
        let (n, from) = (count(), start.get_untracked());
        start.set(if forward { (from + STRIP_WINDOW).min(n.saturating_sub(STRIP_WINDOW)) } else { from.saturating_sub(STRIP_WINDOW) });
    };
    view! {
        <Show when=windowed>
            <div class="strip-window" data-testid="strip-window" data-start=move || start.get().to_string()>
                <button data-testid="strip-earlier" class="toggle" disabled=move || start.get() == 0 on:click=move |_| step(false)>"‹ Earlier"</button>
                <span class="hint">{move || format!("tokens {}–{} of {}", start.get(), (start.get() + STRIP_WINDOW).min(count()) - 1, count())}</span>
                <button data-testid="strip-later" class="toggle" disabled=move || start.get() + STRIP_WINDOW >= count() on:click=move |_| step(true)>"Later ›"</button>
            </div>
        </Show>
        <Show when=any>
            <div class="token-strip" data-testid="token-strip" aria-label="Tokens: hover to highlight, click to pin">
                {chips}
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_moves_only_to_hold_the_token_in_focus() {
        assert_eq!(window_start(0, Some(150), 2000, 200), 0, "inside: stays");
        assert_eq!(window_start(0, Some(700), 2000, 200), 600, "outside: centred on it");
        assert_eq!(window_start(600, None, 2000, 200), 600);
        assert_eq!(window_start(600, Some(1990), 2000, 200), 1800, "never past the end");
        assert_eq!(window_start(600, Some(3), 50, 200), 0, "a short text: from its start");
    }
}
