//! The worker's answers, applied to the page's state: a report shown, a model loaded, a
//! probe's or a sweep's progress, a failure said; and the text that waited for an answer sent.

use std::sync::Arc;

use leptos::prelude::*;

use crate::protocol::{FromWorker, ToWorker};
use crate::runs::Scheduler;
use crate::state::{self, AppState, GridColour, ProbeOutcome, ProbeState, Status};
use crate::{components, interventions};

/// Applies one answer of the worker to the page's state, and sends the text that
/// waited for it, if any.
pub(crate) fn on_answer(
    state: AppState,
    scheduler: StoredValue<Scheduler>,
    worker_ready: RwSignal<bool>,
    answer: FromWorker,
    send: impl Fn(ToWorker) -> Option<()>,
) {
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
        FromWorker::Training { run, task, models, going, millis, failed } => state.training.of(task).told(run, models, going, millis, failed),
        FromWorker::TrainedModel { run, task, index, score, config, vocabulary, weights } => {
            state.training.of(task).trained(run, index, state::TrainedFiles { score, config, vocabulary, weights })
        }
        FromWorker::Ready { threads } => {
            state.worker.threads.set(threads);
            worker_ready.set(true);
        }
        FromWorker::Progress { model, stage, loaded, total } => {
            if model == state.selection.model.get_untracked() {
                state.run.status.set(Status::Loading { model, stage, loaded, total });
            }
        }
        FromWorker::Loaded { model, info, millis, memory_bytes } => {
            state.worker.wasm_memory.set(memory_bytes);
            if model == state.selection.model.get_untracked() {
                // Keep the selection inside the new model's layers and heads.
                if state.selection.layer.get_untracked() >= info.layers {
                    state.selection.layer.set(0);
                }
                if state.selection.head.get_untracked() >= info.heads {
                    state.selection.head.set(0);
                }
                // Heads of a speech model's encoder are of no other kind of model.
                if info.kind != report::ModelKind::Speech && state.interventions.ablated_site.with_untracked(Option::is_some) {
                    state.interventions.clear();
                }
                // Heads switched off stay off only where the new model has them.
                if state.interventions.ablated.with_untracked(|a| a.iter().any(|h| h.layer >= info.layers || h.head >= info.heads)) {
                    state.interventions.ablated.update(|a| a.retain(|h| h.layer < info.layers && h.head < info.heads));
                }
                state.interventions.found.set(Vec::new());
                // A person's own model is named in the picker by what it turned out to be.
                let bytes = state.selection.catalog.with_untracked(|c| c.iter().find(|m| m.id == model).and_then(|m| m.bytes));
                let label = components::open_model::label(&model, &info, bytes);
                if state.selection.catalog.with_untracked(|c| c.iter().any(|m| m.id == model && m.local && m.label != label)) {
                    state.selection.catalog.update(|c| c.iter_mut().filter(|m| m.id == model).for_each(|m| m.label = label.clone()));
                }
                // A person's model is of the kind it turned out to be: a Whisper takes sound, a ViT a picture.
                if state.selection.catalog.with_untracked(|c| c.iter().any(|m| m.id == model && m.kind.is_none())) {
                    let kind = Some(info.kind).filter(|&k| k != report::ModelKind::Text);
                    state.selection.catalog.update(|c| c.iter_mut().filter(|m| m.id == model).for_each(|m| m.kind = kind));
                }
                state.run.loaded.set(Some((info, millis)));
            }
        }
        FromWorker::Report { report, millis, memory_bytes, .. } => {
            state.worker.wasm_memory.set(memory_bytes);
            if is_main {
                // A newer picture is sent the moment it arrives, so the main run's answer is of
                // the picture in the panel now.
                if report.picture.is_some() {
                    components::vision::show_picture(state, state.vision.picture.get_untracked());
                }
                // A whole map asked of the report before is not this one's.
                state.run.whole_map.set(None);
                state.run.filling.set(None);
                state.run.report_run.set(run.unwrap_or(0));
                // A picture's or a sound's report is of the input in view (a newer one is sent
                // the moment it comes); a text's, when the box still holds its text.
                let of_the_text_in_view = report.picture.is_none() && report.transcript.is_none();
                state.run.report.set(Some(Arc::new(report)));
                time_the_wait(state, run.unwrap_or(0), of_the_text_in_view.then_some(main_text.as_str()));
                state.run.report_text.set(main_text);
                state.run.status.set(Status::Done { millis, waited: None });
            } else if is_compare {
                state.run.compare_report.set(Some(Arc::new(report)));
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
                let text = state.selection.text.get_untracked();
                state.interventions.keep(interventions::Found { kind, text, effects: Arc::new(effects), millis });
                state.interventions.sweep.set(interventions::SweepState::Idle);
                state.display.grid_colour.set(GridColour::Effect(kind));
            }
        }
        FromWorker::Failed { message, .. } if is_effects => {
            scheduler.update_value(Scheduler::effects_ended);
            state.interventions.sweep.set(interventions::SweepState::Failed(message));
        }
        FromWorker::Translating { from, limit, tokens: told, .. } => {
            if is_main {
                let mut tokens = match state.run.status.get_untracked() {
                    Status::Translating { tokens, .. } | Status::Transcribing { tokens, .. } if from > 0 => tokens,
                    _ => Vec::new(),
                };
                tokens.truncate(from);
                tokens.extend(told);
                let speech = state.run.loaded.with_untracked(|l| l.as_ref().is_some_and(|(info, _)| info.kind == report::ModelKind::Speech));
                state.run.status.set(if speech { Status::Transcribing { tokens, limit } } else { Status::Translating { tokens, limit } });
            }
        }
        FromWorker::Positions { positions, failed } => {
            // Only the loaded model's (another may have loaded since it was asked).
            if state.run.loaded.with_untracked(|l| l.as_ref().is_some_and(|(info, _)| info.name == positions.model)) {
                state.run.positions_failed.set(failed);
                state.run.positions.set(Some(std::sync::Arc::new(positions)));
            }
        }
        FromWorker::WholeMap { layer, head, queries, keys, values, millis, .. } => {
            if is_whole_map {
                state.run.whole_map.set(Some(Arc::new(state::WholeMap { layer, head, queries, keys, values, millis })));
            }
        }
        FromWorker::Attending { done, total, tokens, cut, blocks, layer_maps, .. } => {
            if is_main {
                state.run.status.set(Status::Attending { done, total, tokens, cut });
                if !layer_maps.is_empty() {
                    let run = run.unwrap_or(0);
                    state.run.filling.update(|f| *f = Some(Arc::new(state::Filling::with_layer(f.as_deref(), run, blocks, layer_maps))));
                }
            }
        }
        FromWorker::ProbeProgress { done, total, .. } => {
            if is_probe {
                let layers = state.probe.status.with_untracked(|p| matches!(p, ProbeState::Running { layers: true, .. }));
                state.probe.status.set(ProbeState::Running { done, total, layers });
            }
        }
        FromWorker::ProbeResult { scores, report, offset, length, millis, .. } => {
            if is_probe {
                let outcome = ProbeOutcome { scores, report, offset, length, millis };
                if let Some(top) = outcome.ranked().first() {
                    state.probe.head.set((top.layer, top.head));
                }
                state.probe.status.set(ProbeState::Done(Arc::new(outcome)));
            }
        }
        FromWorker::Failed { message, .. } if is_whole_map => {
            state.run.whole_map_failed.set(Some(message));
        }
        FromWorker::Failed { run: Some(_), message, .. } if is_probe => {
            state.probe.status.set(ProbeState::Failed(message));
        }
        FromWorker::Failed { run, message, .. } => {
            if run.is_none() || is_main || is_compare {
                // A probe that waited for a model which did not load cannot run: say so.
                if run.is_none() && state.probe.status.with_untracked(|p| matches!(p, ProbeState::Waiting)) {
                    state.probe.status.set(ProbeState::Failed("the model did not load, so the probe cannot run".into()));
                }
                state.run.report.set(None);
                state.run.filling.set(None);
                state.run.status.set(Status::Failed(message));
            }
        }
    }
    // The text that waited for this answer runs now (after this answer is shown).
    for request in next.unwrap_or_default() {
        send(request);
        state.run.status.set(Status::Computing);
    }
}

/// Once the report of the text in the box is painted, the status line says how long the person
/// waited: from the wait's start ([`crate::state::Run::wait_started`]) to the frame after the
/// one the maps were drawn for, and where the time went ([`state::Wait`]). The views draw in
/// effects that run before the next frame; a timer set in that frame's callback fires after
/// it is painted.
fn time_the_wait(state: AppState, run: u64, text: Option<&str>) {
    if text.is_some_and(|text| state.selection.text.with_untracked(|t| t != text)) {
        return; // an older text's report: the wait goes on for the newest
    }
    let Some(started) = state.run.wait_started.get_value() else { return };
    state.run.wait_started.set_value(None);
    let since = move |at: f64| at - started;
    let sent = since(state.run.wait_sent.get_value().unwrap_or(started));
    let (arrived, handled) = (since(crate::engine_client::last_arrival()), since(crate::now()));
    request_animation_frame(move || {
        let drawn = since(crate::now());
        set_timeout(
            move || {
                if state.run.report_run.get_untracked() != run {
                    return;
                }
                if let Status::Done { millis, waited: None } = state.run.status.get_untracked() {
                    let wait = state::Wait { sent, arrived, handled, drawn, total: since(crate::now()) };
                    state.run.status.set(Status::Done { millis, waited: Some(wait) });
                }
            },
            std::time::Duration::ZERO,
        )
    });
}
