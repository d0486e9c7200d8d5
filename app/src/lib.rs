//! attnscope's page: type a sentence, pick a model, a layer, a head and a mask,
//! and see that head's attention, computed by the engine in a Web Worker.
//!
//! The app knows nothing of tensors: it sends text to the worker and draws the
//! report that comes back.

pub mod audio;
pub mod catalog;
pub mod components;
pub mod engine_client;
pub mod interventions;
pub mod js_bytes;
pub mod js_file;
pub mod picture;
pub mod protocol;
pub mod runs;
pub mod snapshot;
pub mod state;
pub mod url_state;
pub mod user_files;
/// What a head's map shows (the engine's, so the CLI's figures are the page's).
pub use engine::analysis::shown as weighting;
pub mod worker;

use std::sync::Arc;

use leptos::prelude::*;

pub use state::{AppState, GridColour, ProbeOutcome, ProbeState, Status, Tab, WholeMap};

use components::{
    AlignmentView, AudioPanel, CompareView, Controls, HeadDetail, HeadGrid, ImagePanel, InterventionPanel, NextTokens, ProbePanel, PromptInput, RolloutView,
    ScoresPanel, SpeechView, StatusLine, TokenStrip, TranslationPanel, VisionView,
};
use engine_client::EngineClient;
use protocol::{FromWorker, LoadStage, ToWorker};
use runs::{RunPlan, Scheduler};

/// The sentence the page opens with.
pub const DEFAULT_TEXT: &str = "The cat sat on the mat";

/// The most tokens whose maps the page keeps whole: the maps grow with the square of the
/// length, and the page should answer while a person types. A translation, a change of
/// heads and a sweep read at most this many.
pub const WHOLE_MAX_TOKENS: usize = 128;

/// The most tokens of a language model's or an encoder's text the page runs (the model's
/// own limit where smaller). Beyond [`WHOLE_MAX_TOKENS`] a text is long: its maps are kept
/// pooled, at most [`POOLED_ACROSS`] blocks across, and a head's whole map is computed when
/// a view shows it.
pub const LONG_MAX_TOKENS: usize = 4096;
pub const POOLED_ACROSS: usize = 128;

/// The probe's size: TransformerLens's usual 50 random tokens, over four seeds.
pub const PROBE_LENGTH: usize = 50;
pub const PROBE_SEEDS: [u64; 4] = [0, 1, 2, 3];
/// The probe's lengths to choose from (random tokens a copy): the longest reads 2,001 tokens
/// or more, a long text's length.
pub const PROBE_LENGTHS: [usize; 3] = [PROBE_LENGTH, 500, 1000];

/// Whether a probe of `length` random tokens a copy runs pooled, as a long text does: its
/// two copies (and a token or two around them) are more than the page keeps whole.
pub fn probe_runs_pooled(length: usize) -> bool {
    2 * length + 2 > WHOLE_MAX_TOKENS
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new(url_state::read_location());
    provide_context(state);
    // The URL follows the view.
    Effect::new(move |_| url_state::write_location(&state.view_state()));
    // Numbers the runs and holds texts back while the worker is busy (see runs.rs).
    let scheduler = StoredValue::new(Scheduler::default());
    let worker_ready = RwSignal::new(false);
    let client = StoredValue::new_local(None::<EngineClient>);
    let send = move |request: ToWorker| client.with_value(|c| c.as_ref().map(|c| c.send(&request)));
    match EngineClient::start(move |answer| on_answer(state, scheduler, worker_ready, answer, send)) {
        Ok(started) => client.set_value(Some(started)),
        Err(message) => state.status.set(Status::Failed(message)),
    }

    leptos::task::spawn_local(async move {
        match catalog::fetch_catalog().await {
            Ok(models) => state.catalog.set(models),
            Err(message) => state.status.set(Status::Failed(message)),
        }
    });

    // What of the catalogue decides a load: its entries without their labels (a person's
    // model is relabelled once it has loaded, which must not load it again).
    let loadable = Memo::new(move |_| state.catalog.with(|c| c.iter().map(|m| (m.id.clone(), m.local)).collect::<Vec<_>>()));
    // Load the chosen model once the worker and the catalogue are there.
    Effect::new(move |_| {
        let model = state.model.get();
        let weights = state.weights.get();
        if !worker_ready.get() {
            return;
        }
        loadable.track();
        let Some(entry) = state.catalog.with_untracked(|c| c.iter().find(|m| m.id == model).cloned()) else {
            if let Some(name) = model.strip_prefix("file:") {
                // A link to a model from someone's own files: the files are not here.
                state.status.set(Status::Failed(format!(
                    "`{name}` was opened from a person's own files, which this page does not have: open it again (Open a model…)"
                )));
            } else if !state.catalog.with(Vec::is_empty) {
                state.status.set(Status::Failed(format!("there is no model `{model}` in models.json")));
            }
            return;
        };
        state.loaded.set(None);
        // A probe asked for while loading still runs, on the model now loading.
        if !state.probe.with_untracked(|p| matches!(p, ProbeState::Waiting)) {
            state.probe.set(ProbeState::Idle);
        }
        scheduler.update_value(Scheduler::withdraw);
        state.report.set(None);
        let stage = if entry.local { LoadStage::Reading } else { LoadStage::Fetching };
        state.status.set(Status::Loading { model: model.clone(), stage, loaded: 0, total: None });
        if entry.local {
            let names = entry.files.iter().map(|f| f.name.clone()).collect();
            let files = state.local_files.with_value(|f| f.get(&model).cloned()).unwrap_or_default();
            let request = ToWorker::Open { model, names, weights };
            client.with_value(|c| c.as_ref().map(|c| c.send_with_files(&request, &files)));
        } else {
            send(ToWorker::Load { model, files: entry.urls(), weights });
        }
    });

    // The layer whose raw scores come with each run: the selected one while the Math
    // tab is open, and it stays so after (leaving the tab is no reason to run again).
    let scores_of_layer =
        Memo::new(move |previous: Option<&Option<usize>>| if state.tab.get() == Tab::Math { Some(state.layer.get()) } else { previous.copied().flatten() });
    // Value norms come with each run once the map has been weighted by them (and stay).
    let value_norms = Memo::new(move |previous: Option<&bool>| previous.copied().unwrap_or(false) || state.weighting.get() == weighting::Weighting::ValueNorms);
    // Run the text whenever it, the mask or the loaded model changes (and what the
    // views ask of the run: raw scores, value norms, the other mask).
    Effect::new(move |_| {
        let text = state.text.get();
        let Some((info, _)) = state.loaded.get() else { return };
        // A speech model hears sound, a vision model looks at a picture: the effects below send them.
        if state.takes_whole_input() {
            return;
        }
        if text.trim().is_empty() {
            scheduler.update_value(Scheduler::withdraw);
            state.report.set(None);
            state.status.set(Status::EmptyText);
            return;
        }
        // A translator has one way to run: nothing to compare.
        let compare = state.compare.get() && !state.is_encoder_decoder();
        if !compare {
            state.compare_report.set(None);
        }
        // Heads switched off change the run under the model's own mask only (the one it
        // was trained with; the panel says so under the other).
        let own_mask = state.mask.get() == info.native_mask();
        // A translator reads at most what the page keeps whole; other models, long texts too.
        let max_tokens = if state.is_encoder_decoder() { WHOLE_MAX_TOKENS } else { LONG_MAX_TOKENS };
        let plan = RunPlan {
            model: info.name,
            text,
            mask: state.mask.get(),
            max_tokens,
            scores_of_layer: scores_of_layer.get(),
            value_norms: value_norms.get(),
            compare,
            intervention: state.interventions.intervention().filter(|_| own_mask),
        };
        state.status.set(Status::Computing);
        for request in scheduler.try_update_value(|s| s.plan(plan)).unwrap_or_default() {
            send(request);
        }
    });

    // A speech model transcribes the sound whenever the sound or the loaded model changes;
    // with no sound yet, the sample clip is fetched (a first visit shows the feature working).
    Effect::new(move |_| {
        let Some((info, _)) = state.loaded.get() else { return };
        // Untracked: a catalogue relabelled after a person's Whisper loads must not
        // transcribe the same sound again (the loaded model changes whenever the kind does).
        if !untrack(|| state.is_speech()) {
            return;
        }
        let Some(clip) = state.audio.get() else {
            components::speech::load_sample(state);
            return;
        };
        let run = scheduler.try_update_value(|s| s.whole_input(&clip.name)).unwrap_or_default();
        state.whole_map.set(None);
        state.status.set(Status::Computing);
        client.with_value(|c| c.as_ref().map(|c| c.send_with_samples(&ToWorker::Transcribe { run, model: info.name.clone() }, &clip.samples)));
    });

    // A vision model looks at the picture whenever the picture, its framing or the loaded
    // model changes; with no picture yet, the sample photo is fetched.
    Effect::new(move |_| {
        let Some((info, _)) = state.loaded.get() else { return };
        if !untrack(|| state.is_vision()) {
            return;
        }
        let Some(picture) = state.picture.get() else {
            components::vision::load_sample(state);
            return;
        };
        let framing = state.framing.get();
        let run = scheduler.try_update_value(|s| s.whole_input(&picture.name)).unwrap_or_default();
        state.status.set(Status::Computing);
        let request = ToWorker::Look { run, model: info.name.clone(), width: picture.width, height: picture.height, framing };
        client.with_value(|c| c.as_ref().map(|c| c.send_with_pixels(&request, &picture.rgba)));
    });

    // A picture pasted anywhere on the page goes to a vision model.
    let paste = window_event_listener(leptos::ev::paste, move |event: web_sys::ClipboardEvent| {
        if !state.is_vision() {
            return;
        }
        let files = components::open_model::files_of(event.clipboard_data().and_then(|d| d.files()));
        if let Some(file) = components::vision::picture_file(&files) {
            event.prevent_default();
            components::vision::open_picture(state, "a pasted picture".into(), file.into());
        }
    });
    on_cleanup(move || paste.remove());

    // The encoder's whole map for the selected head, when the zoom asks for it (again after
    // each transcription: the worker keeps the last one's encoder).
    Effect::new(move |_| {
        let (zoom, layer, head) = (state.encoder_zoom.get(), state.layer.get(), state.head.get());
        let has_report = state.report.with(|r| r.as_ref().is_some_and(|r| r.transcript.is_some()));
        let Some((info, _)) = state.loaded.get_untracked() else { return };
        let have = state.whole_map.with_untracked(|w| w.as_ref().is_some_and(|w| w.is_of(layer, head)));
        if zoom && has_report && !have {
            let run = scheduler.try_update_value(Scheduler::whole_map).unwrap_or_default();
            send(ToWorker::WholeMap { run, model: info.name, of: 0, layer, head });
        }
    });

    // A long text's selected head: its whole map, computed by the worker from the run's kept
    // queries and keys when the head is selected (the report holds every map pooled).
    Effect::new(move |_| {
        let (layer, head) = (state.layer.get(), state.head.get());
        if !state.is_long() {
            return;
        }
        let of = state.report_run.get_untracked();
        let Some((info, _)) = state.loaded.get_untracked() else { return };
        if state.whole_map.with_untracked(|w| w.as_ref().is_some_and(|w| w.is_of(layer, head))) {
            return;
        }
        state.whole_map_failed.set(None);
        let run = scheduler.try_update_value(Scheduler::whole_map).unwrap_or_default();
        send(ToWorker::WholeMap { run, model: info.name, of, layer, head });
    });

    // A sweep (or the attribution) runs once it is asked for and the model is there.
    Effect::new(move |_| {
        let interventions = state.interventions;
        let Some(kind) = interventions.sweep.with(|s| match s {
            interventions::SweepState::Asked(kind) => Some(*kind),
            _ => None,
        }) else {
            return;
        };
        let Some((info, _)) = state.loaded.get() else { return };
        let text = state.text.get_untracked();
        let source = interventions.patch_source.get_untracked();
        if kind == interventions::EffectKind::Patching && source.trim().is_empty() {
            interventions.sweep.set(interventions::SweepState::Failed("patching needs a second text: type it in the box beside the button".into()));
            return;
        }
        let run = scheduler.try_update_value(Scheduler::effects).unwrap_or_default();
        let total = if kind == interventions::EffectKind::Attribution { 0 } else { info.layers * info.heads };
        interventions.sweep.set(interventions::SweepState::Running { kind, done: 0, total });
        send(ToWorker::Effects {
            run,
            model: info.name,
            text,
            max_tokens: WHOLE_MAX_TOKENS,
            method: kind.method(interventions.ablation.get_untracked(), &source),
            answer: interventions.answer.get_untracked(),
            versus: interventions.versus.get_untracked(),
        });
    });

    // A new text stops the sweep of the old one, and what was found of it goes.
    Effect::new(move |previous: Option<String>| {
        let text = state.text.get();
        if previous.is_some_and(|p| p != text) {
            if state.interventions.sweep.with_untracked(|s| matches!(s, interventions::SweepState::Running { .. })) {
                state.interventions.sweep.set(interventions::SweepState::Stopped("stopped: the text changed".into()));
            }
            state.interventions.found.set(Vec::new());
            // The grid shows maps again, as its picker then says.
            if matches!(state.grid_colour.get_untracked(), GridColour::Effect(_)) {
                state.grid_colour.set(GridColour::Maps);
            }
        }
        text
    });
    // With every head on again there is no change to colour the grid by.
    Effect::new(move |_| {
        if state.interventions.ablated.with(Vec::is_empty) && state.grid_colour.get_untracked() == GridColour::Change {
            state.grid_colour.set(GridColour::Maps);
        }
    });
    // A stopped sweep (by the person, or by a new text) stops in the worker too.
    Effect::new(move |_| {
        if state.interventions.sweep.with(|s| matches!(s, interventions::SweepState::Stopped(_))) {
            let running = scheduler.with_value(Scheduler::current_effects);
            if running != 0 {
                send(ToWorker::StopEffects { run: running });
                scheduler.update_value(Scheduler::effects_ended);
            }
        }
    });

    // The induction probe runs once it is asked for and the model is there: a press of
    // Find while the model loads waits for it (the probe panel says so).
    Effect::new(move |_| {
        let waiting = state.probe.with(|p| matches!(p, ProbeState::Waiting));
        if let (true, Some((info, _))) = (waiting, state.loaded.get()) {
            let run = scheduler.try_update_value(Scheduler::probe).unwrap_or_default();
            let length = state.probe_length.get_untracked();
            // A pooled probe tells each layer of each seed's run, a whole one each run.
            let (layers, total) = if probe_runs_pooled(length) { (true, PROBE_SEEDS.len() * info.layers) } else { (false, PROBE_SEEDS.len()) };
            state.probe.set(ProbeState::Running { done: 0, total, layers });
            send(ToWorker::Probe { run, model: info.name, length, seeds: PROBE_SEEDS.to_vec() });
        }
    });

    // Every keystroke's text runs (the scheduler keeps only the newest while the
    // worker is busy): the maps follow the keyboard.
    Effect::new(move |_| {
        let draft = state.draft.get();
        if state.text.get_untracked() != draft {
            state.text.set(draft);
        }
    });

    // Model files dropped anywhere on the page open as a model (see components::open_model).
    let on_drop = move |event: web_sys::DragEvent| {
        event.prevent_default();
        let files = components::open_model::files_of(event.data_transfer().and_then(|d| d.files()));
        // A speech model takes a dropped sound, a vision model a picture; anything else is a model's files.
        let sound = files.iter().find(|f| f.type_().starts_with("audio/") || f.type_().starts_with("video/")).cloned();
        match (sound, components::vision::picture_file(&files)) {
            (Some(file), _) if state.is_speech() => components::speech::open_audio(state, file),
            (_, Some(file)) if state.is_vision() => components::vision::open_picture(state, file.name(), file.into()),
            _ => components::open_model::open_files(state, files),
        }
    };

    view! {
        <main class="page" on:dragover=|event: web_sys::DragEvent| event.prevent_default() on:drop=on_drop>
            <header class="masthead">
                <h1>"attnscope"</h1>
                <p class="tagline">"What every head of a real Transformer attends to, computed in your browser."</p>
            </header>
            {move || if state.is_speech() {
                view! { <AudioPanel /> }.into_any()
            } else if state.is_vision() {
                view! { <ImagePanel /> }.into_any()
            } else {
                view! { <PromptInput /> }.into_any()
            }}
            <Controls />
            <StatusLine />
            <TranslationPanel />
            <SpeechView />
            <VisionView />
            <AlignmentView />
            // A picture's 257 items are shown by the overlay, not as a strip of chips.
            <Show when=move || !state.is_vision()>
                <TokenStrip />
            </Show>
            // While the text in the box computes, the maps of the text before stay, dimmed
            // and marked, so none is taken for the box's.
            <div
                class="workspace"
                class:stale=move || state.stale()
                aria-busy=move || state.stale().to_string()
                data-testid="workspace"
                data-stale=move || state.stale().to_string()
                data-text=move || state.report_text.get()
            >
                <HeadGrid />
                <section class="views">
                    <HeadDetail />
                    <CompareView />
                    <NextTokens />
                    <Show when=move || !state.is_vision()>
                        <InterventionPanel />
                    </Show>
                    // Over a picture, the rollout and the head scores are the overlay's and no text's.
                    <Show when=move || !state.is_vision()>
                        <RolloutView />
                        <ScoresPanel />
                    </Show>
                    <ProbePanel />
                </section>
            </div>
        </main>
    }
}

/// Applies one answer of the worker to the page's state, and sends the text that
/// waited for it, if any.
fn on_answer(state: AppState, scheduler: StoredValue<Scheduler>, worker_ready: RwSignal<bool>, answer: FromWorker, send: impl Fn(ToWorker) -> Option<()>) {
    let run = match &answer {
        FromWorker::Report { run, .. }
        | FromWorker::Translating { run, .. }
        | FromWorker::WholeMap { run, .. }
        | FromWorker::Attending { run, .. }
        | FromWorker::ProbeProgress { run, .. }
        | FromWorker::EffectsProgress { run, .. }
        | FromWorker::Effects { run, .. }
        | FromWorker::ProbeResult { run, .. } => Some(*run),
        FromWorker::Failed { run, .. } => *run,
        _ => None,
    };
    // Which run this answers, asked before the scheduler moves on to a waiting text.
    let (is_main, is_compare, is_probe, main_text) = scheduler.with_value(|s| {
        let run = run.unwrap_or(0);
        (s.is_main(run), s.is_compare(run), s.is_probe(run), s.main_text().to_string())
    });
    let (is_unchanged, is_effects, is_whole_map) = scheduler.with_value(|s| {
        let run = run.unwrap_or(0);
        (s.is_unchanged(run), s.is_effects(run), s.is_whole_map(run))
    });
    let next = match (&answer, run) {
        (FromWorker::Report { .. } | FromWorker::Failed { .. }, Some(run)) => scheduler.try_update_value(|s| s.answered(run)),
        (FromWorker::Failed { .. }, None) => scheduler.try_update_value(Scheduler::lost),
        // A long text's run answers other requests between its layers: the next text goes now.
        (FromWorker::Attending { .. }, Some(run)) => scheduler.try_update_value(|s| s.attending(run)),
        _ => None,
    };
    match answer {
        FromWorker::Ready { threads } => {
            state.threads.set(threads);
            worker_ready.set(true);
        }
        FromWorker::Progress { model, stage, loaded, total } => {
            if model == state.model.get_untracked() {
                state.status.set(Status::Loading { model, stage, loaded, total });
            }
        }
        FromWorker::Loaded { model, info, millis, memory_bytes } => {
            state.wasm_memory.set(memory_bytes);
            if model == state.model.get_untracked() {
                // Keep the selection inside the new model's layers and heads.
                if state.layer.get_untracked() >= info.layers {
                    state.layer.set(0);
                }
                if state.head.get_untracked() >= info.heads {
                    state.head.set(0);
                }
                // Heads switched off stay off only where the new model has them.
                if state.interventions.ablated.with_untracked(|a| a.iter().any(|h| h.layer >= info.layers || h.head >= info.heads)) {
                    state.interventions.ablated.update(|a| a.retain(|h| h.layer < info.layers && h.head < info.heads));
                }
                state.interventions.found.set(Vec::new());
                // A person's own model is named in the picker by what it turned out to be.
                let bytes = state.catalog.with_untracked(|c| c.iter().find(|m| m.id == model).and_then(|m| m.bytes));
                let label = components::open_model::label(&model, &info, bytes);
                if state.catalog.with_untracked(|c| c.iter().any(|m| m.id == model && m.local && m.label != label)) {
                    state.catalog.update(|c| c.iter_mut().filter(|m| m.id == model).for_each(|m| m.label = label.clone()));
                }
                // A person's model is of the kind it turned out to be: a Whisper takes sound, a ViT a picture.
                if state.catalog.with_untracked(|c| c.iter().any(|m| m.id == model && m.kind.is_none())) {
                    let kind = Some(info.kind).filter(|&k| k != engine::ModelKind::Text);
                    state.catalog.update(|c| c.iter_mut().filter(|m| m.id == model).for_each(|m| m.kind = kind));
                }
                state.loaded.set(Some((info, millis)));
            }
        }
        FromWorker::Report { report, millis, memory_bytes, .. } => {
            state.wasm_memory.set(memory_bytes);
            if is_main {
                // A newer picture is sent the moment it arrives, so the main run's answer is of
                // the picture in the panel now.
                if report.picture.is_some() {
                    components::vision::show_picture(state, state.picture.get_untracked());
                }
                // A whole map asked of the report before is not this one's.
                state.whole_map.set(None);
                state.filling.set(None);
                state.report_run.set(run.unwrap_or(0));
                state.report.set(Some(Arc::new(report)));
                state.report_text.set(main_text);
                state.status.set(Status::Done { millis });
            } else if is_compare {
                state.compare_report.set(Some(Arc::new(report)));
            } else if is_unchanged {
                state.interventions.unchanged.set(Some(Arc::new(report)));
            }
        }
        FromWorker::EffectsProgress { done, total, .. } => {
            if is_effects {
                let kind = state.interventions.sweep.with_untracked(|s| match s {
                    interventions::SweepState::Running { kind, .. } => Some(*kind),
                    _ => None,
                });
                if let Some(kind) = kind {
                    state.interventions.sweep.set(interventions::SweepState::Running { kind, done, total });
                }
            }
        }
        FromWorker::Effects { effects, millis, .. } => {
            if is_effects {
                scheduler.update_value(Scheduler::effects_ended);
                let kind = interventions::EffectKind::of(&effects.method);
                let text = state.text.get_untracked();
                state.interventions.keep(interventions::Found { kind, text, effects: Arc::new(effects), millis });
                state.interventions.sweep.set(interventions::SweepState::Idle);
                state.grid_colour.set(GridColour::Effect(kind));
            }
        }
        FromWorker::Failed { message, .. } if is_effects => {
            scheduler.update_value(Scheduler::effects_ended);
            state.interventions.sweep.set(interventions::SweepState::Failed(message));
        }
        FromWorker::Translating { step, limit, token, .. } => {
            if is_main {
                let mut tokens = match state.status.get_untracked() {
                    Status::Translating { tokens, .. } | Status::Transcribing { tokens, .. } if step > 0 => tokens,
                    _ => Vec::new(),
                };
                tokens.push(token);
                let speech = state.loaded.with_untracked(|l| l.as_ref().is_some_and(|(info, _)| info.kind == engine::ModelKind::Speech));
                state.status.set(if speech { Status::Transcribing { tokens, limit } } else { Status::Translating { tokens, limit } });
            }
        }
        FromWorker::WholeMap { layer, head, queries, keys, values, millis, .. } => {
            if is_whole_map {
                state.whole_map.set(Some(Arc::new(state::WholeMap { layer, head, queries, keys, values, millis })));
            }
        }
        FromWorker::Attending { done, total, tokens, cut, blocks, layer_maps, .. } => {
            if is_main {
                state.status.set(Status::Attending { done, total, tokens, cut });
                if !layer_maps.is_empty() {
                    let run = run.unwrap_or(0);
                    state.filling.update(|f| *f = Some(Arc::new(state::Filling::with_layer(f.as_deref(), run, blocks, layer_maps))));
                }
            }
        }
        FromWorker::ProbeProgress { done, total, .. } => {
            if is_probe {
                let layers = state.probe.with_untracked(|p| matches!(p, ProbeState::Running { layers: true, .. }));
                state.probe.set(ProbeState::Running { done, total, layers });
            }
        }
        FromWorker::ProbeResult { scores, report, offset, length, millis, .. } => {
            if is_probe {
                let outcome = ProbeOutcome { scores, report, offset, length, millis };
                if let Some(top) = outcome.ranked().first() {
                    state.probe_head.set((top.layer, top.head));
                }
                state.probe.set(ProbeState::Done(Arc::new(outcome)));
            }
        }
        FromWorker::Failed { message, .. } if is_whole_map => {
            state.whole_map_failed.set(Some(message));
        }
        FromWorker::Failed { run: Some(_), message, .. } if is_probe => {
            state.probe.set(ProbeState::Failed(message));
        }
        FromWorker::Failed { run, message, .. } => {
            if run.is_none() || is_main || is_compare {
                // A probe that waited for a model which did not load cannot run: say so.
                if run.is_none() && state.probe.with_untracked(|p| matches!(p, ProbeState::Waiting)) {
                    state.probe.set(ProbeState::Failed("the model did not load, so the probe cannot run".into()));
                }
                state.report.set(None);
                state.filling.set(None);
                state.status.set(Status::Failed(message));
            }
        }
    }
    // The text that waited for this answer runs now (after this answer is shown).
    for request in next.unwrap_or_default() {
        send(request);
        state.status.set(Status::Computing);
    }
}
