//! The page's state, in narrow parts a view asks for by context (as Leptos's examples hold
//! theirs): what the person chose ([`Selection`]), how the views show it ([`Display`]), what
//! came back from the worker ([`Run`]), the speech and vision inputs ([`Speech`], [`Vision`]),
//! the induction probe ([`Probe`]), the worker itself ([`Worker`]) and the interventions
//! ([`Interventions`]). [`AppState`] holds them all, for the controller and for what reads
//! several at once (the URL's view, the selected head's map). Each part's file holds its own
//! types; views hold views only.

mod display;
mod probe;
mod run;
mod selection;
mod speech;
mod training;
pub mod url;
mod vision;
mod worker;

use std::sync::Arc;

use leptos::prelude::*;
use report::analysis::heads::{score_report, Exclusions};
use report::figure::colour::ColourScale;
use report::{AttentionReport, Framing, Mask, WeightChoice};

pub use display::{Alignment, Display, GridColour};
pub use probe::{Probe, ProbeOutcome, ProbeState};
use run::SelectedMap;
pub use run::{Filling, Run, Status, Wait, WholeMap};
pub use selection::{Selection, Tab};
pub use speech::{CrossView, Speech};
pub use training::{TrainAsk, TrainedFiles, Training, Trainings};
pub use vision::{PatchView, Vision};
pub use worker::Worker;

pub use crate::interventions::Interventions;
use crate::weighting::ShownMap;
use url::ViewState;

/// The page's state: every part, shared by the views through context.
#[derive(Clone, Copy)]
pub struct AppState {
    pub selection: Selection,
    pub display: Display,
    pub run: Run,
    pub speech: Speech,
    pub vision: Vision,
    pub probe: Probe,
    pub worker: Worker,
    pub interventions: Interventions,
    pub training: Trainings,
}

impl AppState {
    /// Whether the report shown is an RNN aligner's (one attention of an output over a
    /// source): the views made for many heads have nothing to choose among.
    pub fn is_aligner(&self) -> bool {
        self.run.report.with(|r| r.as_ref().is_some_and(|r| r.alignment_arithmetic.is_some() || crate::components::story_hops::is_memory_network(r)))
    }

    /// Whether the maps in view are of a text other than the one in the box (the box's
    /// text is still computing): the views dim and say so.
    pub fn stale(&self) -> bool {
        // A speech or vision model's report is of the input named in `report_text`, not of the box's text.
        if self.selection.takes_whole_input() {
            return false;
        }
        self.run.report.with(Option::is_some) && self.run.report_text.get() != self.selection.draft.get()
    }

    /// The view as the URL holds it.
    pub fn view_state(&self) -> ViewState {
        ViewState {
            text: self.selection.text.get(),
            model: self.selection.model.get(),
            layer: self.selection.layer.get(),
            head: self.selection.head.get(),
            mask: self.selection.mask.get(),
            tab: self.selection.tab.get(),
            weighting: self.display.weighting.get(),
            token: self.selection.pinned_token.get(),
            alignment: self.display.alignment.get(),
            reading: self.display.reading.get(),
            value_scale: self.display.value_scale.get(),
            ablated: self.interventions.ablated.get(),
            ablated_site: self.interventions.ablated_site.get(),
            ablation: self.interventions.ablation.get(),
            answer: self.interventions.answer.get(),
            versus: self.interventions.versus.get(),
            patch_source: self.interventions.patch_source.get(),
            effects: match self.display.grid_colour.get() {
                GridColour::Effect(kind) => Some(kind),
                _ => None,
            },
        }
    }

    fn compute_shown_map(&self) -> Option<(Arc<AttentionReport>, usize, usize, Arc<ShownMap>)> {
        let (report, layer, head) = self.run.selected_head(&self.selection)?;
        let shown = Arc::new(self.map_of(&report, layer, head));
        Some((report, layer, head, shown))
    }

    /// Any head's map of `report`, weighted and read as chosen.
    pub fn map_of(&self, report: &AttentionReport, layer: usize, head: usize) -> ShownMap {
        self.run.report_text.with(|text| ShownMap::of(report, layer, head, self.display.weighting.get(), self.display.reading.get(), text))
    }

    pub(crate) fn new(initial: ViewState) -> Self {
        let report = RwSignal::new(None::<Arc<AttentionReport>>);
        let compare_report = RwSignal::new(None::<Arc<AttentionReport>>);
        let lookahead = Memo::new(move |_| {
            [report.get(), compare_report.get()]
                .into_iter()
                .flatten()
                .find(|r| r.mask == Mask::None)
                .map(|unmasked| report::analysis::summary::lookahead_mass(unmasked.attention()))
        });
        // TransformerLens's defaults: nothing left out.
        let head_scores = Memo::new(move |_| report.get().map(|r| score_report(&r, Exclusions::default())));
        let interventions = Interventions::new(
            (initial.ablated.clone(), initial.ablated_site.clone()),
            initial.ablation,
            (initial.answer.clone(), initial.versus.clone()),
            initial.patch_source.clone(),
            initial.effects,
        );
        let grid_colour = RwSignal::new(initial.effects.map_or(GridColour::Maps, GridColour::Effect));
        let grid_values = Memo::new(move |_| match grid_colour.get() {
            GridColour::Change => {
                let (changed, unchanged) = (report.get()?, interventions.unchanged.get()?);
                changed.intervention.as_ref()?;
                report::analysis::summary::map_change(changed.attention(), unchanged.attention())
            }
            GridColour::Effect(kind) => {
                let found = interventions.found_by(kind)?;
                Some(found.effects.per_head.chunks(found.effects.heads.max(1)).map(<[f32]>::to_vec).collect())
            }
            GridColour::Maps => None,
            GridColour::Lookahead => lookahead.get(),
            GridColour::Score(name) => {
                let heads = report.with(|r| r.as_ref().map(|r| r.model.heads))?.max(1);
                let values: Vec<f32> = head_scores.get()?.iter().map(|s| s.get(name).unwrap_or(0.0)).collect();
                Some(values.chunks(heads).map(<[f32]>::to_vec).collect())
            }
        });
        let selection = Selection {
            catalog: RwSignal::new(Vec::new()),
            model: RwSignal::new(initial.model),
            draft: RwSignal::new(initial.text.clone()),
            text: RwSignal::new(initial.text),
            mask: RwSignal::new(initial.mask),
            weights: RwSignal::new(WeightChoice::Fit),
            layer: RwSignal::new(initial.layer),
            head: RwSignal::new(initial.head),
            tab: RwSignal::new(initial.tab),
            compare: RwSignal::new(false),
            hovered_token: RwSignal::new(None),
            pinned_token: RwSignal::new(initial.token),
            hovered_target: RwSignal::new(None),
            pinned_target: RwSignal::new(None),
        };
        let display = Display {
            grid_colour,
            grid_values,
            colour_scale: RwSignal::new(ColourScale::Viridis),
            weighting: RwSignal::new(initial.weighting),
            reading: RwSignal::new(initial.reading),
            value_scale: RwSignal::new(initial.value_scale),
            overlay_heads: RwSignal::new(vec![0, 1, 2]),
            alignment: RwSignal::new(initial.alignment),
            copied_link: RwSignal::new(None),
        };
        let run = Run {
            loaded: RwSignal::new(None),
            report,
            report_text: RwSignal::new(String::new()),
            status: RwSignal::new(Status::Starting),
            filling: RwSignal::new(None),
            compare_report,
            lookahead,
            head_scores,
            shown: Memo::new(|_| SelectedMap(None)),
            whole_map: RwSignal::new(None),
            whole_map_failed: RwSignal::new(None),
            positions: RwSignal::new(None),
            positions_failed: RwSignal::new(None),
            positions_wanted: RwSignal::new(false),
            report_run: RwSignal::new(0),
            wait_started: StoredValue::new(None),
            wait_sent: StoredValue::new(None),
        };
        let speech = Speech {
            audio: RwSignal::new(None),
            notice: RwSignal::new(None),
            cross_view: RwSignal::new(Default::default()),
            encoder_zoom: RwSignal::new(false),
        };
        let vision = Vision {
            picture: RwSignal::new(None),
            looked_at: RwSignal::new(None),
            notice: RwSignal::new(None),
            framing: RwSignal::new(Framing::Letterbox),
            patch_view: RwSignal::new(Default::default()),
            episode: RwSignal::new(Vec::new()),
        };
        let probe = Probe { status: RwSignal::new(ProbeState::Idle), head: RwSignal::new((0, 0)), length: RwSignal::new(crate::limits::PROBE_LENGTH) };
        let worker = Worker { threads: RwSignal::new(0), wasm_memory: RwSignal::new(0), local_files: StoredValue::new_local(Default::default()) };
        let mut state = Self { selection, display, run, speech, vision, probe, worker, interventions, training: Trainings::new() };
        // The memo reads the state's own signals, so it is made once they exist.
        state.run.shown = Memo::new(move |_| SelectedMap(state.compute_shown_map()));
        state
    }

    /// Every part of the state as its own context, so that a view asks for the parts it reads.
    pub fn provide(self) {
        provide_context(self);
        provide_context(self.selection);
        provide_context(self.display);
        provide_context(self.run);
        provide_context(self.speech);
        provide_context(self.vision);
        provide_context(self.probe);
        provide_context(self.worker);
        provide_context(self.interventions);
        provide_context(self.training);
    }
}
