//! Attention laid over a picture: one query's attention over the patches of a Vision
//! Transformer's input, as a rows × columns grid (the class token's and any other item
//! that is no patch left out), from one head, a layer's mean, or the rollout through
//! every layer. What the page's overlay and `attnscope plot --image` both draw.

use crate::analysis::rollout::rollout_row;
use crate::analysis::summary::layer_mean;
use crate::{AttentionReport, PatchGrid};

/// Whose attention a patch map shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchSource {
    /// One head of the layer.
    Head(usize),
    /// The mean of the layer's heads.
    LayerMean,
    /// Attention rollout (Abnar and Zuidema) from the query through every layer.
    Rollout,
}

impl PatchSource {
    pub fn name(self) -> String {
        match self {
            PatchSource::Head(h) => format!("head {h}"),
            PatchSource::LayerMean => "the layer's mean".into(),
            PatchSource::Rollout => "rollout".into(),
        }
    }
}

/// One query's attention over the patches.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchMap {
    pub grid: PatchGrid,
    /// [rows × columns], row by row: the attention each patch receives (not renormalised:
    /// what the class token keeps for itself is simply not drawn).
    pub values: Vec<f32>,
    /// The largest value, the top of the colour scale: DINO's maps are read by their shape.
    pub top: f32,
}

impl PatchMap {
    /// Query `query`'s attention in layer `layer` (ignored by rollout, which runs through
    /// every layer) over the first sequence's patches; `None` when the report has no patch
    /// grid or no such layer, head or query.
    pub fn of(report: &AttentionReport, layer: usize, source: PatchSource, query: usize) -> Option<Self> {
        let grid = report.sequences.first()?.grid?;
        let maps = report.attention();
        let n = maps.tokens();
        if layer >= maps.layers() || query >= n || grid.leading + grid.rows * grid.columns > n {
            return None;
        }
        let row: Vec<f32> = match source {
            PatchSource::Head(head) if head < maps.heads() => maps.head(layer, head)[query * n..(query + 1) * n].to_vec(),
            PatchSource::Head(_) => return None,
            PatchSource::LayerMean => layer_mean(maps, layer)[query * n..(query + 1) * n].to_vec(),
            PatchSource::Rollout => rollout_row(maps, query),
        };
        let values = row[grid.leading..grid.leading + grid.rows * grid.columns].to_vec();
        let top = values.iter().copied().fold(0.0f32, f32::max);
        Some(Self { grid, values, top })
    }

    /// The value of the patch in row `row`, column `column`.
    pub fn at(&self, row: usize, column: usize) -> f32 {
        self.values[row * self.grid.columns + column]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttentionMaps, Mask, ModelInfo, Sequence, Token};

    #[test]
    fn the_class_tokens_row_is_cut_to_the_grid() {
        // 1 layer, 2 heads, [CLS] + 2 × 2 patches; head 0's class row is 0.2 0.1 0.3 0.4 0.0.
        let n = 5;
        let mut data = vec![0.2f32; 2 * n * n];
        data[..n].copy_from_slice(&[0.2, 0.1, 0.3, 0.4, 0.0]);
        data[n * n..n * n + n].copy_from_slice(&[0.0, 0.3, 0.1, 0.2, 0.4]);
        let info = ModelInfo {
            name: "t".into(),
            architecture: "dinov2".into(),
            layers: 1,
            heads: 2,
            kv_heads: 2,
            causal: false,
            max_positions: n,
            vocab_size: 0,
            ..ModelInfo::default()
        };
        let grid = PatchGrid { leading: 1, rows: 2, columns: 2, patch_pixels: 14 };
        let mut report = AttentionReport::one_sequence(info, Mask::None, vec![], AttentionMaps::from_flat(1, 2, n, data).unwrap());
        report.sequences = vec![Sequence::patches("patches", vec![Token { id: 0, text: "[CLS]".into(), span: None }], grid)];
        let head = PatchMap::of(&report, 0, PatchSource::Head(0), 0).unwrap();
        assert_eq!((head.values.clone(), head.top, head.at(1, 0)), (vec![0.1, 0.3, 0.4, 0.0], 0.4, 0.4));
        let mean = PatchMap::of(&report, 0, PatchSource::LayerMean, 0).unwrap();
        assert!(mean.values.iter().zip([0.2, 0.2, 0.3, 0.2]).all(|(a, b)| (a - b).abs() < 1e-6), "{:?}", mean.values);
        assert!(PatchMap::of(&report, 0, PatchSource::Head(2), 0).is_none());
        assert!(PatchMap::of(&report, 1, PatchSource::Head(0), 0).is_none());
    }
}
