//! Direct logit attribution: the last position's residual stream is a sum of what the
//! embeddings, each head and each feed-forward wrote into it, and the final norm is
//! linear once its scale is frozen at the value this run gave it (as TransformerLens
//! does), so the answer's logit splits into one term per writer. A head's term is what it
//! says about the answer directly, not through the layers after it.

use candle_core::{IndexOp, Tensor};

pub use report::intervention::Contribution;

/// How a network turns its last residual stream into logits.
pub struct Readout {
    pub norm: FinalNorm,
    /// The unembedding rows of the tokens asked for, [tokens][hidden].
    pub rows: Vec<Vec<f32>>,
    /// Gemma 2 caps its logits at cap · tanh(logit / cap): the split is of the logit before.
    pub softcap: Option<f32>,
}

impl Readout {
    /// The logit before the cap, from the one the model gave.
    pub fn uncapped(&self, logit: f32) -> f32 {
        match self.softcap {
            Some(cap) => cap * (logit / cap).atanh(),
            None => logit,
        }
    }
}

/// The norm before the unembedding.
pub enum FinalNorm {
    /// x / √(mean(x²) + ε) · w (the Llama family; Gemma's 1 + w already in `weight`).
    Rms { weight: Vec<f32>, eps: f64 },
    /// (x − mean(x)) / √(var(x) + ε) · w + b (GPT-2, GPT-NeoX).
    Layer { weight: Vec<f32>, bias: Vec<f32>, eps: f64 },
}

/// The residual stream at the last position, split into what wrote it. A trace
/// ([`super::trace::Tracing`]) fills it as the forward loop tells it where each sublayer ends.
#[derive(Clone, Debug, Default)]
pub struct LastPosition {
    /// The stream entering the first layer: the embeddings, [hidden].
    pub embedding: Vec<f32>,
    /// Per layer, each head's write, flat [head, hidden] (after any norm of the
    /// attention's output, with its scale frozen).
    pub heads: Vec<Vec<f32>>,
    /// Per layer, the attention block's whole write: its heads', and any bias.
    pub attention: Vec<Vec<f32>>,
    /// Per layer, the feed-forward's write.
    pub feed_forward: Vec<Vec<f32>>,
    /// The stream leaving the last layer, [hidden].
    pub last: Vec<f32>,
    input: Vec<f32>,
    middle: Vec<f32>,
    pending_heads: Option<Tensor>,
}

fn difference(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// The last row of `x` [new, hidden].
pub(crate) fn last_row(x: &Tensor) -> candle_core::Result<Vec<f32>> {
    x.i(x.dim(0)? - 1)?.to_dtype(candle_core::DType::F32)?.to_vec1()
}

impl LastPosition {
    /// The stream entering a layer: the embeddings, or what the previous feed-forward left.
    pub(crate) fn entering(&mut self, row: Vec<f32>) {
        if self.attention.is_empty() {
            self.embedding = row.clone();
        } else {
            self.feed_forward.push(difference(&row, &self.middle));
        }
        self.input = row;
    }

    /// Each head's write at the last position, [heads, hidden], before any norm.
    pub(crate) fn heads_written(&mut self, per_head: Tensor) {
        self.pending_heads = Some(per_head);
    }

    /// The stream after the layer's attention, whose output went through `post_norm`
    /// (an RMSNorm's weight and ε) where the model norms it (Gemma 2 and 3).
    pub(crate) fn attention_added(&mut self, row: Vec<f32>, post_norm: Option<(Vec<f32>, f64)>) -> candle_core::Result<()> {
        let heads = self.pending_heads.take().map(|t| t.to_vec2::<f32>()).transpose()?.unwrap_or_default();
        let heads = match post_norm {
            // The norm sees the heads' sum (these projections have no bias): frozen at its scale.
            Some((weight, eps)) if !heads.is_empty() => {
                let width = weight.len();
                let sum: Vec<f64> = (0..width).map(|i| heads.iter().map(|h| h[i] as f64).sum()).collect();
                let scale = 1.0 / (sum.iter().map(|s| s * s).sum::<f64>() / width as f64 + eps).sqrt();
                heads.iter().map(|h| h.iter().zip(&weight).map(|(x, w)| (*x as f64 * scale * *w as f64) as f32).collect()).collect()
            }
            _ => heads,
        };
        self.heads.push(heads.concat());
        self.attention.push(difference(&row, &self.input));
        self.middle = row;
        Ok(())
    }

    /// The stream leaving the last layer.
    pub(crate) fn leaving(&mut self, row: Vec<f32>) {
        self.feed_forward.push(difference(&row, &self.middle));
        self.last = row;
    }
}

/// The answer's logit (minus the other token's, when there is one) split into every
/// writer's direct contribution: per head flat [layer, head], and the rest.
pub struct Attribution {
    pub per_head: Vec<f32>,
    pub others: Vec<Contribution>,
}

impl Attribution {
    /// Every contribution added up: the logit (or the difference) the split explains.
    pub fn total(&self) -> f64 {
        self.per_head.iter().chain(self.others.iter().map(|c| &c.value)).map(|&v| v as f64).sum()
    }
}

/// Splits the logit of `readout.rows[0]` (minus that of `rows[1]`, when given) among the
/// writers of `parts`.
pub fn attribute(parts: &LastPosition, readout: &Readout, heads: usize) -> Attribution {
    let width = parts.last.len();
    let direction: Vec<f64> = match readout.rows.as_slice() {
        [answer, versus, ..] => answer.iter().zip(versus).map(|(a, b)| *a as f64 - *b as f64).collect(),
        [answer] => answer.iter().map(|&a| a as f64).collect(),
        [] => vec![0.0; width],
    };
    let last: Vec<f64> = parts.last.iter().map(|&x| x as f64).collect();
    let mean = |x: &[f64]| x.iter().sum::<f64>() / width as f64;
    // The frozen norm as one linear map: contribution(c) = Σ_i f(c)_i · w_i · direction_i.
    let (weight, eps, centred, bias) = match &readout.norm {
        FinalNorm::Rms { weight, eps } => (weight, *eps, false, None),
        FinalNorm::Layer { weight, bias, eps } => (weight, *eps, true, Some(bias)),
    };
    let scale = if centred {
        let mu = mean(&last);
        1.0 / (last.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / width as f64 + eps).sqrt()
    } else {
        1.0 / (last.iter().map(|x| x * x).sum::<f64>() / width as f64 + eps).sqrt()
    };
    let read: Vec<f64> = weight.iter().zip(&direction).map(|(w, d)| *w as f64 * d * scale).collect();
    let contribution = |c: &[f32]| -> f32 {
        let c: Vec<f64> = c.iter().map(|&x| x as f64).collect();
        let shift = if centred { mean(&c) } else { 0.0 };
        c.iter().zip(&read).map(|(x, r)| (x - shift) * r).sum::<f64>() as f32
    };

    let mut per_head = Vec::with_capacity(parts.heads.len() * heads);
    let mut others = vec![Contribution { name: "embeddings".into(), value: contribution(&parts.embedding) }];
    for (layer, written) in parts.heads.iter().enumerate() {
        let own: Vec<f32> = written.chunks(width).map(contribution).collect();
        let rest = contribution(&parts.attention[layer]) - own.iter().sum::<f32>();
        per_head.extend(own);
        others.push(Contribution { name: format!("attention bias {layer}"), value: rest });
        others.push(Contribution { name: format!("feed-forward {layer}"), value: contribution(&parts.feed_forward[layer]) });
    }
    if let Some(bias) = bias {
        let value = bias.iter().zip(&direction).map(|(b, d)| *b as f64 * d).sum::<f64>() as f32;
        others.push(Contribution { name: "final norm bias".into(), value });
    }
    Attribution { per_head, others }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The terms of a hand-made stream add up to the logit computed through the norm.
    #[test]
    fn contributions_add_up_to_the_logit_through_either_norm() -> candle_core::Result<()> {
        let dev = candle_core::Device::Cpu;
        let mut parts = LastPosition::default();
        parts.entering(vec![1.0, -2.0, 0.5]);
        parts.heads_written(Tensor::new(&[[0.5f32, 0.0, 1.0], [-1.0, 1.0, 0.0]], &dev)?);
        parts.attention_added(vec![0.5, -1.0, 1.5], None)?; // the heads' sum, no bias
        parts.leaving(vec![0.0, 0.0, 2.0]); // the feed-forward wrote (-0.5, 1, 0.5)
        let rows = vec![vec![1.0f32, 2.0, 3.0], vec![0.0, 1.0, 0.0]];
        for norm in
            [FinalNorm::Rms { weight: vec![1.0, 0.5, 2.0], eps: 1e-6 }, FinalNorm::Layer { weight: vec![1.0, 0.5, 2.0], bias: vec![0.1, 0.2, 0.3], eps: 1e-6 }]
        {
            // The logit difference straight through the norm.
            let x = [0.0f64, 0.0, 2.0];
            let (w, b, centred, eps) = match &norm {
                FinalNorm::Rms { weight, eps } => (weight.clone(), vec![0.0; 3], false, *eps),
                FinalNorm::Layer { weight, bias, eps } => (weight.clone(), bias.clone(), true, *eps),
            };
            let mu = if centred { x.iter().sum::<f64>() / 3.0 } else { 0.0 };
            let s = (x.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / 3.0 + eps).sqrt();
            let normed: Vec<f64> = (0..3).map(|i| (x[i] - mu) / s * w[i] as f64 + b[i] as f64).collect();
            let logit = |row: &[f32]| normed.iter().zip(row).map(|(n, r)| n * *r as f64).sum::<f64>();
            let expected = logit(&rows[0]) - logit(&rows[1]);

            let split = attribute(&parts, &Readout { norm, rows: rows.clone(), softcap: None }, 2);
            assert_eq!(split.per_head.len(), 2);
            assert!((split.total() - expected).abs() < 1e-5, "{} vs {expected}", split.total());
            let bias = split.others.iter().find(|c| c.name == "attention bias 0").unwrap();
            assert!(bias.value.abs() < 1e-6, "no bias was written: {}", bias.value);
        }
        Ok(())
    }
}
