//! The induction probe: where it is, what it found, which head it shows.

use std::sync::Arc;

use leptos::prelude::*;
use report::analysis::probe::ProbeScores;
use report::AttentionReport;

/// Where the induction probe is.
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeState {
    Idle,
    /// Asked for before the model had loaded: it runs once the model is there.
    Waiting,
    /// `done` of `total` runs, or of all the runs' layers when the probe is pooled (`layers`).
    Running {
        done: usize,
        total: usize,
        layers: bool,
    },
    Done(Arc<ProbeOutcome>),
    Failed(String),
}

/// What the induction probe found.
#[derive(Debug, PartialEq)]
pub struct ProbeOutcome {
    /// Every head's mean scores over the probe's runs.
    pub scores: Vec<ProbeScores>,
    /// The first run's report, to show the pattern.
    pub report: AttentionReport,
    /// Where the random copy starts, and its length.
    pub offset: usize,
    pub length: usize,
    pub millis: f64,
}

impl ProbeOutcome {
    /// Every head's scores, the strongest induction head first.
    pub fn ranked(&self) -> Vec<ProbeScores> {
        let mut scores = self.scores.clone();
        scores.sort_by(|a, b| b.induction.total_cmp(&a.induction));
        scores
    }
}

/// The induction probe.
#[derive(Clone, Copy)]
pub struct Probe {
    /// The induction probe's state.
    pub status: RwSignal<ProbeState>,
    /// The head the probe view shows: the strongest induction head once the probe has
    /// run, then whichever row of its ranking is clicked.
    pub head: RwSignal<(usize, usize)>,
    /// Random tokens a copy in the next probe ([`crate::PROBE_LENGTHS`]).
    pub length: RwSignal<usize>,
}
