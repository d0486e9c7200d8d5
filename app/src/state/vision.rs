//! What a vision model looks at and how its overlay is shown.

use std::sync::Arc;

use leptos::prelude::*;
use report::analysis::patches::PatchSource;
use report::Framing;

use crate::picture::Picture;

/// What the main overlay shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PatchView {
    /// The selected head.
    #[default]
    Head,
    /// The mean of the selected layer's heads.
    LayerMean,
    /// Attention rollout through every layer.
    Rollout,
}

impl PatchView {
    pub const ALL: [PatchView; 3] = [PatchView::Head, PatchView::LayerMean, PatchView::Rollout];

    pub fn name(self) -> &'static str {
        match self {
            PatchView::Head => "head",
            PatchView::LayerMean => "layer-mean",
            PatchView::Rollout => "rollout",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            PatchView::Head => "The selected head",
            PatchView::LayerMean => "The layer's mean",
            PatchView::Rollout => "Rollout through every layer",
        }
    }

    /// The engine's source for the selected head.
    pub fn source(self, head: usize) -> PatchSource {
        match self {
            PatchView::Head => PatchSource::Head(head),
            PatchView::LayerMean => PatchSource::LayerMean,
            PatchView::Rollout => PatchSource::Rollout,
        }
    }
}

/// The picture and the vision views' choices.
#[derive(Clone, Copy)]
pub struct Vision {
    /// The picture a vision model looks at, once there is one.
    pub picture: RwSignal<Option<Arc<Picture>>>,
    /// The picture the report in view is of (while a newer one computes, `picture` is ahead
    /// of it: the overlays keep the picture their numbers belong to).
    pub looked_at: RwSignal<Option<Arc<Picture>>>,
    /// What the image panel has to say: a file it cannot decode, a picture scaled down.
    pub notice: RwSignal<Option<String>>,
    /// How the picture is framed into the model's square input.
    pub framing: RwSignal<Framing>,
    /// What the picture's overlay shows: the selected head, its layer's mean, or the rollout.
    pub patch_view: RwSignal<PatchView>,
    /// A few-shot learner's episode: each slot's drawing (the labelled examples class by
    /// class, the query last), 28 × 28 pixels row by row, 1 for ink; empty where none yet.
    pub episode: RwSignal<Vec<Vec<u8>>>,
}
