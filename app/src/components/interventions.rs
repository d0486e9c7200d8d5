//! Which heads matter: switch heads off and watch the next-token bars move, pick the
//! answer, sweep every head (ablated, or patched from a second text) or split the answer's
//! logit among the heads, and read the effects in the grid and in a table.

use leptos::prelude::*;
use report::{Ablation, HeadId};

use super::effects_table::EffectsTable;
use super::token_label;
use crate::interventions::{unchanged_next_tokens, EffectKind, SweepState};
use crate::state::{Interventions, Run, Selection};

/// Why heads cannot be switched off for the model and mask in view, if they cannot. A
/// translator, a speech model and a vision model run under their own masks only.
pub fn why_not(selection: Selection, run: Run) -> Option<String> {
    if selection.runs_own_masks() {
        return None;
    }
    let (info, _) = run.loaded.get()?;
    let own = info.native_mask();
    (selection.mask.get() != own).then(|| format!("Heads are switched off under the model's own mask ({}): choose it to change the run.", own.name()))
}

/// The switch for the selected head: off (ablated) or on.
#[component]
pub fn AblateToggle() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let interventions = expect_context::<Interventions>();
    let selected = move || HeadId { layer: selection.layer.get(), head: selection.head.get() };
    move || {
        let blocked = why_not(selection, run);
        let head = selected();
        view! {
            <label class="ablate-switch" title=blocked.clone().unwrap_or_else(|| "Switch the head off: its output replaced by zero or by its mean".into())>
                <input
                    type="checkbox"
                    data-testid="ablate-toggle"
                    data-layer=head.layer.to_string()
                    data-head=head.head.to_string()
                    disabled=blocked.is_some()
                    prop:checked=move || interventions.is_ablated(selected())
                    on:change=move |_| interventions.toggle(selected())
                />
                {format!(" Switch layer {}, head {} off", head.layer, head.head)}
                {blocked.clone().map(|why| view! { <span class="hint" data-testid="ablate-why">{format!(" — {why}")}</span> })}
            </label>
        }
    }
}

/// One `<select>` of tokens: the likeliest next tokens of the unchanged run, and the
/// chosen one if it is not among them.
#[component]
fn TokenSelect(
    /// The signal the choice goes in (`None`: the first option).
    chosen: RwSignal<Option<String>>,
    /// The first option's label (its value is empty).
    none: &'static str,
    test_id: &'static str,
) -> impl IntoView {
    let run = expect_context::<Run>();
    let options = move || {
        let mut texts: Vec<String> =
            run.report.with(|r| r.as_deref().and_then(unchanged_next_tokens)).unwrap_or_default().into_iter().map(|t| t.text).collect();
        if let Some(c) = chosen.get().filter(|c| !texts.contains(c)) {
            texts.push(c);
        }
        texts
            .into_iter()
            .map(|text| {
                let value = text.clone();
                view! { <option value=value.clone() selected=move || chosen.get().as_deref() == Some(value.as_str())>{token_label(&text)}</option> }
            })
            .collect_view()
    };
    view! {
        <select data-testid=test_id on:change=move |ev| {
            let value = event_target_value(&ev);
            chosen.set((!value.is_empty()).then_some(value));
        }>
            <option value="" selected=move || chosen.get().is_none()>{none}</option>
            {options}
        </select>
    }
}

/// What switching heads off does in a model with no next token to sweep by.
fn no_answer(selection: Selection) -> &'static str {
    if selection.is_translator() {
        "A translator's encoder heads switch off here: the translation is written again from the changed encoder, under the unchanged one. Sweeps and attribution need a language model's next token."
    } else if selection.is_speech() {
        "A speech model's heads are zeroed here while it writes (the decoder's with the switch above its map, the encoder's with the one above the encoder's map; one of the two at a time): the transcript is written again, under the unchanged one. Sweeps and attribution need a language model's next token."
    } else if selection.is_vision() {
        "A picture's heads switch off here: colour the grid by each map's change to see the layers after them attend otherwise. Sweeps and attribution need a language model's next token."
    } else {
        "An encoder (BERT) guesses no next token: switch heads off and colour the grid by each map's change; sweeps and attribution need a language model's answer."
    }
}

#[component]
pub fn InterventionPanel() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let interventions = expect_context::<Interventions>();
    let running = move || matches!(interventions.sweep.get(), SweepState::Running { .. } | SweepState::Asked(_));
    // Sweeps measure the answer's logit: a causal language model's.
    let speaks = move || !selection.runs_own_masks() && run.loaded.get().is_none_or(|(info, _)| info.causal);
    // A speech model writes a token at a time: a head has no mean over positions until it ends.
    let zero_only = move || selection.is_speech();
    let ask = move |kind: EffectKind| interventions.sweep.set(SweepState::Asked(kind));
    let stop = move |_| interventions.sweep.set(SweepState::Stopped("stopped".into()));
    let ablated = move || {
        // The heads' attention, named where it is not the grid's ("encoder L1 H2").
        let site = interventions.ablated_site.get();
        let prefix = site.as_ref().map(|s| format!("{s} ")).unwrap_or_default();
        interventions
            .ablated
            .get()
            .into_iter()
            .map(|head| {
                let (site, shown_site) = (site.clone(), site.clone());
                view! {
                    <li class="chip" data-testid="ablated-head" data-layer=head.layer.to_string() data-head=head.head.to_string() data-site=shown_site>
                        <button class="link" title="Select this head" on:click=move |_| { selection.layer.set(head.layer); selection.head.set(head.head); }>{format!("{prefix}L{} H{}", head.layer, head.head)}</button>
                        <button class="remove" aria-label=format!("Switch {prefix}layer {}, head {} back on", head.layer, head.head) on:click=move |_| interventions.toggle_at(site.as_deref(), head)>"×"</button>
                    </li>
                }
            })
            .collect_view()
    };
    let status = move || match interventions.sweep.get() {
        SweepState::Idle => None,
        SweepState::Asked(kind) => Some(format!("Waiting for the model to run the {}…", kind.title())),
        SweepState::Running { kind: EffectKind::Attribution, .. } => Some("Splitting the answer's logit among the heads…".into()),
        SweepState::Running { kind, done, total } => Some(format!("Sweeping ({}): {done} of {total} heads…", kind.name())),
        SweepState::Stopped(why) => Some(why),
        SweepState::Failed(message) => Some(format!("Error: {message}")),
    };
    let progress = move || match interventions.sweep.get() {
        SweepState::Running { done, total, .. } if total > 0 => Some(view! {
            <progress data-testid="sweep-progress" max=total.to_string() value=done.to_string()></progress>
        }),
        _ => None,
    };
    view! {
        <section class="interventions" aria-label="Which heads matter" data-testid="interventions">
            <h2>"Which heads matter"</h2>
            <p class="hint" class:hidden=move || !speaks()>"Switch heads off with the switch above the selected head's map, or sweep every head: each knocked out (or patched from a second text) in turn, and how far the answer's logit moved."</p>
            {move || (!speaks()).then(|| view! { <p class="hint" data-testid="no-answer">{no_answer(selection)}</p> })}
            <div class="row" class:hidden=move || !speaks()>
                <label class="picker">
                    <span class="label">"Answer"</span>
                    <TokenSelect chosen=interventions.answer none="the likeliest next token" test_id="answer-select" />
                </label>
                <label class="picker">
                    <span class="label">"minus"</span>
                    <TokenSelect chosen=interventions.versus none="nothing" test_id="versus-select" />
                </label>
            </div>
            <div class="row">
                <span class="label">"Switched off:"</span>
                <ul class="chips" aria-label="Heads switched off">{ablated}</ul>
                {move || interventions.ablated.with(Vec::is_empty).then_some(view! { <span class="hint">"none"</span> })}
                <label class="picker">
                    <span class="label">"Switched off means"</span>
                    <select data-testid="ablation-select" on:change=move |ev| {
                        interventions.ablation.set(if event_target_value(&ev) == "mean" { Ablation::Mean } else { Ablation::Zero });
                    }>
                        <option value="zero" selected=move || interventions.ablation.get() == Ablation::Zero>"output zeroed"</option>
                        <option value="mean" disabled=zero_only selected=move || interventions.ablation.get() == Ablation::Mean>"output replaced by its mean over the text"</option>
                    </select>
                </label>
                <button class="toggle" data-testid="ablate-clear" disabled=move || interventions.ablated.with(Vec::is_empty)
                    on:click=move |_| interventions.clear()>"Switch all on"</button>
            </div>
            <div class="row" class:hidden=move || !speaks()>
                <button class="toggle" data-testid="sweep-ablation" disabled=running on:click=move |_| ask(EffectKind::Ablation)>"Sweep: switch each head off"</button>
                <button class="toggle" data-testid="sweep-attribution" disabled=running on:click=move |_| ask(EffectKind::Attribution)>"Attribute the logit"</button>
            </div>
            <div class="row" class:hidden=move || !speaks()>
                <label class="picker patch-source">
                    <span class="label">"Second text"</span>
                    <input type="text" data-testid="patch-source" placeholder="as long in tokens: When Mary and John went to the store, Mary gave a drink to"
                        prop:value=move || interventions.patch_source.get()
                        on:input=move |ev| interventions.patch_source.set(event_target_value(&ev)) />
                </label>
                <button class="toggle" data-testid="sweep-patching" disabled=move || running() || interventions.patch_source.with(|s| s.trim().is_empty())
                    on:click=move |_| ask(EffectKind::Patching)>"Sweep: patch each head from it"</button>
            </div>
            <div class="row" role="status">
                {progress}
                <span class="hint" data-testid="sweep-status">{status}</span>
                <Show when=running>
                    <button class="toggle" data-testid="sweep-stop" on:click=stop>"Stop"</button>
                </Show>
            </div>
            <EffectsTable />
        </section>
    }
}
