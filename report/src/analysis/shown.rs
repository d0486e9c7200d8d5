//! What a head's map shows: the attention weights α, or the value-weighted norms
//! ‖α_ij f(x_j)‖ (Kobayashi et al., 2020), which the engine computes when asked.
//! Every view of a head shows the same [`ShownMap`].

use super::norms::value_weighted;
use super::reading::{read, Axis, ReadMap, Reading, Side};
use crate::{AttentionReport, MapForm, Token};

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

/// One head's map as a view shows it: weighted as chosen, then read as the person asked
/// (the first token hidden, pieces merged into words). Every view of the selected head, the
/// grid's thumbnails and the exported figures take their numbers from here.
#[derive(Clone, Debug, PartialEq)]
pub struct ShownMap {
    /// What the values are (value norms until the report carries them: attention).
    pub weighting: Weighting,
    /// The rows, columns and values as read.
    pub read: ReadMap,
    /// The top of the colour scale: 1 for attention, the map's largest value for norms.
    pub top: f32,
}

impl ShownMap {
    /// The map of `layer`, `head` of the input's self-attention (the report's first site)
    /// under `weighting` (attention when the report has no norms), read by `reading`;
    /// `text` is the text the report's tokens came from.
    pub fn of(report: &AttentionReport, layer: usize, head: usize, weighting: Weighting, reading: Reading, text: &str) -> Self {
        Self::of_site(report, 0, layer, head, weighting, reading, text).unwrap_or_else(|| Self {
            weighting: Weighting::Attention,
            read: ReadMap::default(),
            top: 1.0,
        })
    }

    /// The map of `layer`, `head` at the report's site number `site` (a translation's
    /// `cross`, say), or `None` when there is no such head. Value norms weigh the input's
    /// self-attention only. `text` is the input's text; a translation's target is read
    /// from the report.
    pub fn of_site(report: &AttentionReport, site: usize, layer: usize, head: usize, weighting: Weighting, reading: Reading, text: &str) -> Option<Self> {
        let at = report.sites.get(site)?;
        if layer >= at.maps.layers() || head >= at.maps.heads() {
            return None;
        }
        let side = |name: &str| -> Option<Side> {
            let sequence = report.sequence(name)?;
            let is_input = report.sequences.first().is_some_and(|first| first.name == name);
            let text = match &report.translation {
                Some(translation) if !is_input => translation.text.as_str(),
                _ if is_input => text,
                _ => "",
            };
            Some(Side { tokens: &sequence.tokens, text })
        };
        let (queries, keys) = (side(&at.queries)?, side(&at.keys)?);
        if let MapForm::Pooled { block, .. } = at.form {
            return Some(Self::pooled(at.maps.head(layer, head), block, queries.tokens, keys.tokens));
        }
        let weighted = match (weighting, &report.value_norms) {
            (Weighting::ValueNorms, Some(norms)) if site == 0 => Some(value_weighted(&at.maps, norms, layer, head)),
            _ => None,
        }
        .filter(|w| !w.is_empty());
        let is_norms = weighted.is_some();
        let values: &[f32] = weighted.as_deref().unwrap_or_else(|| at.maps.head(layer, head));
        // Attention rows are renormalised once the sink goes; norms are not (they are not shares).
        let read = read(values, queries, keys, reading, !is_norms);
        Some(if is_norms {
            let top = read.values.iter().copied().fold(0.0, f32::max);
            // An all-zero map (every value empty) still needs a scale.
            Self { weighting: Weighting::ValueNorms, read, top: if top > 0.0 { top } else { 1.0 } }
        } else {
            Self { weighting: Weighting::Attention, read, top: 1.0 }
        })
    }

    /// A pooled map ([row blocks, column blocks]) as it is: a row or column per block of
    /// `block` tokens, labelled by its first and last token's numbers (a reading of words or
    /// without the first key needs the tokens' own weights, which a pooled map has not).
    fn pooled(values: &[f32], block: usize, queries: &[Token], keys: &[Token]) -> Self {
        let axis = |tokens: &[Token]| {
            let ranges: Vec<_> = (0..tokens.len()).step_by(block.max(1)).map(|from| from..(from + block).min(tokens.len())).collect();
            Axis { labels: ranges.iter().map(|r| format!("{}–{}", r.start, r.end - 1)).collect(), tokens: ranges }
        };
        let (rows, columns) = (axis(queries), axis(keys));
        // A map of another size (a report whose parts disagree) reads as nothing.
        let values = if values.len() == rows.len() * columns.len() { values.to_vec() } else { Vec::new() };
        let (rows, columns) = if values.is_empty() { (Axis::default(), Axis::default()) } else { (rows, columns) };
        Self { weighting: Weighting::Attention, read: ReadMap { rows, columns, values, ..ReadMap::default() }, top: 1.0 }
    }

    /// [rows, columns] row-major.
    pub fn values(&self) -> &[f32] {
        &self.read.values
    }

    pub fn rows(&self) -> usize {
        self.read.rows.len()
    }

    pub fn columns(&self) -> usize {
        self.read.columns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttentionMaps, Mask, ModelInfo, Token, ValueNorms};

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
            ..ModelInfo::default()
        };
        let maps = AttentionMaps::from_flat(1, 1, 2, vec![1.0, 0.0, 0.25, 0.75]).unwrap();
        let tokens = vec![Token { id: 1, text: "a".into(), span: None }, Token { id: 2, text: "b".into(), span: None }];
        AttentionReport { value_norms: norms, ..AttentionReport::one_sequence(info, Mask::Causal, tokens, maps) }
    }

    #[test]
    fn norms_weigh_each_key_and_set_the_top_of_the_scale() {
        let norms = ValueNorms { norms: vec![vec![vec![2.0, 4.0]]] };
        let report = report(Some(norms));
        let shown = ShownMap::of(&report, 0, 0, Weighting::ValueNorms, Reading::default(), "");
        assert_eq!(shown.values(), [2.0, 0.0, 0.5, 3.0]);
        assert_eq!(shown.top, 3.0);
        // Without the first key, norms keep their values (not renormalised) and their top.
        let hidden = ShownMap::of(&report, 0, 0, Weighting::ValueNorms, Reading { hide_first_key: true, by_words: false }, "");
        assert_eq!((hidden.values(), hidden.top, hidden.columns()), (&[0.0, 3.0][..], 3.0, 1));
    }

    #[test]
    fn without_norms_the_map_is_the_attention() {
        let report = report(None);
        for weighting in Weighting::ALL {
            let shown = ShownMap::of(&report, 0, 0, weighting, Reading::default(), "");
            assert_eq!((shown.weighting, shown.values(), shown.top), (Weighting::Attention, &[1.0, 0.0, 0.25, 0.75][..], 1.0));
            // Without the first key, attention rows are renormalised: row 0 has nothing left.
            let hidden = ShownMap::of(&report, 0, 0, weighting, Reading { hide_first_key: true, by_words: false }, "");
            assert_eq!((hidden.values(), hidden.read.empty_rows.as_slice()), (&[0.0, 1.0][..], &[0][..]));
        }
    }

    #[test]
    fn a_pooled_map_shows_its_blocks_labelled_by_the_tokens_they_hold() {
        let mut report = report(None);
        let tokens: Vec<Token> = (0..5).map(|i| Token { id: i, text: format!("t{i}"), span: None }).collect();
        report.sequences[0].tokens = tokens;
        // Five tokens in blocks of two: three blocks, the last of one token.
        report.sites[0].maps = AttentionMaps::from_flat(1, 1, 3, (0..9).map(|v| v as f32).collect()).unwrap();
        report.sites[0].form = MapForm::Pooled { block: 2, queries: 5, keys: 5 };
        let hidden = Reading { hide_first_key: true, by_words: true };
        let shown = ShownMap::of(&report, 0, 0, Weighting::ValueNorms, hidden, "t0t1t2t3t4");
        assert_eq!(shown.read.rows.labels, ["0–1", "2–3", "4–4"]);
        assert_eq!(shown.read.columns.tokens, [0..2, 2..4, 4..5]);
        assert_eq!((shown.values(), shown.weighting), (&(0..9).map(|v| v as f32).collect::<Vec<_>>()[..], Weighting::Attention));
        assert_eq!(shown.read.rows.index_of(3), Some(1));
    }
}
