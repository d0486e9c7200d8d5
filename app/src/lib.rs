//! attnscope's page: type a sentence, pick a model, a layer, a head and a mask,
//! and see that head's attention, computed by the engine in a Web Worker.
//!
//! The app knows nothing of tensors: it sends text to the worker and draws the
//! report that comes back.

pub mod catalog;
pub mod colormap;
pub mod components;
pub mod engine_client;
pub mod protocol;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use engine::{AttentionReport, Mask, ModelInfo};
use leptos::prelude::*;

use catalog::{CatalogModel, DEFAULT_MODEL};
use components::{Controls, HeadDetail, HeadGrid, NextTokens, PromptInput, StatusLine};
use engine_client::EngineClient;
use protocol::{FromWorker, LoadStage, ToWorker};

/// The sentence the page opens with.
pub const DEFAULT_TEXT: &str = "The cat sat on the mat";

/// The most tokens the page runs: the maps grow with the square of the length,
/// and the page should answer while a person types.
pub const PAGE_MAX_TOKENS: usize = 128;

/// How long typing must pause before the text runs.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// The tabs of the head detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Heatmap,
    Lines,
    Table,
    Math,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Heatmap, Tab::Lines, Tab::Table, Tab::Math];

    pub fn name(self) -> &'static str {
        match self {
            Tab::Heatmap => "heatmap",
            Tab::Lines => "lines",
            Tab::Table => "table",
            Tab::Math => "math",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Tab::Heatmap => "Heatmap",
            Tab::Lines => "Lines",
            Tab::Table => "Table",
            Tab::Math => "Math",
        }
    }
}

/// What the status line says.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Starting,
    Loading { model: String, stage: LoadStage, loaded: u64, total: Option<u64> },
    Computing,
    Done { millis: f64 },
    EmptyText,
    Failed(String),
}

/// The page's state, shared by its views through context.
#[derive(Clone, Copy)]
pub struct AppState {
    pub catalog: RwSignal<Vec<CatalogModel>>,
    pub model: RwSignal<String>,
    /// The text as typed.
    pub draft: RwSignal<String>,
    /// The text last sent to run (the draft once typing pauses).
    pub text: RwSignal<String>,
    pub mask: RwSignal<Mask>,
    pub layer: RwSignal<usize>,
    pub head: RwSignal<usize>,
    /// The model the worker has loaded and its load time, once it has.
    pub loaded: RwSignal<Option<(ModelInfo, f64)>>,
    /// The report of the text in the box; `None` while there is none.
    pub report: RwSignal<Option<Arc<AttentionReport>>>,
    pub status: RwSignal<Status>,
    /// The head detail's tab.
    pub tab: RwSignal<Tab>,
}

impl AppState {
    fn new() -> Self {
        Self {
            catalog: RwSignal::new(Vec::new()),
            model: RwSignal::new(DEFAULT_MODEL.to_string()),
            draft: RwSignal::new(DEFAULT_TEXT.to_string()),
            text: RwSignal::new(DEFAULT_TEXT.to_string()),
            mask: RwSignal::new(Mask::Causal),
            layer: RwSignal::new(0),
            head: RwSignal::new(0),
            loaded: RwSignal::new(None),
            report: RwSignal::new(None),
            status: RwSignal::new(Status::Starting),
            tab: RwSignal::new(Tab::Heatmap),
        }
    }
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    // Numbers the runs, so that an answer to an older text is never shown.
    let latest_run = StoredValue::new(0u64);
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
            return;
        };
        state.loaded.set(None);
        state.report.set(None);
        state.status.set(Status::Loading { model: model.clone(), stage: LoadStage::Fetching, loaded: 0, total: None });
        send(ToWorker::Load { model, files: entry.urls() });
    });

    // Run the text whenever it, the mask or the loaded model changes (and, while the
    // arithmetic is shown, the layer: its raw scores come with the run).
    Effect::new(move |_| {
        let text = state.text.get();
        let mask = state.mask.get();
        let scores_of_layer = (state.tab.get() == Tab::Math).then(|| state.layer.get());
        let Some((info, _)) = state.loaded.get() else { return };
        if text.trim().is_empty() {
            state.report.set(None);
            state.status.set(Status::EmptyText);
            return;
        }
        let run = latest_run.get_value() + 1;
        latest_run.set_value(run);
        state.status.set(Status::Computing);
        send(ToWorker::Run { run, model: info.name, text, mask, max_tokens: PAGE_MAX_TOKENS, scores_of_layer });
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
            <div class="workspace">
                <HeadGrid />
                <section class="views">
                    <HeadDetail />
                    <NextTokens />
                </section>
            </div>
        </main>
    }
}

/// Applies one answer of the worker to the page's state.
fn on_answer(state: AppState, latest_run: StoredValue<u64>, worker_ready: RwSignal<bool>, answer: FromWorker) {
    match answer {
        FromWorker::Ready => worker_ready.set(true),
        FromWorker::Progress { model, stage, loaded, total } => {
            if model == state.model.get_untracked() {
                state.status.set(Status::Loading { model, stage, loaded, total });
            }
        }
        FromWorker::Loaded { model, info, millis } => {
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
        FromWorker::Report { run, report, millis, .. } => {
            if run == latest_run.get_value() {
                state.report.set(Some(Arc::new(report)));
                state.status.set(Status::Done { millis });
            }
        }
        FromWorker::Failed { run, message, .. } => {
            if run.is_none_or(|run| run == latest_run.get_value()) {
                state.report.set(None);
                state.status.set(Status::Failed(message));
            }
        }
    }
}
