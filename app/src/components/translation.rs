//! A translator's output: the translation, token by token, above the views of the
//! encoder's self-attention over the source (the first site, which every
//! one-sequence view shows).

use leptos::prelude::*;

use super::token_label;
use crate::state::{Run, Selection, Status};

/// SentencePiece pieces joined into text: `▁` starts a word.
pub fn joined(pieces: &[String]) -> String {
    pieces.concat().replace('▁', " ").trim().to_string()
}

/// The translation as it grows: the tokens so far, and how far it may still go.
fn growing(tokens: Vec<String>, limit: usize) -> impl IntoView {
    let count = tokens.len();
    let text = format!("{}…", joined(&tokens));
    let strip = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| view! { <span class="token" data-testid="token" data-index=i.to_string()>{token_label(&token)}</span> })
        .collect_view();
    view! {
        <section class="translation" aria-label="Translation" aria-busy="true">
            <h2>"Translation"</h2>
            <p class="translation-text growing" data-testid="translation-text" data-streaming="true">{text}</p>
            <div class="token-strip" data-testid="translation-output" data-streaming="true">{strip}</div>
            <progress max=limit.to_string() value=count.to_string() aria-label="Tokens so far, of the most the translation may take"></progress>
        </section>
    }
}

#[component]
pub fn TranslationPanel() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    move || {
        // While a translation grows, its tokens so far (the status carries them).
        if let Status::Translating { tokens, limit } = run.status.get() {
            return Some(growing(tokens, limit).into_any());
        }
        let report = run.report.get()?;
        let translation = report.translation.clone()?;
        let target = report.sequence("target")?.tokens.clone();
        let tokens = target
            .iter()
            .enumerate()
            .map(|(i, token)| {
                view! {
                    <span class="token" data-testid="token" data-index=i.to_string() data-id=token.id.to_string()
                        class:focused=move || selection.hovered_target.get() == Some(i)
                        class:pinned=move || selection.pinned_target.get() == Some(i)
                        aria-pressed=move || (selection.pinned_target.get() == Some(i)).to_string()
                        role="button" tabindex="0"
                        on:mouseenter=move |_| selection.hovered_target.set(Some(i))
                        on:mouseleave=move |_| selection.hovered_target.set(None)
                        on:click=move |_| selection.pinned_target.update(|p| *p = if *p == Some(i) { None } else { Some(i) })
                        on:keydown=move |ev: web_sys::KeyboardEvent| {
                            if ev.key() == "Enter" || ev.key() == " " {
                                ev.prevent_default();
                                selection.pinned_target.update(|p| *p = if *p == Some(i) { None } else { Some(i) });
                            }
                        }>
                        {token_label(&token.text)}
                    </span>
                }
            })
            .collect_view();
        let limit_note = translation.cut_by_limit.then(|| {
            view! {
                <p class="notice" data-testid="translation-cut">"The translation reached its length limit (2.5 × the source's tokens) before it ended."</p>
            }
        });
        // What wrote the output: Marian's greedy search, an aligner's, or a memory network's
        // answer after its hops.
        let (heading, hint) = if super::story_hops::is_memory_network(&report) {
            (
                "Answer",
                "The word the network's state after its last hop scores highest. The table below shows each hop's weights over the story's \
                 sentences; the views further down show one hop at a time (a hop is a layer).",
            )
        } else if report.alignment_arithmetic.is_some() {
            (
                "Translation",
                "Greedy: each step writes the symbol it scores highest and reads it back. Hover a token (or click to pin it) to see where the \
                 decoder looked while writing it.",
            )
        } else {
            (
                "Translation",
                "Greedy, over the model's lexical shortlist, as Mozilla's engine translates. Hover a token (or click to pin it) to see where \
                 the decoder looked while writing it. The views further down show the encoder's self-attention: how each source token looks at \
                 the others.",
            )
        };
        Some(
            view! {
                <section class="translation" aria-label=heading>
                    <h2>{heading}</h2>
                    <p class="translation-text" data-testid="translation-text" data-streaming="false">{translation.text.clone()}</p>
                    <div class="token-strip" data-testid="translation-output" data-streaming="false" aria-label="The translation's tokens">{tokens}</div>
                    {limit_note}
                    <super::UnchangedWritten />
                    <p class="hint">{hint}</p>
                </section>
            }
            .into_any(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::joined;

    #[test]
    fn pieces_join_into_words() {
        let pieces = ["▁O", "▁gato", "▁sent", "ou", "-", "se", "."].map(String::from);
        assert_eq!(joined(&pieces), "O gato sentou-se.");
    }
}
