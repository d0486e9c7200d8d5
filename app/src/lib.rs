//! attnscope's page: type a sentence, pick a model, a layer, a head and a mask,
//! and see that head's attention, computed by the engine in a Web Worker.
//!
//! The app knows nothing of tensors: it sends text to the worker and draws the
//! report that comes back.

pub mod catalog;
pub mod colormap;
pub mod components;
pub mod engine_client;
pub mod js_bytes;
pub mod protocol;
pub mod state;
pub mod url_state;
pub mod weighting;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use engine::Mask;
use leptos::prelude::*;

pub use state::{AppState, GridColour, ProbeOutcome, ProbeState, RunFacts, Status, Tab};

use components::{CompareView, Controls, HeadDetail, HeadGrid, NextTokens, ProbePanel, PromptInput, RolloutView, ScoresPanel, StatusLine, TokenStrip};
use engine_client::EngineClient;
use protocol::{FromWorker, LoadStage, ToWorker};

/// The sentence the page opens with.
pub const DEFAULT_TEXT: &str = "The cat sat on the mat";

/// The most tokens the page runs: the maps grow with the square of the length,
/// and the page should answer while a person types.
pub const PAGE_MAX_TOKENS: usize = 128;

/// How long typing must pause before the text runs.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// The latest run of each kind, so that an answer to an older request is never shown.
#[derive(Clone, Copy, Default)]
struct LatestRuns {
    main: u64,
    compare: u64,
    probe: u64,
}

impl LatestRuns {
    fn next(&self) -> u64 {
        self.main.max(self.compare).max(self.probe) + 1
    }
}

/// The probe's size: TransformerLens's usual 50 random tokens, over four seeds.
pub const PROBE_LENGTH: usize = 50;
pub const PROBE_SEEDS: [u64; 4] = [0, 1, 2, 3];


/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new(url_state::read_location());
    provide_context(state);
    // The URL follows the view.
    Effect::new(move |_| url_state::write_location(&state.view_state()));
    // Numbers the runs, so that an answer to an older text is never shown.
    let latest_run = StoredValue::new(LatestRuns::default());
    let worker_ready = RwSignal::new(false);

    let client = EngineClient::start(move |answer| on_answer(state, latest_run, worker_ready, answer));
    let client = match client {
        Ok(client) => StoredValue::new_local(Some(client)),
        Err(message) => {
            state.status.set(Status::Failed(message));
            StoredValue::new_local(None)
        }
    };
    let send = move |request: ToWorker| client.with_value(|c| c.as_ref().map(|c| c.send(&request)));

    leptos::task::spawn_local(async move {
        match catalog::fetch_catalog().await {
            Ok(models) => state.catalog.set(models),
            Err(message) => state.status.set(Status::Failed(message)),
        }
    });

    // Load the chosen model once the worker and the catalogue are there.
    Effect::new(move |_| {
        let model = state.model.get();
        if !worker_ready.get() {
            return;
        }
        let Some(entry) = state.catalog.with(|c| c.iter().find(|m| m.id == model).cloned()) else {
            if !state.catalog.with(Vec::is_empty) {
                state.status.set(Status::Failed(format!("there is no model `{model}` in models.json")));
            }
            return;
        };
        state.loaded.set(None);
        state.probe.set(ProbeState::Idle);
        state.report.set(None);
        state.status.set(Status::Loading { model: model.clone(), stage: LoadStage::Fetching, loaded: 0, total: None });
        send(ToWorker::Load { model, files: entry.urls() });
    });

    // Run the text whenever it, the mask or the loaded model changes (and, while the
    // arithmetic is shown, the layer: its raw scores come with the run).
    // The layer whose raw scores come with each run: the selected one while the Math
    // tab is open, and it stays so after (leaving the tab is no reason to run again).
    let scores_of_layer = Memo::new(move |previous: Option<&Option<usize>>| {
        if state.tab.get() == Tab::Math {
            Some(state.layer.get())
        } else {
            previous.copied().flatten()
        }
    });
    // Value norms come with each run once the map has been weighted by them (and stay).
    let value_norms = Memo::new(move |previous: Option<&bool>| {
        previous.copied().unwrap_or(false) || state.weighting.get() == weighting::Weighting::ValueNorms
    });
    Effect::new(move |_| {
        let text = state.text.get();
        let mask = state.mask.get();
        let scores_of_layer = scores_of_layer.get();
        let value_norms = value_norms.get();
        let Some((info, _)) = state.loaded.get() else { return };
        if text.trim().is_empty() {
            state.report.set(None);
            state.status.set(Status::EmptyText);
            return;
        }
        let run = latest_run.get_value().next();
        state.status.set(Status::Computing);
        let compare = state.compare.get().then_some(run + 1);
        latest_run.update_value(|latest| {
            latest.main = run;
            latest.compare = compare.unwrap_or(0);
        });
        let model = info.name;
        let main = ToWorker::Run { run, model: model.clone(), text: text.clone(), mask, max_tokens: PAGE_MAX_TOKENS, scores_of_layer, value_norms, reuse_prefix: true };
        send(main); // first, so the map in view comes back first
        match compare {
            Some(compare) => {
                let other = if mask == Mask::Causal { Mask::None } else { Mask::Causal };
                send(ToWorker::Run { run: compare, model, text, mask: other, max_tokens: PAGE_MAX_TOKENS, scores_of_layer: None, value_norms: false, reuse_prefix: true });
            }
            None => state.compare_report.set(None),
        }
    });

    // The induction probe, when asked for (not on the first render).
    Effect::new(move |previous: Option<u64>| {
        let asked = state.probe_asked.get();
        if previous.is_some_and(|p| p != asked) {
            if let Some((info, _)) = state.loaded.get_untracked() {
                let run = latest_run.get_value().next();
                latest_run.update_value(|latest| latest.probe = run);
                state.probe.set(ProbeState::Running { done: 0, total: PROBE_SEEDS.len() });
                send(ToWorker::Probe { run, model: info.name, length: PROBE_LENGTH, seeds: PROBE_SEEDS.to_vec() });
            }
        }
        asked
    });

    // Debounce: the draft runs once typing pauses.
    Effect::new(move |_| {
        let draft = state.draft.get();
        set_timeout(
            move || {
                if state.draft.get_untracked() == draft && state.text.get_untracked() != draft {
                    state.text.set(draft);
                }
            },
            DEBOUNCE,
        );
    });

    view! {
        <main class="page">
            <header class="masthead">
                <h1>"attnscope"</h1>
                <p class="tagline">"What every head of a real Transformer attends to, computed in your browser."</p>
            </header>
            <PromptInput />
            <Controls />
            <StatusLine />
            <TokenStrip />
            <div class="workspace">
                <HeadGrid />
                <section class="views">
                    <HeadDetail />
                    <CompareView />
                    <NextTokens />
                    <RolloutView />
                    <ScoresPanel />
                    <ProbePanel />
                </section>
            </div>
        </main>
    }
}

/// Applies one answer of the worker to the page's state.
fn on_answer(state: AppState, latest_run: StoredValue<LatestRuns>, worker_ready: RwSignal<bool>, answer: FromWorker) {
    let latest = latest_run.get_value();
    match answer {
        FromWorker::Ready => worker_ready.set(true),
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
                state.loaded.set(Some((info, millis)));
            }
        }
        FromWorker::Report { run, report, millis, memory_bytes, .. } => {
            state.wasm_memory.set(memory_bytes);
            if run == latest.main {
                let run = RunFacts { millis, tokens: report.tokens.len(), reused: report.reused_tokens, mask: report.mask };
                state.report.set(Some(Arc::new(report)));
                state.status.set(Status::Done(run));
            } else if run == latest.compare {
                state.compare_report.set(Some(Arc::new(report)));
            }
        }
        FromWorker::ProbeProgress { run, done, total } => {
            if run == latest.probe {
                state.probe.set(ProbeState::Running { done, total });
            }
        }
        FromWorker::ProbeResult { run, scores, report, offset, millis, .. } => {
            if run == latest.probe {
                let outcome = ProbeOutcome { scores, report, offset, length: PROBE_LENGTH, millis };
                state.probe.set(ProbeState::Done(Arc::new(outcome)));
            }
        }
        FromWorker::Failed { run: Some(run), message, .. } if run == latest.probe => {
            state.probe.set(ProbeState::Failed(message));
        }
        FromWorker::Failed { run, message, .. } => {
            if run.is_none_or(|run| run == latest.main || run == latest.compare) {
                state.report.set(None);
                state.status.set(Status::Failed(message));
            }
        }
    }
}
