//! What a head's map shows: the attention weights α, or the value-weighted norms
//! ‖α_ij f(x_j)‖ (Kobayashi et al., 2020), which the engine computes when asked.
//! The heatmap and the table show the same [`ShownMap`].

use std::borrow::Cow;

use engine::analysis::norms::value_weighted;
use engine::AttentionReport;

/// What the selected head's map is weighted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// α_ij: where the head looks.
    Attention,
    /// α_ij ‖f(x_j)‖: how much each key then moves the head's output.
    ValueNorms,
}

impl Weighting {
    pub const ALL: [Weighting; 2] = [Weighting::Attention, Weighting::ValueNorms];

    pub fn name(self) -> &'static str {
        match self {
            Weighting::Attention => "attention",
            Weighting::ValueNorms => "norms",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Weighting::Attention => "attention α",
            Weighting::ValueNorms => "value-weighted ‖α·f(x)‖",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// One head's map as a view shows it. Attention is borrowed from the report, so the
/// 270 thumbnails copy nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct ShownMap<'a> {
    /// What the values are (value norms until the report carries them: attention).
    pub weighting: Weighting,
    /// [query, key] row-major.
    pub values: Cow<'a, [f32]>,
    /// The top of the colour scale: 1 for attention, the map's largest value for norms.
    pub top: f32,
}

impl<'a> ShownMap<'a> {
    /// The map of `layer`, `head` under `weighting`; attention when the report has no norms.
    pub fn of(report: &'a AttentionReport, layer: usize, head: usize, weighting: Weighting) -> Self {
        let weighted = match (weighting, &report.value_norms) {
            (Weighting::ValueNorms, Some(norms)) => Some(value_weighted(&report.attention(), norms, layer, head)),
            _ => None,
        };
        match weighted.filter(|w| !w.is_empty()) {
            Some(values) => {
                let top = values.iter().copied().fold(0.0, f32::max);
                // An all-zero map (every value empty) still needs a scale.
                Self { weighting: Weighting::ValueNorms, values: Cow::Owned(values), top: if top > 0.0 { top } else { 1.0 } }
            }
            None => Self { weighting: Weighting::Attention, values: Cow::Borrowed(report.attention().head(layer, head)), top: 1.0 },
        }
    }

    /// The same map, owning its values.
    pub fn into_owned(self) -> ShownMap<'static> {
        ShownMap { weighting: self.weighting, values: Cow::Owned(self.values.into_owned()), top: self.top }
    }

    /// A value as a fraction of the colour scale, in [0, 1].
    pub fn scaled(&self, value: f32) -> f32 {
        value / self.top
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{AttentionMaps, Mask, ModelInfo, ValueNorms};

    fn report(norms: Option<ValueNorms>) -> AttentionReport {
        let info = ModelInfo {
            name: "hand-made".into(),
            architecture: "gpt2".into(),
            layers: 1,
            heads: 1,
            kv_heads: 1,
            causal: true,
            max_positions: 8,
            vocab_size: 8,
            layer_windows: Vec::new(),
            weights: engine::WeightPath::Float32,
        };
        let maps = AttentionMaps::from_flat(1, 1, 2, vec![1.0, 0.0, 0.25, 0.75]).unwrap();
        AttentionReport { value_norms: norms, ..AttentionReport::one_sequence(info, Mask::Causal, Vec::new(), maps) }
    }

    #[test]
    fn norms_weigh_each_key_and_set_the_top_of_the_scale() {
        let norms = ValueNorms { norms: vec![vec![vec![2.0, 4.0]]] };
        let report = report(Some(norms));
        let shown = ShownMap::of(&report, 0, 0, Weighting::ValueNorms);
        assert_eq!(*shown.values, [2.0, 0.0, 0.5, 3.0]);
        assert_eq!(shown.top, 3.0);
        assert_eq!(shown.scaled(1.5), 0.5);
    }

    #[test]
    fn without_norms_the_map_is_the_attention() {
        let report = report(None);
        for weighting in Weighting::ALL {
            let shown = ShownMap::of(&report, 0, 0, weighting);
            assert_eq!((shown.weighting, &*shown.values, shown.top), (Weighting::Attention, &[1.0, 0.0, 0.25, 0.75][..], 1.0));
            assert!(matches!(shown.values, std::borrow::Cow::Borrowed(_)), "attention is not copied");
        }
    }
}
