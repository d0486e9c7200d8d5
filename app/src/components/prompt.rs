//! The text box.

use leptos::prelude::*;

use crate::AppState;

/// The prompt input: what is typed becomes the draft, which runs at once (or, while the
/// worker is busy, as soon as it is free, if nothing newer was typed by then).
#[component]
pub fn PromptInput() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <label class="prompt">
            <span class="label">"Text"</span>
            <textarea
                data-testid="prompt-input"
                rows="2"
                spellcheck="false"
                placeholder="Type a sentence, e.g. The cat sat on the mat"
                prop:value=move || state.draft.get()
                on:input=move |ev| state.draft.set(event_target_value(&ev))
            ></textarea>
        </label>
    }
}
