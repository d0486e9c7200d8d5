//! The text box.

use leptos::prelude::*;

use crate::state::Selection;

/// The prompt input: what is typed becomes the draft, which runs at once (or, while the
/// worker is busy, as soon as it is free, if nothing newer was typed by then).
#[component]
pub fn PromptInput() -> impl IntoView {
    let selection = expect_context::<Selection>();
    view! {
        <label class="prompt">
            <span class="label">"Text"</span>
            <textarea
                data-testid="prompt-input"
                rows="2"
                spellcheck="false"
                placeholder="Type a sentence, e.g. The cat sat on the mat"
                prop:value=move || selection.draft.get()
                on:input=move |ev| selection.draft.set(event_target_value(&ev))
            ></textarea>
        </label>
    }
}
