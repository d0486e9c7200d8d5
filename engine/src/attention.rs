//! Scaled dot-product attention that hands back its probabilities, and the masks.
//! Every architecture calls this one function, so every model's maps mean the same.

use candle_core::{DType, Device, Tensor};

use crate::report::Mask;

/// The additive mask for `tokens` positions: 0 where a query may look, -inf where it may not.
/// `None` for the unmasked run, which needs no addition at all.
pub fn additive_mask(mask: Mask, tokens: usize, device: &Device) -> candle_core::Result<Option<Tensor>> {
    match mask {
        Mask::None => Ok(None),
        Mask::Causal => {
            let values: Vec<f32> = (0..tokens)
                .flat_map(|q| (0..tokens).map(move |k| if k > q { f32::NEG_INFINITY } else { 0.0 }))
                .collect();
            // [q, k], broadcast over heads.
            Tensor::from_vec(values, (tokens, tokens), device).map(Some)
        }
    }
}

/// softmax(q·kᵀ / √d + mask) · v, keeping the softmax (and, when asked, q·kᵀ).
///
/// `q`: [heads, q, d]; `k`, `v`: [heads, k, d] (key/value heads already repeated
/// to match the query heads). Returns (output [heads, q, d], probabilities
/// [heads, q, k], raw scores q·kᵀ [heads, q, k] when `keep_scores`).
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    keep_scores: bool,
) -> candle_core::Result<(Tensor, Tensor, Option<Tensor>)> {
    let (_heads, _queries, head_dim) = q.dims3()?;
    let scale = 1.0 / (head_dim as f64).sqrt();
    let raw = q.contiguous()?.matmul(&k.t()?.contiguous()?)?; // [heads, q, k]
    let scores = (&raw * scale)?;
    let scores = match mask {
        Some(mask) => scores.broadcast_add(mask)?,
        None => scores,
    };
    let probs = candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?;
    let out = probs.matmul(&v.contiguous()?)?;
    Ok((out, probs, keep_scores.then_some(raw)))
}

/// What a forward pass keeps of its attention, layer after layer: every layer's
/// probabilities, and the raw scores q·kᵀ of one layer when asked for. Every
/// architecture attends through it, so they all keep the same things the same way.
pub struct Recorder {
    layer: usize,
    probabilities: Vec<f32>,
    scores_layer: Option<usize>,
    scores: Option<(usize, Vec<f32>)>,
}

impl Recorder {
    /// `capacity`: layers × heads × t × t; `scores_layer`: the layer whose q·kᵀ to keep.
    pub fn new(capacity: usize, scores_layer: Option<usize>) -> Self {
        Self { layer: 0, probabilities: Vec::with_capacity(capacity), scores_layer, scores: None }
    }

    /// Attends for the next layer (see [`attend`]) and keeps what is asked for.
    pub fn attend(&mut self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let keep_scores = self.scores_layer == Some(self.layer);
        let (out, probs, raw) = attend(q, k, v, mask, keep_scores)?;
        self.probabilities.extend(probs.flatten_all()?.to_vec1::<f32>()?);
        if let Some(raw) = raw {
            let head_dim = q.dim(2)?;
            self.scores = Some((head_dim, raw.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?));
        }
        self.layer += 1;
        Ok(out)
    }

    /// The probabilities, flat [layer, head, query, key], and the kept scores with the head size.
    pub fn finish(self) -> (Vec<f32>, Option<(usize, Vec<f32>)>) {
        (self.probabilities, self.scores)
    }
}

/// Repeats each key/value head `groups` times along the head axis, so that
/// query head h reads key/value head h / groups (grouped-query attention).
/// [kv_heads, t, d] -> [kv_heads * groups, t, d]
pub fn repeat_kv(x: &Tensor, groups: usize) -> candle_core::Result<Tensor> {
    if groups == 1 {
        return Ok(x.clone());
    }
    let (kv_heads, t, d) = x.dims3()?;
    x.unsqueeze(1)?
        .expand((kv_heads, groups, t, d))?
        .reshape((kv_heads * groups, t, d))
}

/// Splits [t, heads * d] into [heads, t, d].
pub fn split_heads(x: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (t, width) = x.dims2()?;
    x.reshape((t, heads, width / heads))?.transpose(0, 1)?.contiguous()
}

/// Joins [heads, t, d] back into [t, heads * d].
pub fn merge_heads(x: &Tensor) -> candle_core::Result<Tensor> {
    let (heads, t, d) = x.dims3()?;
    x.transpose(0, 1)?.contiguous()?.reshape((t, heads * d))
}



#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_mask_hides_later_keys_and_rows_sum_to_one() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // One head, three tokens, d = 2: hand-picked so that scores differ.
        let q = Tensor::new(&[[[1f32, 0.], [0., 1.], [1., 1.]]], &dev)?;
        let k = q.clone();
        let v = Tensor::new(&[[[1f32, 0.], [0., 1.], [0.5, 0.5]]], &dev)?;
        let mask = additive_mask(Mask::Causal, 3, &dev)?;
        let (_, probs, _) = attend(&q, &k, &v, mask.as_ref(), false)?;
        let p = probs.squeeze(0)?.to_vec2::<f32>()?;
        assert_eq!(p[0], vec![1.0, 0.0, 0.0]);
        assert_eq!(p[1][2], 0.0);
        // Row 1: scores [0, 1/√2] → softmax by hand.
        let e = (1.0f32 / 2f32.sqrt()).exp();
        assert!((p[1][1] - e / (1.0 + e)).abs() < 1e-6);
        for row in &p {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        Ok(())
    }

    #[test]
    fn unmasked_attention_of_equal_keys_is_uniform() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let q = Tensor::new(&[[[1f32, 2.], [3., 4.]]], &dev)?;
        let k = Tensor::new(&[[[1f32, 1.], [1., 1.]]], &dev)?;
        let (_, probs, _) = attend(&q, &k, &k, None, false)?;
        assert_eq!(probs.flatten_all()?.to_vec1::<f32>()?, vec![0.5; 4]);
        Ok(())
    }

    #[test]
    fn repeat_kv_maps_query_head_to_its_group() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // Two kv heads of one token, one dim: values 10 and 20.
        let kv = Tensor::new(&[[[10f32]], [[20f32]]], &dev)?;
        let r = repeat_kv(&kv, 3)?.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(r, vec![10., 10., 10., 20., 20., 20.]);
        Ok(())
    }
}
