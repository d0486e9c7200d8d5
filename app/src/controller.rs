//! The page's controller: the effects that load models, run texts, probes, sweeps, sounds
//! and pictures through the worker as the state asks, and the drop of files on the page. The
//! worker's answers come back through [`crate::answers`].

use leptos::prelude::*;

use crate::engine_client::EngineClient;
use crate::limits::{probe_runs_pooled, LONG_MAX_TOKENS, PROBE_SEEDS, WHOLE_MAX_TOKENS};
use crate::protocol::{LoadStage, ToWorker, TrainingTask, WholeRun};
use crate::runs::{RunPlan, Scheduler};
use crate::state::url as url_state;
use crate::state::{AppState, GridColour, ProbeState, Status, Tab, TrainAsk};

/// The most batches a model trains in the page, and the share of held-out dates exact that
/// ends its training (the command line's defaults).
const TRAINING_STEPS: usize = 3000;
const TRAINING_UNTIL: f64 = 0.99;
/// The digits readers: a soft one reads 85% of held-out strips whole in about 600 batches, a
/// hard one in 1,500 to 2,100 (docs/notes/rnn-attention.md).
const READING_STEPS: usize = 3000;
const READING_UNTIL: f64 = 0.85;
/// The memory networks: task 1 answers 95% of held-out stories in 800 to 1,100 batches, task
/// 2 in 1,900 to 3,000 (seeds 1–4, docs/notes/memory-networks.md).
const ANSWERING_STEPS: usize = 4000;
const ANSWERING_UNTIL: f64 = 0.95;
/// The SNAIL: 3,000 batches pre-train its picture embedding, then 5-way 1-shot episodes of
/// unseen alphabets reach 72% in another 775 to 1,775 (seeds 1–3; the command line's aim).
const FEW_SHOT_STEPS: usize = 6000;
const FEW_SHOT_UNTIL: f64 = 0.72;
use crate::{catalog, components, interventions, weighting};

/// Starts the worker and installs every effect of the page on `state`.
pub fn start(state: AppState) {
    // The URL follows the view.
    Effect::new(move |_| url_state::write_location(&state.view_state()));
    // Numbers the runs and holds texts back while the worker is busy (see runs.rs).
    let scheduler = StoredValue::new(Scheduler::default());
    let worker_ready = RwSignal::new(false);
    let client = StoredValue::new_local(None::<EngineClient>);
    let send = move |request: ToWorker| client.with_value(|c| c.as_ref().map(|c| c.send(&request)));
    match EngineClient::start(move |answer| crate::answers::on_answer(state, scheduler, worker_ready, answer, send)) {
        Ok(started) => client.set_value(Some(started)),
        Err(message) => state.run.status.set(Status::Failed(message)),
    }

    leptos::task::spawn_local(async move {
        match catalog::fetch_catalog().await {
            Ok(models) => state.selection.catalog.set(models),
            Err(message) => state.run.status.set(Status::Failed(message)),
        }
    });

    // What of the catalogue decides a load: its entries without their labels (a person's
    // model is relabelled once it has loaded, which must not load it again).
    let loadable = Memo::new(move |_| state.selection.catalog.with(|c| c.iter().map(|m| (m.id.clone(), m.local)).collect::<Vec<_>>()));
    // Load the chosen model once the worker and the catalogue are there.
    Effect::new(move |_| {
        let model = state.selection.model.get();
        let weights = state.selection.weights.get();
        if !worker_ready.get() {
            return;
        }
        loadable.track();
        let Some(entry) = state.selection.catalog.with_untracked(|c| c.iter().find(|m| m.id == model).cloned()) else {
            if let Some(name) = model.strip_prefix("file:") {
                // A link to a model from someone's own files: the files are not here.
                state.run.status.set(Status::Failed(format!(
                    "`{name}` was opened from a person's own files, which this page does not have: open it again (Open a model…)"
                )));
            } else if !state.selection.catalog.with(Vec::is_empty) {
                state.run.status.set(Status::Failed(format!("there is no model `{model}` in models.json")));
            }
            return;
        };
        state.run.loaded.set(None);
        // A probe asked for while loading still runs, on the model now loading.
        if !state.probe.status.with_untracked(|p| matches!(p, ProbeState::Waiting)) {
            state.probe.status.set(ProbeState::Idle);
        }
        scheduler.update_value(Scheduler::withdraw);
        state.run.report.set(None);
        let stage = if entry.local { LoadStage::Reading } else { LoadStage::Fetching };
        state.run.status.set(Status::Loading { model: model.clone(), stage, loaded: 0, total: None });
        if entry.local {
            let names = entry.files.iter().map(|f| f.name.clone()).collect();
            let files = state.worker.local_files.with_value(|f| f.get(&model).cloned()).unwrap_or_default();
            let request = ToWorker::Open { model, names, weights };
            client.with_value(|c| c.as_ref().map(|c| c.send_with_files(&request, &files)));
        } else {
            send(ToWorker::Load { model, files: entry.urls(), weights });
        }
    });

    // The layer whose raw scores come with each run: the selected one while the Math
    // tab is open, and it stays so after (leaving the tab is no reason to run again).
    let scores_of_layer = Memo::new(
        move |previous: Option<&Option<usize>>| {
            if state.selection.tab.get() == Tab::Math {
                Some(state.selection.layer.get())
            } else {
                previous.copied().flatten()
            }
        },
    );
    // Value norms come with each run once the map has been weighted by them (and stay).
    let value_norms =
        Memo::new(move |previous: Option<&bool>| previous.copied().unwrap_or(false) || state.display.weighting.get() == weighting::Weighting::ValueNorms);
    // Run the text whenever it, the mask or the loaded model changes (and what the
    // views ask of the run: raw scores, value norms, the other mask).
    Effect::new(move |_| {
        let text = state.selection.text.get();
        let Some((info, _)) = state.run.loaded.get() else { return };
        // A speech model hears sound, a vision model looks at a picture: the effects below send them.
        if state.selection.takes_whole_input() {
            return;
        }
        if text.trim().is_empty() {
            scheduler.update_value(Scheduler::withdraw);
            state.run.report.set(None);
            state.run.status.set(Status::EmptyText);
            return;
        }
        // A translator has one way to run: nothing to compare.
        let compare = state.selection.compare.get() && !state.selection.is_encoder_decoder();
        if !compare {
            state.run.compare_report.set(None);
        }
        // Heads switched off change the run under the model's own mask only (the one it
        // was trained with; the panel says so under the other).
        let own_mask = state.selection.runs_own_masks() || state.selection.mask.get() == info.native_mask();
        // A translator reads at most what the page keeps whole; other models, long texts too.
        let max_tokens = if state.selection.is_encoder_decoder() { WHOLE_MAX_TOKENS } else { LONG_MAX_TOKENS };
        let plan = RunPlan {
            model: info.name,
            text,
            mask: state.selection.mask.get(),
            max_tokens,
            scores_of_layer: scores_of_layer.get(),
            value_norms: value_norms.get(),
            compare,
            intervention: state.interventions.intervention().filter(|_| own_mask),
        };
        // A translation's unchanged run comes after its changed one, a whole run apart: the
        // one kept is another text's until then. (A text model's comes with its changed run.)
        if state.selection.is_translator() {
            state.interventions.unchanged.set(None);
        }
        state.run.status.set(Status::Computing);
        // A run of the same text (another mask, model or head switched off): the wait starts now.
        start_the_wait(state);
        for request in scheduler.try_update_value(|s| s.plan(plan)).unwrap_or_default() {
            send(request);
        }
    });

    // A sound's or a picture's run: numbered, with what it keeps (value norms, once asked for)
    // and the heads it changes (its unchanged run then numbered beside it). Tracked, so
    // switching a head off or asking for norms runs it again.
    let whole_run = move |name: &str| {
        let intervention = state.interventions.intervention();
        // The unchanged run kept is another input's (or of other heads): it comes anew.
        state.interventions.unchanged.set(None);
        let (run, unchanged) = scheduler.try_update_value(|s| s.whole_input(name, intervention.is_some())).unwrap_or_default();
        (run, WholeRun { value_norms: value_norms.get(), intervention, unchanged })
    };

    // The Positions panel, once open, has the loaded model's positions (asked again for each
    // model that loads).
    Effect::new(move |_| {
        let Some((info, _)) = state.run.loaded.get() else { return };
        if !state.run.positions_wanted.get() || state.run.positions.with_untracked(|p| p.as_ref().is_some_and(|p| p.model == info.name)) {
            return;
        }
        send(ToWorker::Positions { model: info.name.clone() });
    });

    // A few-shot learner reads the episode whenever a drawing or the loaded model changes,
    // once every slot holds one.
    Effect::new(move |_| {
        let Some((info, _)) = state.run.loaded.get() else { return };
        if !untrack(|| state.selection.is_few_shot()) {
            return;
        }
        let drawings = state.vision.episode.get();
        if drawings.len() != info.max_positions || drawings.iter().any(|d| !d.contains(&1)) {
            return;
        }
        let (run, _) = whole_run("an episode");
        state.run.status.set(Status::Computing);
        start_the_wait(state);
        send(ToWorker::ReadEpisode { run, model: info.name.clone(), drawings });
    });

    // A speech model transcribes the sound whenever the sound or the loaded model changes;
    // with no sound yet, the sample clip is fetched (a first visit shows the feature working).
    Effect::new(move |_| {
        let Some((info, _)) = state.run.loaded.get() else { return };
        // Untracked: a catalogue relabelled after a person's Whisper loads must not
        // transcribe the same sound again (the loaded model changes whenever the kind does).
        if !untrack(|| state.selection.is_speech()) {
            return;
        }
        let Some(clip) = state.speech.audio.get() else {
            components::speech::load_sample(state);
            return;
        };
        let (run, asked) = whole_run(&clip.name);
        state.run.whole_map.set(None);
        state.run.status.set(Status::Computing);
        start_the_wait(state);
        client.with_value(|c| c.as_ref().map(|c| c.send_with_samples(&ToWorker::Transcribe { run, model: info.name.clone(), asked }, &clip.samples)));
    });

    // A vision model looks at the picture whenever the picture, its framing or the loaded
    // model changes; with no picture yet, the sample photo is fetched.
    Effect::new(move |_| {
        let Some((info, _)) = state.run.loaded.get() else { return };
        if !untrack(|| state.selection.is_vision()) {
            return;
        }
        let Some(picture) = state.vision.picture.get() else {
            components::vision::load_sample(state);
            return;
        };
        let framing = state.vision.framing.get();
        let (run, asked) = whole_run(&picture.name);
        state.run.status.set(Status::Computing);
        start_the_wait(state);
        let request = ToWorker::Look { run, model: info.name.clone(), width: picture.width, height: picture.height, framing, asked };
        client.with_value(|c| c.as_ref().map(|c| c.send_with_pixels(&request, &picture.rgba)));
    });

    // A picture pasted anywhere on the page goes to a vision model.
    let paste = window_event_listener(leptos::ev::paste, move |event: web_sys::ClipboardEvent| {
        if !state.selection.is_vision() {
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
        let (zoom, layer, head) = (state.speech.encoder_zoom.get(), state.selection.layer.get(), state.selection.head.get());
        let has_report = state.run.report.with(|r| r.as_ref().is_some_and(|r| r.transcript.is_some()));
        let Some((info, _)) = state.run.loaded.get_untracked() else { return };
        let have = state.run.whole_map.with_untracked(|w| w.as_ref().is_some_and(|w| w.is_of(layer, head)));
        if zoom && has_report && !have {
            let run = scheduler.try_update_value(Scheduler::whole_map).unwrap_or_default();
            send(ToWorker::WholeMap { run, model: info.name, of: 0, layer, head });
        }
    });

    // A long text's selected head: its whole map, computed by the worker from the run's kept
    // queries and keys when the head is selected (the report holds every map pooled).
    Effect::new(move |_| {
        let (layer, head) = (state.selection.layer.get(), state.selection.head.get());
        if !state.run.is_long() {
            return;
        }
        let of = state.run.report_run.get_untracked();
        let Some((info, _)) = state.run.loaded.get_untracked() else { return };
        if state.run.whole_map.with_untracked(|w| w.as_ref().is_some_and(|w| w.is_of(layer, head))) {
            return;
        }
        state.run.whole_map_failed.set(None);
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
        let Some((info, _)) = state.run.loaded.get() else { return };
        let text = state.selection.text.get_untracked();
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
        let text = state.selection.text.get();
        if previous.is_some_and(|p| p != text) {
            if state.interventions.sweep.with_untracked(|s| matches!(s, interventions::SweepState::Running { .. })) {
                state.interventions.sweep.set(interventions::SweepState::Stopped("stopped: the text changed".into()));
            }
            state.interventions.found.set(Vec::new());
            // The grid shows maps again, as its picker then says.
            if matches!(state.display.grid_colour.get_untracked(), GridColour::Effect(_)) {
                state.display.grid_colour.set(GridColour::Maps);
            }
        }
        text
    });
    // With every head on again there is no change to colour the grid by.
    Effect::new(move |_| {
        if state.interventions.ablated.with(Vec::is_empty) && state.display.grid_colour.get_untracked() == GridColour::Change {
            state.display.grid_colour.set(GridColour::Maps);
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
        let waiting = state.probe.status.with(|p| matches!(p, ProbeState::Waiting));
        if let (true, Some((info, _))) = (waiting, state.run.loaded.get()) {
            let run = scheduler.try_update_value(Scheduler::probe).unwrap_or_default();
            let length = state.probe.length.get_untracked();
            // A pooled probe tells each layer of each seed's run, a whole one each run.
            let (layers, total) = if probe_runs_pooled(length) { (true, PROBE_SEEDS.len() * info.layers) } else { (false, PROBE_SEEDS.len()) };
            state.probe.status.set(ProbeState::Running { done: 0, total, layers });
            send(ToWorker::Probe { run, model: info.name, length, seeds: PROBE_SEEDS.to_vec() });
        }
    });

    // The Train panels' Train, Resume and Stop. Training runs are numbered on their own (each
    // panel's), and their answers name their task: they never meet the scheduler's.
    for training in [state.training.dates, state.training.digits, state.training.memory, state.training.snail] {
        Effect::new(move |_| {
            let Some(asked) = training.asked.get() else { return };
            training.asked.set(None);
            match asked {
                TrainAsk::Stop => {
                    send(ToWorker::StopTraining { run: training.run.get_untracked() });
                }
                TrainAsk::Start { resume } => {
                    let run = training.run.get_untracked() + 1;
                    training.run.set(run);
                    training.going.set(true);
                    training.failed.set(None);
                    if !resume {
                        training.progress.set(Vec::new());
                        training.losses.set(Vec::new());
                        training.files.set(Vec::new());
                    }
                    let scores = training.scores_asked();
                    let (seed, example) = (training.seed.get_untracked(), training.example.get_untracked());
                    let (steps, until) = match training.task {
                        TrainingTask::Dates => (TRAINING_STEPS, TRAINING_UNTIL),
                        TrainingTask::Digits => (READING_STEPS, READING_UNTIL),
                        TrainingTask::Memory => (ANSWERING_STEPS, ANSWERING_UNTIL),
                        TrainingTask::Snail => (FEW_SHOT_STEPS, FEW_SHOT_UNTIL),
                    };
                    send(ToWorker::Train { run, task: training.task, scores, seed, steps, until, example, resume });
                }
            }
        });
        // A new example is read by the models as they are, stopped or training.
        Effect::new(move |previous: Option<String>| {
            let example = training.example.get();
            if previous.is_some_and(|p| p != example) && training.progress.with_untracked(|p| !p.is_empty()) {
                send(ToWorker::TrainingExample { task: training.task, example: example.clone() });
            }
            example
        });
    }

    // Every keystroke's text runs (the scheduler keeps only the newest while the
    // worker is busy): the maps follow the keyboard.
    Effect::new(move |_| {
        let draft = state.selection.draft.get();
        if state.selection.text.get_untracked() != draft {
            // The person's wait starts here (see `answers::time_the_wait`).
            state.run.wait_started.set_value(Some(crate::now()));
            state.selection.text.set(draft);
        }
    });
}

/// What a drop of files anywhere on the page does: a sound for a speech model, a picture for
/// a vision model, anything else a model's files (see components::open_model).
pub fn on_drop(state: AppState) -> impl Fn(web_sys::DragEvent) + Copy + 'static {
    move |event: web_sys::DragEvent| {
        event.prevent_default();
        let files = components::open_model::files_of(event.data_transfer().and_then(|d| d.files()));
        // A speech model takes a dropped sound, a vision model a picture; anything else is a model's files.
        let sound = files.iter().find(|f| f.type_().starts_with("audio/") || f.type_().starts_with("video/")).cloned();
        match (sound, components::vision::picture_file(&files)) {
            (Some(file), _) if state.selection.is_speech() => components::speech::open_audio(state, file),
            (_, Some(file)) if state.selection.is_vision() => components::vision::open_picture(state, file.name(), file.into()),
            _ => components::open_model::open_files(state, files),
        }
    }
}

/// A run is sent: the person's wait starts now unless it started earlier (the text changed
/// before it was sent), and the request is on its way (see `answers::time_the_wait`).
fn start_the_wait(state: AppState) {
    if state.run.wait_started.get_value().is_none() {
        state.run.wait_started.set_value(Some(crate::now()));
    }
    state.run.wait_sent.set_value(Some(crate::now()));
}
