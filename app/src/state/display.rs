//! How the views show what came back: the grid's colours, the maps' scale, weighting and
//! reading, the overlay's heads, the alignment map's choice.

use leptos::prelude::*;
use report::analysis::reading::Reading;
use report::analysis::summary::{all_heads_mean, layer_mean};
use report::figure::colour::{ColourScale, ValueScale};
use report::AttentionMaps;

use crate::weighting::Weighting;

/// What the head grid's thumbnails show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridColour {
    /// Each head's map.
    Maps,
    /// Each head's look-ahead mass in the unmasked run (a flat colour).
    Lookahead,
    /// One of each head's scores on the current text (a flat colour), by name.
    Score(&'static str),
    /// How far each head's map moved from the run with no head switched off.
    Change,
    /// Each head's effect on the answer, as a sweep or the attribution found it (blue
    /// where the answer lost, red where it gained).
    Effect(crate::interventions::EffectKind),
}

impl GridColour {
    /// Whether its values are signed (drawn blue–white–red around 0).
    pub fn is_signed(self) -> bool {
        matches!(self, GridColour::Effect(_))
    }
}

/// What the alignment map shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alignment {
    /// The mean of every head of every layer.
    AllHeads,
    /// The mean of one layer's heads.
    LayerMean(usize),
    /// One head.
    Head(usize, usize),
}

impl Alignment {
    /// The choice as a value (select options, test ids): `mean`, `L1`, `L1H3`.
    pub fn name(self) -> String {
        match self {
            Alignment::AllHeads => "mean".into(),
            Alignment::LayerMean(layer) => format!("L{layer}"),
            Alignment::Head(layer, head) => format!("L{layer}H{head}"),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        if name == "mean" {
            return Some(Alignment::AllHeads);
        }
        let rest = name.strip_prefix('L')?;
        match rest.split_once('H') {
            Some((layer, head)) => Some(Alignment::Head(layer.parse().ok()?, head.parse().ok()?)),
            None => Some(Alignment::LayerMean(rest.parse().ok()?)),
        }
    }

    pub fn title(self) -> String {
        match self {
            Alignment::AllHeads => "the mean of every head".into(),
            Alignment::LayerMean(layer) => format!("layer {layer}'s mean"),
            Alignment::Head(layer, head) => format!("layer {layer}, head {head}"),
        }
    }

    /// The map it shows, [target, source] row-major; `None` when the maps lack it.
    pub fn map(self, maps: &AttentionMaps) -> Option<Vec<f32>> {
        match self {
            Alignment::AllHeads => Some(all_heads_mean(maps)),
            Alignment::LayerMean(layer) => (layer < maps.layers()).then(|| layer_mean(maps, layer)),
            Alignment::Head(layer, head) => (layer < maps.layers() && head < maps.heads()).then(|| maps.head(layer, head).to_vec()),
        }
    }

    /// Its layer and head as the page's data attributes say them (`mean` for a mean).
    pub fn attributes(self) -> (String, String) {
        match self {
            Alignment::AllHeads => ("mean".into(), "mean".into()),
            Alignment::LayerMean(layer) => (layer.to_string(), "mean".into()),
            Alignment::Head(layer, head) => (layer.to_string(), head.to_string()),
        }
    }

    /// Every choice for maps of `layers` × `heads`.
    pub fn all(layers: usize, heads: usize) -> Vec<Self> {
        let mut all = vec![Alignment::AllHeads];
        all.extend((0..layers).map(Alignment::LayerMean));
        all.extend((0..layers).flat_map(|l| (0..heads).map(move |h| Alignment::Head(l, h))));
        all
    }
}

/// How the views show the maps.
#[derive(Clone, Copy)]
pub struct Display {
    /// What the head grid's thumbnails show.
    pub grid_colour: RwSignal<GridColour>,
    /// The value each thumbnail shows as a flat colour, [layer][head]; `None` while they show maps.
    pub grid_values: Memo<Option<Vec<Vec<f32>>>>,
    /// The colour scale of the maps.
    pub colour_scale: RwSignal<ColourScale>,
    /// What the selected head's map is weighted by.
    pub weighting: RwSignal<Weighting>,
    /// How every map is read: the first token hidden, pieces merged into words.
    pub reading: RwSignal<Reading>,
    /// Linear or logarithmic colour.
    pub value_scale: RwSignal<ValueScale>,
    /// The heads of the selected layer the overlay draws together.
    pub overlay_heads: RwSignal<Vec<usize>>,
    /// What a translation's alignment map shows.
    pub alignment: RwSignal<Alignment>,
    /// A link to this view, once the Copy link button made one.
    pub copied_link: RwSignal<Option<String>>,
}

#[cfg(test)]
mod tests {
    use super::Alignment;

    #[test]
    fn choices_round_trip_through_their_names() {
        for a in Alignment::all(2, 8) {
            assert_eq!(Alignment::from_name(&a.name()), Some(a));
        }
        assert_eq!(Alignment::all(2, 8).len(), 1 + 2 + 16);
        assert_eq!(Alignment::from_name("L1H3"), Some(Alignment::Head(1, 3)));
        assert_eq!(Alignment::from_name("bogus"), None);
    }
}
