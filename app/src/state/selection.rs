//! What the person chose: the model, the text, the mask, the layer and head, the tab, the
//! token and target in focus.

use leptos::prelude::*;
use report::{Mask, ModelKind, WeightChoice};

use crate::catalog::CatalogModel;

/// The tabs of the head detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Heatmap,
    Lines,
    Table,
    Math,
    /// Several heads of the layer at once.
    Overlay,
    /// The head's attention by relative offset, and its positional score.
    Offsets,
}

impl Tab {
    pub const ALL: [Tab; 6] = [Tab::Heatmap, Tab::Lines, Tab::Table, Tab::Math, Tab::Overlay, Tab::Offsets];

    pub fn name(self) -> &'static str {
        match self {
            Tab::Heatmap => "heatmap",
            Tab::Lines => "lines",
            Tab::Table => "table",
            Tab::Math => "math",
            Tab::Overlay => "overlay",
            Tab::Offsets => "offsets",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Tab::Heatmap => "Heatmap",
            Tab::Lines => "Lines",
            Tab::Table => "Table",
            Tab::Math => "Math",
            Tab::Overlay => "Overlay",
            Tab::Offsets => "Offsets",
        }
    }
}

/// What the person chose.
#[derive(Clone, Copy)]
pub struct Selection {
    pub catalog: RwSignal<Vec<CatalogModel>>,
    pub model: RwSignal<String>,
    /// The text as typed.
    pub draft: RwSignal<String>,
    /// The text last sent to run (the draft once typing pauses).
    pub text: RwSignal<String>,
    pub mask: RwSignal<Mask>,
    /// The path a GGUF's weights load on: float32, quantized, or what fits (the default).
    pub weights: RwSignal<WeightChoice>,
    pub layer: RwSignal<usize>,
    pub head: RwSignal<usize>,
    /// The head detail's tab.
    pub tab: RwSignal<Tab>,
    /// Whether the mask comparison is shown (and so the other mask runs too).
    pub compare: RwSignal<bool>,
    /// The token under the pointer in the token strip.
    pub hovered_token: RwSignal<Option<usize>>,
    /// The token clicked in the token strip (or chosen as the arithmetic's query).
    pub pinned_token: RwSignal<Option<usize>>,
    /// The translated token under the pointer, and the one clicked (pinned).
    pub hovered_target: RwSignal<Option<usize>>,
    pub pinned_target: RwSignal<Option<usize>>,
}

impl Selection {
    /// Whether the chosen model is of `kind` (by the catalogue's word for it).
    fn model_is(&self, kind: ModelKind) -> bool {
        let model = self.model.get();
        self.catalog.with(|c| c.iter().any(|m| m.id == model && m.kind == Some(kind)))
    }

    /// Whether the chosen model is a translator (an encoder–decoder): the views that
    /// need one sequence or a causal language model say so instead of running.
    pub fn is_translator(&self) -> bool {
        self.model_is(ModelKind::Translation)
    }

    /// Whether the chosen model is a speech model (its input is sound, not text).
    pub fn is_speech(&self) -> bool {
        self.model_is(ModelKind::Speech)
    }

    /// Whether the chosen model is a Vision Transformer (its input is a picture).
    pub fn is_vision(&self) -> bool {
        self.model_is(ModelKind::Vision)
    }

    /// Whether the chosen model is a few-shot learner (its input is an episode of drawings).
    pub fn is_few_shot(&self) -> bool {
        self.model_is(ModelKind::FewShot)
    }

    /// Whether the chosen model is an encoder–decoder (a translator, a speech model).
    pub fn is_encoder_decoder(&self) -> bool {
        self.is_translator() || self.is_speech()
    }

    /// Whether the chosen model runs with its own masks only (an encoder–decoder, a Vision
    /// Transformer): no mask to compare, and its heads change under those masks.
    pub fn runs_own_masks(&self) -> bool {
        self.is_encoder_decoder() || self.is_vision() || self.is_few_shot()
    }

    /// Whether the input is a whole thing that runs as it arrives (a sound, a picture), not
    /// a text typed.
    pub fn takes_whole_input(&self) -> bool {
        self.is_speech() || self.is_vision() || self.is_few_shot()
    }

    /// Whether the chosen model is a GGUF file (whose weights may stay quantized).
    pub fn model_is_gguf(&self) -> bool {
        let model = self.model.get();
        self.catalog.with(|c| c.iter().any(|m| m.id == model && m.files.iter().any(|f| f.name.to_lowercase().ends_with(".gguf"))))
    }

    /// The translated token the alignment views highlight: the hovered one, else the pinned one.
    pub fn focused_target(&self) -> Option<usize> {
        self.hovered_target.get().or(self.pinned_target.get())
    }
}
