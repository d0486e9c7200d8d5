//! attnscope's page: type a sentence, pick a model, a layer, a head and a mask,
//! and see that head's attention, computed by the engine in a Web Worker.
//!
//! The app knows nothing of tensors: it sends text to the worker and draws the
//! report that comes back. It is built on the report crate and the worker's messages
//! alone, so candle is not in the page's WebAssembly (the worker is its own crate).

mod answers;
pub mod audio;
pub mod canvas;
pub mod catalog;
pub mod components;
mod controller;
pub mod engine_client;
pub mod interventions;
pub mod picture;
pub mod runs;
pub mod snapshot;
pub mod state;
// The worker's messages, the sizes both sides keep to and a person's files, where the page's
// modules have always found them (`crate::protocol`, `crate::user_files`, `crate::WHOLE_MAX_TOKENS`).
pub use protocol::limits::{self, *};
pub use protocol::{self, user_files};
/// What a head's map shows (the engine's, so the CLI's figures are the page's).
pub use report::analysis::shown as weighting;

use leptos::prelude::*;

pub use state::AppState;

use components::{
    AlignmentView, AudioPanel, CompareView, Controls, EpisodePanel, FewShotEpisode, HeadDetail, HeadGrid, ImagePanel, InterventionPanel, MemoryHops,
    NextTokens, PositionsPanel, ProbePanel, PromptInput, RolloutView, ScoresPanel, SpeechView, StatusLine, TokenStrip, TrainingPanel, TranslationPanel,
    VisionView,
};

/// The page's clock (`performance.now()`, in milliseconds): what the status line's waits are
/// measured on.
pub fn now() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new(state::url::read_location());
    state.provide();
    // The effects that talk to the worker (controller.rs) and its answers (answers.rs).
    controller::start(state);
    let on_drop = controller::on_drop(state);

    view! {
        <main class="page" on:dragover=|event: web_sys::DragEvent| event.prevent_default() on:drop=on_drop>
            <header class="masthead">
                <h1>"attnscope"</h1>
                <p class="tagline">"What every head of a real Transformer attends to, computed in your browser."</p>
            </header>
            {move || if state.selection.is_speech() {
                view! { <AudioPanel /> }.into_any()
            } else if state.selection.is_vision() {
                view! { <ImagePanel /> }.into_any()
            } else if state.selection.is_few_shot() {
                view! { <EpisodePanel /> }.into_any()
            } else {
                view! { <PromptInput /> }.into_any()
            }}
            <Controls />
            <StatusLine />
            <TranslationPanel />
            <MemoryHops />
            <FewShotEpisode />
            <SpeechView />
            <VisionView />
            <AlignmentView />
            // A picture's 257 items are shown by the overlay, not as a strip of chips.
            <Show when=move || !state.selection.is_vision()>
                <TokenStrip />
            </Show>
            // While the text in the box computes, the maps of the text before stay, dimmed
            // and marked, so none is taken for the box's.
            // An RNN aligner has one attention, drawn above with the arithmetic of its steps:
            // the grid of heads, the head scores and the probe are for models of many.
            <Show when=move || state.is_aligner()>
                <p class="hint aligner-note" data-testid="aligner-note">
                    {move || if state.run.report.with(|r| r.as_ref().is_some_and(|r| components::story_hops::is_memory_network(r))) {
                        "A memory network reads a story a sentence a line, its question last, and answers with a word: the table above \
                         shows each hop's weights over the sentences, and the alignment map, heatmap, lines and table show one hop at a \
                         time (a hop is a layer). The grid of heads, the head scores, the induction probe and the interventions are for \
                         Transformers; pick one in the model list to see them."
                    } else {
                        "An RNN aligner has one attention: the alignment map above shows it with the arithmetic of the row you pick, \
                         and the heatmap, lines and table below show it too. The grid of heads, the head scores, the induction probe and \
                         the interventions are for Transformers, with many heads to compare; pick one in the model list to see them."
                    }}
                </p>
            </Show>
            <div
                class="workspace"
                class:stale=move || state.stale()
                aria-busy=move || state.stale().to_string()
                data-testid="workspace"
                data-stale=move || state.stale().to_string()
                data-text=move || state.run.report_text.get()
            >
                <Show when=move || !state.is_aligner()>
                    <HeadGrid />
                </Show>
                <section class="views">
                    <HeadDetail />
                    <Show when=move || !state.is_aligner()>
                        <CompareView />
                        <NextTokens />
                        <InterventionPanel />
                        // Over a picture, the rollout is the overlay's and no text's.
                        <Show when=move || !state.selection.is_vision()>
                            <RolloutView />
                        </Show>
                        <ScoresPanel />
                        <ProbePanel />
                    </Show>
                </section>
            </div>
            <PositionsPanel />
            // Attention before the Transformer, trained here: needs no model loaded.
            <TrainingPanel task=protocol::TrainingTask::Dates />
            <TrainingPanel task=protocol::TrainingTask::Digits />
            <TrainingPanel task=protocol::TrainingTask::Memory />
            <TrainingPanel task=protocol::TrainingTask::Snail />
        </main>
    }
}
