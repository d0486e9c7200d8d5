//! Interventions: runs in which chosen heads are changed, to see which heads matter.
//!
//! A head's output here is what TransformerLens calls `z`: the head's attention-weighted
//! values, [t, d], before the output projection mixes the heads into the residual stream.
//! A head is changed there, where the forward loop attends for every architecture
//! ([`crate::forward::Attending::attend`]), so every model the loop runs can be changed alike:
//! - ablated: its output zeroed, or replaced by its mean over the positions of this run
//!   (or of another text's run);
//! - patched: its output, or its attention pattern (then its own values are weighted by
//!   the other pattern), taken from the run of another text of the same length.
//!
//! [`run`] holds the runs ([`Trace`], [`Model::change`], sweeps over every head);
//! [`attribution`] splits the last position's logit among the heads, the feed-forwards
//! and the embeddings (direct logit attribution).
//!
//! [`Model::change`]: crate::Model::change

pub mod attribution;
pub(crate) mod copies;
pub mod run;
pub mod trace;

use std::fmt;
use std::str::FromStr;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::report::{AttentionMaps, NextToken};

/// A head: its layer and its place in the layer, both from 0 (`18.6` on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeadId {
    pub layer: usize,
    pub head: usize,
}

impl fmt::Display for HeadId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}.{}", self.layer, self.head)
    }
}

impl FromStr for HeadId {
    type Err = String;
    /// `L.H`, as TransformerLens and papers write heads.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (layer, head) = s.trim().split_once('.').ok_or_else(|| format!("`{s}` is not a head: write LAYER.HEAD, as 18.6"))?;
        let number = |part: &str| part.trim().parse::<usize>().map_err(|_| format!("`{s}` is not a head: write LAYER.HEAD, as 18.6"));
        Ok(HeadId { layer: number(layer)?, head: number(head)? })
    }
}

/// What takes an ablated head's output's place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ablation {
    /// Zeros: the head writes nothing.
    #[default]
    Zero,
    /// The head's output averaged over the positions of a run (this one unless the
    /// intervention names another text): it writes what it writes on average, with
    /// nothing that depends on the position.
    Mean,
}

impl Ablation {
    pub fn name(self) -> &'static str {
        match self {
            Self::Zero => "zero",
            Self::Mean => "mean",
        }
    }
}

/// What a run changed. The report of a changed run carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Intervention {
    /// Heads whose output is replaced as `ablation` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ablated: Vec<HeadId>,
    #[serde(default)]
    pub ablation: Ablation,
    /// For mean ablation: the text whose run gives the means (this run's own when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub means_from: Option<String>,
    /// Heads whose output is taken from the run of `source`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patched_outputs: Vec<HeadId>,
    /// Heads whose attention pattern is taken from the run of `source`; their own values
    /// are weighted by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patched_patterns: Vec<HeadId>,
    /// The text the patches come from (as long in tokens as this run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The next tokens of the same text unchanged, beside the report's own (which are
    /// the changed run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_tokens_before: Option<Vec<NextToken>>,
    /// The tokens either run ranks likeliest, with their logits and probabilities in both
    /// runs (the unchanged run's order first, then the tokens only the changed run ranks):
    /// the next-token bars before and after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_token_changes: Vec<NextTokenChange>,
}

/// A candidate for the next token in the unchanged and the changed run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NextTokenChange {
    pub id: u32,
    pub text: String,
    pub logit_before: f32,
    pub logit_after: f32,
    /// Softmax of each run's logits over the whole vocabulary.
    pub probability_before: f32,
    pub probability_after: f32,
}

impl NextTokenChange {
    /// `ids` as the unchanged (`before`) and changed (`after`) runs' logits [vocab] score them.
    pub fn compare(ids: &[u32], text: impl Fn(u32) -> String, before: &[f32], after: &[f32]) -> Vec<Self> {
        let (before_total, after_total) = (SoftmaxTotal::of(before), SoftmaxTotal::of(after));
        ids.iter()
            .filter(|&&id| (id as usize) < before.len().min(after.len()))
            .map(|&id| {
                let (b, a) = (before[id as usize], after[id as usize]);
                NextTokenChange {
                    id,
                    text: text(id),
                    logit_before: b,
                    logit_after: a,
                    probability_before: before_total.probability(b),
                    probability_after: after_total.probability(a),
                }
            })
            .collect()
    }
}

/// What a softmax over a whole vocabulary divides by (its largest logit taken out first).
pub(crate) struct SoftmaxTotal {
    max: f32,
    total: f64,
}

impl SoftmaxTotal {
    pub(crate) fn of(logits: &[f32]) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        Self { max, total: logits.iter().map(|&l| ((l - max) as f64).exp()).sum() }
    }

    pub(crate) fn probability(&self, logit: f32) -> f32 {
        (((logit - self.max) as f64).exp() / self.total) as f32
    }
}

impl Intervention {
    /// Zero- or mean-ablates `heads`.
    pub fn ablate(heads: Vec<HeadId>, ablation: Ablation) -> Self {
        Self { ablated: heads, ablation, ..Self::default() }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ablated.is_empty() && self.patched_outputs.is_empty() && self.patched_patterns.is_empty()
    }

    /// Every head it names, checked against the model's shape.
    pub(crate) fn check(&self, layers: usize, heads: usize) -> Result<()> {
        for id in self.ablated.iter().chain(&self.patched_outputs).chain(&self.patched_patterns) {
            if id.layer >= layers {
                return Err(EngineError::NoSuchLayer { layer: id.layer, layers });
            }
            if id.head >= heads {
                return Err(EngineError::NoSuchHead { head: id.head, heads });
            }
        }
        if (!self.patched_outputs.is_empty() || !self.patched_patterns.is_empty()) && self.source.is_none() {
            return Err(EngineError::Intervention("patching needs a second text to take the heads' outputs from".into()));
        }
        if self.means_from.is_some() && self.ablation != Ablation::Mean {
            return Err(EngineError::Intervention("means from another text are for mean ablation".into()));
        }
        Ok(())
    }

    /// The first layer it changes: everything before runs as in the unchanged run.
    pub(crate) fn first_layer(&self) -> Option<usize> {
        self.ablated.iter().chain(&self.patched_outputs).chain(&self.patched_patterns).map(|id| id.layer).min()
    }
}

/// What replaces one head's output in a changed run.
#[derive(Clone, Debug)]
pub(crate) enum NewOutput {
    Zero,
    /// Its mean over this run's positions.
    OwnMean,
    /// A given output: [1, t, d], or [1, 1, d] (a mean) broadcast over the positions.
    Given(Tensor),
}

/// One layer's changes: per head, a new pattern [1, q, k] and a new output.
#[derive(Clone, Debug, Default)]
pub(crate) struct LayerChanges {
    patterns: Vec<(usize, Tensor)>,
    outputs: Vec<(usize, NewOutput)>,
}

impl LayerChanges {
    /// Changes what one layer's attention gives: `out` [heads, q, d] and `probs`
    /// [heads, q, k] as computed from `v` [heads, k, d]. A new pattern reweights the
    /// head's own values; a new output then takes the place of whatever the head gave.
    pub(crate) fn apply(&self, out: Tensor, probs: Tensor, v: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (probs, out) = if self.patterns.is_empty() {
            (probs, out)
        } else {
            let probs = replace_heads(&probs, self.patterns.iter().map(|(h, p)| (*h, Ok(p.clone()))))?;
            let out = crate::products::attention_product(&probs, v)?;
            (probs, out)
        };
        if self.outputs.is_empty() {
            return Ok((out, probs));
        }
        let new = self.outputs.iter().map(|(h, new)| {
            let value = out.narrow(0, *h, 1).and_then(|own| match new {
                // own: [1, q, d]
                NewOutput::Zero => own.zeros_like(),
                NewOutput::OwnMean => own.mean_keepdim(1)?.broadcast_as(own.shape()),
                NewOutput::Given(given) => given.broadcast_as(own.shape()),
            });
            (*h, value)
        });
        Ok((replace_heads(&out, new)?, probs))
    }
}

/// `x` [heads, a, b] with the given heads' slices [1, a, b] put in.
fn replace_heads(x: &Tensor, new: impl Iterator<Item = (usize, candle_core::Result<Tensor>)>) -> candle_core::Result<Tensor> {
    let mut parts: Vec<Tensor> = (0..x.dim(0)?).map(|h| x.narrow(0, h, 1)).collect::<candle_core::Result<_>>()?;
    for (h, value) in new {
        parts[h] = value?.contiguous()?;
    }
    Tensor::cat(&parts, 0)
}

/// Every layer's changes, as the forward loop's attention applies them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Changes {
    layers: Vec<LayerChanges>,
}

/// What one run gives a changed run to take from: each layer's head outputs
/// [heads, t, d], and its report's maps for the patterns.
pub(crate) struct Taken<'a> {
    pub outputs: &'a [Tensor],
    pub maps: &'a AttentionMaps,
}

impl Changes {
    /// The changes `intervention` makes, in a model of `layers`, taking patches from
    /// `source` and means from `means` (another text's run) where it asks for them.
    pub(crate) fn new(intervention: &Intervention, layers: usize, source: Option<&Taken>, means: Option<&Taken>) -> candle_core::Result<Self> {
        let mut changes = Self { layers: vec![LayerChanges::default(); layers] };
        // Another run's means only where the intervention names a text for them.
        let means = means.filter(|_| intervention.means_from.is_some());
        for id in &intervention.ablated {
            let new = match (intervention.ablation, means) {
                (Ablation::Zero, _) => NewOutput::Zero,
                (Ablation::Mean, None) => NewOutput::OwnMean,
                (Ablation::Mean, Some(means)) => NewOutput::Given(means.outputs[id.layer].narrow(0, id.head, 1)?.mean_keepdim(1)?),
            };
            changes.layers[id.layer].outputs.push((id.head, new));
        }
        if let Some(source) = source {
            for id in &intervention.patched_patterns {
                let t = source.maps.tokens();
                let pattern = Tensor::from_slice(source.maps.head(id.layer, id.head), (1, t, t), &candle_core::Device::Cpu)?;
                changes.layers[id.layer].patterns.push((id.head, pattern));
            }
            for id in &intervention.patched_outputs {
                let given = source.outputs[id.layer].narrow(0, id.head, 1)?;
                changes.layers[id.layer].outputs.push((id.head, NewOutput::Given(given)));
            }
        }
        Ok(changes)
    }

    /// The changes to layer `layer`, if any.
    pub(crate) fn layer(&self, layer: usize) -> Option<&LayerChanges> {
        self.layers.get(layer).filter(|c| !c.patterns.is_empty() || !c.outputs.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn heads_read_as_layer_dot_head() {
        assert_eq!("18.6".parse::<HeadId>(), Ok(HeadId { layer: 18, head: 6 }));
        assert_eq!(" 0.0 ".parse::<HeadId>().map(|h| h.to_string()), Ok("0.0".to_string()));
        assert!("18".parse::<HeadId>().is_err());
        assert!("a.1".parse::<HeadId>().is_err());
    }

    #[test]
    fn changes_replace_only_the_named_heads() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // Two heads, two positions, d = 1; values so that head 1's pattern matters.
        let out = Tensor::new(&[[[1f32], [3.]], [[5.], [7.]]], &dev)?;
        let probs = Tensor::new(&[[[1f32, 0.], [0.5, 0.5]], [[1., 0.], [0.5, 0.5]]], &dev)?;
        let v = Tensor::new(&[[[1f32], [5.]], [[5.], [9.]]], &dev)?;
        let mean = LayerChanges { patterns: vec![], outputs: vec![(0, NewOutput::OwnMean)] };
        let (o, p) = mean.apply(out.clone(), probs.clone(), &v)?;
        assert_eq!(o.flatten_all()?.to_vec1::<f32>()?, vec![2., 2., 5., 7.]);
        assert_eq!(p.flatten_all()?.to_vec1::<f32>()?, probs.flatten_all()?.to_vec1::<f32>()?);
        let zero = LayerChanges { patterns: vec![], outputs: vec![(1, NewOutput::Zero)] };
        assert_eq!(zero.apply(out.clone(), probs.clone(), &v)?.0.flatten_all()?.to_vec1::<f32>()?, vec![1., 3., 0., 0.]);
        // Head 1 looks only at position 1 instead: its values 9 and 9.
        let pattern = Tensor::new(&[[[0f32, 1.], [0., 1.]]], &dev)?;
        let patched = LayerChanges { patterns: vec![(1, pattern)], outputs: vec![] };
        let (o, p) = patched.apply(out, probs, &v)?;
        assert_eq!(o.flatten_all()?.to_vec1::<f32>()?, vec![1., 3., 9., 9.]);
        assert_eq!(p.flatten_all()?.to_vec1::<f32>()?, vec![1., 0., 0.5, 0.5, 0., 1., 0., 1.]);
        Ok(())
    }
}
