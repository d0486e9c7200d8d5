//! What a speech model hears and how its views are shown.

use std::sync::Arc;

use leptos::prelude::*;

use crate::audio::Clip;

/// What the cross map shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrossView {
    /// The selected layer and head.
    #[default]
    Head,
    /// The mean of the selected layer's heads.
    LayerMean,
    /// The mean of the alignment heads (of every layer).
    AlignmentHeads,
}

impl CrossView {
    pub const ALL: [CrossView; 3] = [CrossView::Head, CrossView::LayerMean, CrossView::AlignmentHeads];

    pub fn name(self) -> &'static str {
        match self {
            CrossView::Head => "head",
            CrossView::LayerMean => "layer-mean",
            CrossView::AlignmentHeads => "alignment",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CrossView::Head => "the selected head",
            CrossView::LayerMean => "the layer's mean",
            CrossView::AlignmentHeads => "the alignment heads' mean",
        }
    }
}

/// The sound and the speech views' choices.
#[derive(Clone, Copy)]
pub struct Speech {
    /// The sound a speech model hears (16 kHz mono), once there is one.
    pub audio: RwSignal<Option<Arc<Clip>>>,
    /// What the audio panel has to say: a refused microphone, a file it cannot decode,
    /// a sound cut to 30 s.
    pub notice: RwSignal<Option<String>>,
    /// What the cross-attention map shows: one head, its layer's mean, or the alignment heads' mean.
    pub cross_view: RwSignal<CrossView>,
    /// Whether the encoder's map is shown whole (every frame) rather than pooled.
    pub encoder_zoom: RwSignal<bool>,
}
