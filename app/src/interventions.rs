//! The page's interventions: heads switched off, the answer effects are measured on, the
//! second text patches come from, and the sweeps' findings. The worker does the work
//! (see `worker/interventions.rs`); this is what the page asks and keeps.

use std::sync::Arc;

use leptos::prelude::*;
use report::{Ablation, AttentionReport, EffectMethod, HeadEffects, HeadId, Intervention, NextToken};

/// The three ways the page finds each head's effect on the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EffectKind {
    /// Each head ablated alone (zero or mean, as the ablation switch says).
    Ablation,
    /// Each head's output taken from the run of the second text.
    Patching,
    /// Each head's direct logit attribution (no run changed).
    Attribution,
}

impl EffectKind {
    pub const ALL: [EffectKind; 3] = [EffectKind::Ablation, EffectKind::Patching, EffectKind::Attribution];

    pub fn name(self) -> &'static str {
        match self {
            EffectKind::Ablation => "ablation",
            EffectKind::Patching => "patching",
            EffectKind::Attribution => "attribution",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A column's or a colouring's title.
    pub fn title(self) -> &'static str {
        match self {
            EffectKind::Ablation => "ablation effect",
            EffectKind::Patching => "patching effect",
            EffectKind::Attribution => "direct logit attribution",
        }
    }

    /// The kind a finding's method is of (the inverse of [`EffectKind::method`]).
    pub fn of(method: &EffectMethod) -> Self {
        match method {
            EffectMethod::Ablation { .. } => EffectKind::Ablation,
            EffectMethod::Patching { .. } => EffectKind::Patching,
            EffectMethod::DirectAttribution => EffectKind::Attribution,
        }
    }

    /// The method the worker is asked for.
    pub fn method(self, ablation: Ablation, source: &str) -> EffectMethod {
        match self {
            EffectKind::Ablation => EffectMethod::Ablation { ablation },
            EffectKind::Patching => EffectMethod::Patching { source: source.to_string() },
            EffectKind::Attribution => EffectMethod::DirectAttribution,
        }
    }
}

/// Where the sweep (or attribution) asked for is.
#[derive(Clone, Debug, PartialEq)]
pub enum SweepState {
    Idle,
    /// Asked for (by a button, or a link) and waiting for the model and the text's run.
    Asked(EffectKind),
    /// Sent; `done` of `total` heads changed so far.
    Running {
        kind: EffectKind,
        done: usize,
        total: usize,
    },
    /// Stopped by the person or by a new text: why.
    Stopped(String),
    Failed(String),
}

/// What a sweep found, and of which text.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub kind: EffectKind,
    pub text: String,
    pub effects: Arc<HeadEffects>,
    pub millis: f64,
}

/// The interventions' signals, a part of the page's state.
#[derive(Clone, Copy)]
pub struct Interventions {
    /// The heads switched off, in the order they were switched.
    pub ablated: RwSignal<Vec<HeadId>>,
    /// The attention they are heads of, by its site's name (`None`: the report's first site,
    /// the one the grid shows). One site at a time, as a run changes heads of one: a speech
    /// model's `encoder` heads are switched with the switch above the encoder's map.
    pub ablated_site: RwSignal<Option<String>>,
    /// Zero or mean ablation (for the switches and the ablation sweep alike).
    pub ablation: RwSignal<Ablation>,
    /// The answer's token by its text (`None`: the likeliest next token), and a token to
    /// subtract (a logit difference).
    pub answer: RwSignal<Option<String>>,
    pub versus: RwSignal<Option<String>>,
    /// The second text, which patches come from (as long in tokens as the first).
    pub patch_source: RwSignal<String>,
    /// The unchanged run of the text, while heads are switched off.
    pub unchanged: RwSignal<Option<Arc<AttentionReport>>>,
    pub sweep: RwSignal<SweepState>,
    /// What the sweeps found for the text in view, one per kind.
    pub found: RwSignal<Vec<Found>>,
}

impl Interventions {
    pub fn new(
        (ablated, ablated_site): (Vec<HeadId>, Option<String>),
        ablation: Ablation,
        (answer, versus): (Option<String>, Option<String>),
        patch_source: String,
        asked: Option<EffectKind>,
    ) -> Self {
        Self {
            ablated: RwSignal::new(ablated),
            ablated_site: RwSignal::new(ablated_site),
            ablation: RwSignal::new(ablation),
            answer: RwSignal::new(answer),
            versus: RwSignal::new(versus),
            patch_source: RwSignal::new(patch_source),
            unchanged: RwSignal::new(None),
            sweep: RwSignal::new(asked.map_or(SweepState::Idle, SweepState::Asked)),
            found: RwSignal::new(Vec::new()),
        }
    }

    /// What the main run changes, if anything.
    pub fn intervention(&self) -> Option<Intervention> {
        let ablated = self.ablated.get();
        (!ablated.is_empty()).then(|| Intervention { site: self.ablated_site.get(), ..Intervention::ablate(ablated, self.ablation.get()) })
    }

    /// Whether `head` of the grid's site is switched off.
    pub fn is_ablated(&self, head: HeadId) -> bool {
        self.is_ablated_at(None, head)
    }

    /// Whether `head` of `site` (`None`: the grid's) is switched off.
    pub fn is_ablated_at(&self, site: Option<&str>, head: HeadId) -> bool {
        self.ablated_site.with(|s| s.as_deref() == site) && self.ablated.with(|a| a.contains(&head))
    }

    /// Switches `head` of the grid's site off, or on again.
    pub fn toggle(&self, head: HeadId) {
        self.toggle_at(None, head)
    }

    /// Switches `head` of `site` off, or on again. The heads of another site are switched
    /// back on first: a run changes the heads of one.
    pub fn toggle_at(&self, site: Option<&str>, head: HeadId) {
        if self.ablated_site.with_untracked(|s| s.as_deref() != site) {
            self.ablated_site.set(site.map(String::from));
            self.ablated.set(vec![head]);
            return;
        }
        self.ablated.update(|a| match a.iter().position(|h| *h == head) {
            Some(i) => {
                a.remove(i);
            }
            None => a.push(head),
        });
        if self.ablated.with_untracked(Vec::is_empty) {
            self.ablated_site.set(None);
        }
    }

    /// Every head on again.
    pub fn clear(&self) {
        self.ablated.set(Vec::new());
        self.ablated_site.set(None);
    }

    /// What was found by `kind` for the text in view.
    pub fn found_by(&self, kind: EffectKind) -> Option<Found> {
        self.found.with(|f| f.iter().find(|f| f.kind == kind).cloned())
    }

    /// Keeps a finding, replacing the one of its kind.
    pub fn keep(&self, found: Found) {
        self.found.update(|f| {
            f.retain(|old| old.kind != found.kind && old.text == found.text);
            f.push(found);
        });
    }
}

/// The next tokens of the text unchanged: the main report's own, or, when the main run was
/// changed, the ones it records from before. The answer picker offers them.
pub fn unchanged_next_tokens(report: &AttentionReport) -> Option<Vec<NextToken>> {
    match &report.intervention {
        Some(record) => record.next_tokens_before.clone(),
        None => report.next_tokens.clone(),
    }
}
