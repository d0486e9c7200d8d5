//! The model, layer, head and mask pickers, and the table toggle.

use leptos::prelude::*;
use report::{Mask, WeightChoice};

use crate::state::{Display, Run, Selection, Tab};

/// A labelled `<select>` over `options` (value, text) bound to `selected`.
#[component]
fn Picker(
    /// Shown beside the select.
    label: &'static str,
    /// The test id of the select.
    test_id: &'static str,
    /// The choices: (value, text shown).
    #[prop(into)]
    options: Signal<Vec<(String, String)>>,
    /// The chosen value.
    #[prop(into)]
    selected: Signal<String>,
    /// Called with the new value.
    on_pick: impl Fn(String) + 'static,
    /// Whether the choice is not the person's to make (and why, as a tooltip).
    #[prop(into, optional)]
    fixed: Signal<Option<&'static str>>,
) -> impl IntoView {
    view! {
        <label class="picker">
            <span class="label">{label}</span>
            <select
                data-testid=test_id
                disabled=move || fixed.get().is_some()
                title=move || fixed.get()
                on:change=move |ev| on_pick(event_target_value(&ev))
                prop:value=move || selected.get()
            >
                {move || {
                    let current = selected.get();
                    options
                        .get()
                        .into_iter()
                        .map(|(value, text)| {
                            let is_selected = value == current;
                            view! { <option value=value selected=is_selected>{text}</option> }
                        })
                        .collect_view()
                }}
            </select>
        </label>
    }
}

/// Puts the link to this view on the clipboard and shows it (the clipboard may be
/// out of reach, in a page without focus, say: the shown link still serves).
fn copy_link(display: Display) {
    let Some(window) = web_sys::window() else { return };
    let Ok(link) = window.location().href() else { return };
    let _ = window.navigator().clipboard().write_text(&link);
    display.copied_link.set(Some(link));
}

/// `count` numbered choices; before the model is loaded (`count` 0), only the current
/// one, so the picker shows what is selected rather than nothing.
fn numbered(prefix: &str, count: usize, current: usize) -> Vec<(String, String)> {
    let choices = if count == 0 { current..current + 1 } else { 0..count };
    choices.map(|i| (i.to_string(), format!("{prefix} {i}"))).collect()
}

/// How a GGUF's weights may be held (see engine's `WeightChoice`).
fn weight_choices() -> Vec<(String, String)> {
    let budget = report::FLOAT32_BUDGET_BYTES / 1_000_000;
    vec![
        ("fit".into(), format!("float32 if it fits ({budget} MB), else quantized")),
        ("float32".into(), "float32 (de-quantized at load: most memory)".into()),
        ("quantized".into(), "quantized as stored (de-quantized as used: least memory)".into()),
    ]
}

/// Model, layer, head and mask.
#[component]
pub fn Controls() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    let models = Signal::derive(move || selection.catalog.get().into_iter().map(|m| (m.id, m.label)).collect::<Vec<_>>());
    let counts = move || run.loaded.get().map_or((0, 0), |(info, _)| (info.layers, info.heads));
    // A model with sliding windows has three masks: its own (windows included), the plain
    // causal one without them, and none.
    let masks = Signal::derive(move || {
        let windowed = run.loaded.with(|l| l.as_ref().is_some_and(|(info, _)| !info.layer_windows.is_empty()));
        let mut masks = vec![("causal".to_string(), "causal (query sees earlier keys)".to_string())];
        if windowed {
            masks[0].1 = "the model's own (causal, sliding windows)".into();
            masks.push(("plain-causal".into(), "plain causal (no sliding windows)".into()));
        }
        masks.push(("none".to_string(), "none (every query sees every key)".to_string()));
        masks
    });
    view! {
        <div class="controls">
            <Picker
                label="Model"
                test_id="model-select"
                options=models
                selected=Signal::derive(move || selection.model.get())
                on_pick=move |id| selection.model.set(id)
            />
            <Picker
                label="Weights"
                test_id="weights-select"
                options=Signal::derive(weight_choices)
                selected=Signal::derive(move || selection.weights.get().name().to_string())
                on_pick=move |v| selection.weights.set(WeightChoice::from_name(&v).unwrap_or_default())
                fixed=Signal::derive(move || (!selection.model_is_gguf()).then_some("This model's file holds float32 weights: there is nothing to de-quantize"))
            />
            <super::open_model::OpenModel />
            <Picker
                label="Layer"
                test_id="layer-select"
                options=Signal::derive(move || numbered("Layer", counts().0, selection.layer.get()))
                selected=Signal::derive(move || selection.layer.get().to_string())
                on_pick=move |v| selection.layer.set(v.parse().unwrap_or(0))
            />
            <Picker
                label="Head"
                test_id="head-select"
                options=Signal::derive(move || numbered("Head", counts().1, selection.head.get()))
                selected=Signal::derive(move || selection.head.get().to_string())
                on_pick=move |v| selection.head.set(v.parse().unwrap_or(0))
            />
            <Picker
                label="Mask"
                test_id="mask-select"
                options=masks
                selected=Signal::derive(move || if selection.is_translator() || selection.is_vision() { "none".into() } else if selection.is_speech() || selection.is_few_shot() { "causal".into() } else { selection.mask.get().name().to_string() })
                on_pick=move |v| selection.mask.set(v.parse().unwrap_or(Mask::Causal))
                fixed=Signal::derive(move || if selection.is_translator() { Some("A translator's encoder sees the whole source; its decoder, the tokens before") } else if selection.is_vision() { Some("A Vision Transformer sees every patch from every patch") } else if selection.is_few_shot() { Some("A SNAIL reads each drawing after the ones before it: causal") } else { selection.is_speech().then_some("Whisper's decoder sees the tokens before; its encoder and the cross-attention, all the sound") })
            />
            // A shortcut between the map and its numbers (the Table tab).
            <button
                data-testid="table-toggle"
                class="toggle"
                aria-pressed=move || (selection.tab.get() == Tab::Table).to_string()
                on:click=move |_| selection.tab.update(|tab| *tab = if *tab == Tab::Table { Tab::Heatmap } else { Tab::Table })
            >
                {move || if selection.tab.get() == Tab::Table { "Show map" } else { "Table" }}
            </button>
            <button data-testid="copy-link" class="toggle" on:click=move |_| copy_link(display)>"Copy link"</button>
            {move || display.copied_link.get().map(|link| view! {
                <span class="copied">"Link copied: " <a data-testid="copied-link" href=link.clone()>{link.clone()}</a></span>
            })}
        </div>
    }
}
