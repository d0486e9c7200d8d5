//! The reading switches every map follows: hide the first token (the attention sink that
//! swamps the colour scale of most heads), read pieces as words, colour linearly or by the
//! logarithm. And the note each view shows while a switch is on, so no picture is taken
//! for the map as the model computed it.

use leptos::prelude::*;
use report::analysis::reading::Reading;
use report::figure::ValueScale;

use super::{ExportMenu, Subject};
use crate::state::{Display, Selection};

/// A checkbox over one of the reading's switches.
#[component]
fn Switch(
    /// Shown beside the box, and its tooltip.
    label: &'static str,
    title: &'static str,
    test_id: &'static str,
    /// Reads and sets the switch in a reading.
    get: fn(&Reading) -> bool,
    set: fn(&mut Reading, bool),
) -> impl IntoView {
    let display = expect_context::<Display>();
    view! {
        <label class="switch" title=title>
            <input type="checkbox" data-testid=test_id
                prop:checked=move || get(&display.reading.get())
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    display.reading.update(|r| set(r, on));
                } />
            <span>{label}</span>
        </label>
    }
}

/// The "Hide first token" switch: in the reading bar, and again where a view is swamped by
/// the first token (the rollout), the same switch of the same reading.
#[component]
pub fn HideSinkSwitch(test_id: &'static str) -> impl IntoView {
    let selection = expect_context::<Selection>();
    // Over a picture the first item is the class token, not a word's.
    move || {
        if selection.is_vision() {
            view! {
                <Switch label="Hide the class token" test_id=test_id
                    title="Leave the class token out and renormalise each row over the patches: many heads pour their weight into it"
                    get=|r| r.hide_first_key set=|r, on| r.hide_first_key = on />
            }
            .into_any()
        } else {
            view! {
            <Switch label="Hide first token" test_id=test_id
                title="Leave the first key out and renormalise each row over the rest: most heads pour their weight into the first token (an attention sink)"
                get=|r| r.hide_first_key set=|r, on| r.hide_first_key = on />
        }.into_any()
        }
    }
}

/// The switches, above the views of the selected head (the grid follows them too).
#[component]
pub fn ReadingBar() -> impl IntoView {
    let selection = expect_context::<Selection>();
    view! {
        <div class="reading-bar" role="group" aria-label="How to read the maps">
            <HideSinkSwitch test_id="hide-sink" />
            // Words are a text's: over a picture's patches the switch would mean nothing.
            <Show when=move || !selection.is_vision()>
                <Switch label="Words" test_id="word-pool"
                    title="Merge sub-word pieces into the text's words: attention to a word is the sum over its pieces, from a word the mean"
                    get=|r| r.by_words set=|r, on| r.by_words = on />
            </Show>
            <ScalePicker test_id="scale-select" />
            <ExportMenu subject=Subject::SelectedHead test_id="export-menu" />
        </div>
    }
}

/// Linear or logarithmic colour, for every map (the reading bar's, and a long text's map's).
#[component]
pub fn ScalePicker(test_id: &'static str) -> impl IntoView {
    let display = expect_context::<Display>();
    view! {
        <label class="picker">
            <span class="label">"Scale"</span>
            <select data-testid=test_id on:change=move |ev| {
                display.value_scale.set(ValueScale::from_name(&event_target_value(&ev)).unwrap_or_default());
            }>
                {ValueScale::ALL.map(|s| view! {
                    <option value=s.name() selected=move || display.value_scale.get() == s>
                        {if s == ValueScale::Log { "log (3 decades)" } else { "linear" }}
                    </option>
                })}
            </select>
        </label>
    }
}

/// What the reading does to the map in view, said in the view's caption; nothing when the
/// map is shown as computed.
#[component]
pub fn ReadingNote() -> impl IntoView {
    let display = expect_context::<Display>();
    move || {
        let note = report::figure::reading_note(display.reading.get(), display.value_scale.get())?;
        Some(view! { <span class="reading-note" data-testid="reading-note">{format!(" {note}")}</span> })
    }
}
