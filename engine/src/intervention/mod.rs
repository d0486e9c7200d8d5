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

use candle_core::Tensor;

pub use report::intervention::{Ablation, HeadId, Intervention, NextTokenChange, SoftmaxTotal};

use crate::error::{EngineError, Result};
use crate::report::AttentionMaps;

/// Every head `intervention` names, checked against the model's shape.
pub(crate) fn check(intervention: &Intervention, layers: usize, heads: usize) -> Result<()> {
    let this = intervention;
    for id in this.ablated.iter().chain(&this.patched_outputs).chain(&this.patched_patterns) {
        if id.layer >= layers {
            return Err(EngineError::NoSuchLayer { layer: id.layer, layers });
        }
        if id.head >= heads {
            return Err(EngineError::NoSuchHead { head: id.head, heads });
        }
    }
    if (!this.patched_outputs.is_empty() || !this.patched_patterns.is_empty()) && this.source.is_none() {
        return Err(EngineError::Intervention("patching needs a second text to take the heads' outputs from".into()));
    }
    if this.means_from.is_some() && this.ablation != Ablation::Mean {
        return Err(EngineError::Intervention("means from another text are for mean ablation".into()));
    }
    Ok(())
}

/// The site whose heads `intervention` changes, of a model whose sites with heads to change
/// are `sites` (the first is the default), or why the one it names is not among them.
pub(crate) fn site_of<'a>(intervention: &Intervention, sites: &[&'a str]) -> Result<&'a str> {
    match intervention.site.as_deref() {
        None => Ok(sites[0]),
        Some(named) => sites
            .iter()
            .find(|s| **s == named)
            .copied()
            .ok_or_else(|| EngineError::Intervention(format!("this model's heads are changed in its {}, not in `{named}`", sites.join(" or its ")))),
    }
}

/// The changes of `intervention` to a run that has no second input to patch from or to take
/// means over (a picture, a translation), after checking its heads against the model's
/// shape; `input` names that input in the refusal ("picture", "text").
pub(crate) fn ablation_only(intervention: &Intervention, layers: usize, heads: usize, input: &str) -> Result<Changes> {
    check(intervention, layers, heads)?;
    if !intervention.patched_outputs.is_empty() || !intervention.patched_patterns.is_empty() || intervention.means_from.is_some() {
        return Err(EngineError::Intervention(format!(
            "a {input}'s heads can be ablated; patching them, or means from another run, needs a second {input}, which is not offered yet"
        )));
    }
    Ok(Changes::new(intervention, layers, None, None)?)
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
        Ok((self.apply_outputs(out)?, probs))
    }

    /// Whether the changes need the layer's whole maps (a pattern put in a head's place): a
    /// run that keeps its maps pooled can make the others only.
    pub(crate) fn changes_patterns(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// The heads' outputs `out` [heads, q, d] with the new outputs put in.
    pub(crate) fn apply_outputs(&self, out: Tensor) -> candle_core::Result<Tensor> {
        if self.outputs.is_empty() {
            return Ok(out);
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
        replace_heads(&out, new)
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
