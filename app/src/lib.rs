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
pub mod url_state;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use engine::{AttentionReport, Mask, ModelInfo};
use leptos::prelude::*;

use catalog::CatalogModel;
use components::{CompareView, Controls, HeadDetail, HeadGrid, NextTokens, PromptInput, StatusLine, TokenStrip};
use engine_client::EngineClient;
use protocol::{FromWorker, LoadStage, ToWorker};
use url_state::ViewState;

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
    /// Whether the mask comparison is shown (and so the other mask runs too).
    pub compare: RwSignal<bool>,
    /// The report under the other mask, while comparing.
    pub compare_report: RwSignal<Option<Arc<AttentionReport>>>,
    /// What the head grid's thumbnails show.
    pub grid_colour: RwSignal<GridColour>,
    /// Every head's look-ahead mass, [layer][head], while both masks' reports are there.
    pub lookahead: Memo<Option<Vec<Vec<f32>>>>,
    /// The token under the pointer in the token strip.
    pub hovered_token: RwSignal<Option<usize>>,
    /// The token clicked in the token strip (or chosen as the arithmetic's query).
    pub pinned_token: RwSignal<Option<usize>>,
    /// A link to this view, once the Copy link button made one.
    pub copied_link: RwSignal<Option<String>>,
    /// The colour scale of the maps.
    pub colour_scale: RwSignal<colormap::ColourScale>,
}

/// What the head grid's thumbnails show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridColour {
    /// Each head's map.
    Maps,
    /// Each head's look-ahead mass in the unmasked run (a flat colour).
    Lookahead,
}

/// The latest run of each kind, so that an answer to an older request is never shown.
#[derive(Clone, Copy, Default)]
struct LatestRuns {
    main: u64,
    compare: u64,
}

impl AppState {
    /// The causal and the unmasked report of the same tokens, while comparing.
    pub fn both_masks(&self) -> Option<(Arc<AttentionReport>, Arc<AttentionReport>)> {
        let (main, other) = (self.report.get()?, self.compare_report.get()?);
        let same_tokens = main.tokens.iter().map(|t| t.id).eq(other.tokens.iter().map(|t| t.id));
        if !same_tokens || main.mask == other.mask {
            return None; // the other run is still on its way
        }
        Some(if main.mask == Mask::Causal { (main, other) } else { (other, main) })
    }

    /// The token every view highlights: the hovered one, else the pinned one.
    pub fn focused_token(&self) -> Option<usize> {
        let tokens = self.report.with(|r| r.as_ref().map_or(0, |r| r.tokens.len()));
        self.hovered_token.get().or(self.pinned_token.get()).filter(|&i| i < tokens)
    }

    /// The view as the URL holds it.
    pub fn view_state(&self) -> ViewState {
        ViewState {
            text: self.text.get(),
            model: self.model.get(),
            layer: self.layer.get(),
            head: self.head.get(),
            mask: self.mask.get(),
            tab: self.tab.get(),
            token: self.pinned_token.get(),
        }
    }

    /// The report and the selected (layer, head), when the report has that head.
    /// Reads the signals, so a view that calls it follows them.
    pub fn selected_head(&self) -> Option<(Arc<AttentionReport>, usize, usize)> {
        let report = self.report.get()?;
        let (layer, head) = (self.layer.get(), self.head.get());
        (layer < report.attention.layers() && head < report.attention.heads()).then_some((report, layer, head))
    }

    fn new(initial: ViewState) -> Self {
        let report = RwSignal::new(None::<Arc<AttentionReport>>);
        let compare_report = RwSignal::new(None::<Arc<AttentionReport>>);
        let lookahead = Memo::new(move |_| {
            [report.get(), compare_report.get()]
                .into_iter()
                .flatten()
                .find(|r| r.mask == Mask::None)
                .map(|unmasked| engine::analysis::summary::lookahead_mass(&unmasked.attention))
        });
        Self {
            catalog: RwSignal::new(Vec::new()),
            model: RwSignal::new(initial.model),
            draft: RwSignal::new(initial.text.clone()),
            text: RwSignal::new(initial.text),
            mask: RwSignal::new(initial.mask),
            layer: RwSignal::new(initial.layer),
            head: RwSignal::new(initial.head),
            loaded: RwSignal::new(None),
            report,
            status: RwSignal::new(Status::Starting),
            tab: RwSignal::new(initial.tab),
            compare: RwSignal::new(false),
            compare_report,
            lookahead,
            grid_colour: RwSignal::new(GridColour::Maps),
            hovered_token: RwSignal::new(None),
            pinned_token: RwSignal::new(initial.token),
            copied_link: RwSignal::new(None),
            colour_scale: RwSignal::new(colormap::ColourScale::Viridis),
        }
    }
}

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
    Effect::new(move |_| {
        let text = state.text.get();
        let mask = state.mask.get();
        let scores_of_layer = scores_of_layer.get();
        let Some((info, _)) = state.loaded.get() else { return };
        if text.trim().is_empty() {
            state.report.set(None);
            state.status.set(Status::EmptyText);
            return;
        }
        let run = latest_run.get_value().main.max(latest_run.get_value().compare) + 1;
        state.status.set(Status::Computing);
        let compare = state.compare.get().then_some(run + 1);
        latest_run.set_value(LatestRuns { main: run, compare: compare.unwrap_or(0) });
        let model = info.name;
        let main = ToWorker::Run { run, model: model.clone(), text: text.clone(), mask, max_tokens: PAGE_MAX_TOKENS, scores_of_layer };
        send(main); // first, so the map in view comes back first
        match compare {
            Some(compare) => {
                let other = if mask == Mask::Causal { Mask::None } else { Mask::Causal };
                send(ToWorker::Run { run: compare, model, text, mask: other, max_tokens: PAGE_MAX_TOKENS, scores_of_layer: None });
            }
            None => state.compare_report.set(None),
        }
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
            if run == latest.main {
                state.report.set(Some(Arc::new(report)));
                state.status.set(Status::Done { millis });
            } else if run == latest.compare {
                state.compare_report.set(Some(Arc::new(report)));
            }
        }
        FromWorker::Failed { run, message, .. } => {
            if run.is_none_or(|run| run == latest.main || run == latest.compare) {
                state.report.set(None);
                state.status.set(Status::Failed(message));
            }
        }
    }
}
