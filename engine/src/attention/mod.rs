//! Scaled dot-product attention that hands back its probabilities, and the masks.
//! Every architecture attends through this one function (by way of the forward loop's
//! [`crate::forward::Attending`]), so every model's maps mean the same.

use candle_core::{DType, Device, Tensor};

pub mod pooled;

pub use pooled::{attend_pooled, Pooled, QUERY_ROWS};

use crate::kernels::{softmax_scaled, softmax_scaled_masked};
use crate::products::attention_product;
use crate::report::{Mask, Scoring};

/// The additive mask for `tokens` positions: 0 where a query may look, -inf where it may not.
/// `None` for the unmasked run, which needs no addition at all.
pub fn additive_mask(mask: Mask, tokens: usize, device: &Device) -> candle_core::Result<Option<Tensor>> {
    additive_mask_from(mask, None, 0, tokens, device)
}

/// The additive mask for the queries at positions `start..tokens` over all `tokens` keys
/// (a run that continues from cached keys and values), on a layer with sliding window
/// `window` (see [`Mask::sees`]): [tokens - start, tokens].
pub fn additive_mask_from(mask: Mask, window: Option<usize>, start: usize, tokens: usize, device: &Device) -> candle_core::Result<Option<Tensor>> {
    if mask == Mask::None {
        return Ok(None);
    }
    let mut values = Vec::with_capacity((tokens - start) * tokens);
    for q in start..tokens {
        values.extend((0..tokens).map(|k| if mask.sees(q, k, window) { 0.0 } else { f32::NEG_INFINITY }));
    }
    // [q, k], broadcast over heads.
    Tensor::from_vec(values, (tokens - start, tokens), device).map(Some)
}

/// softmax(scoring(q·kᵀ) + mask) · v, keeping the softmax (and, when asked, q·kᵀ);
/// `scoring` is × 1/√d for most models (see [`Scoring`]).
///
/// `q`: [heads, q, d]; `k`, `v`: [heads, k, d] (key/value heads already repeated
/// to match the query heads). Returns (output [heads, q, d], probabilities
/// [heads, q, k], raw scores q·kᵀ [heads, q, k] when `keep_scores`).
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scoring: Scoring,
    keep_scores: bool,
) -> candle_core::Result<(Tensor, Tensor, Option<Tensor>)> {
    let heads = q.dim(0)?;
    let ranges = crate::parallel::ranges(heads, crate::parallel::parts());
    // Heads attend apart: with several threads, a group of heads on each.
    let groups = crate::parallel::each_part(ranges.len(), |part| -> candle_core::Result<(Tensor, Tensor, Option<Tensor>)> {
        let range = ranges[part].clone();
        let group = |x: &Tensor| if ranges.len() == 1 { Ok(x.clone()) } else { x.narrow(0, range.start, range.len()) };
        let (probs, raw) = probabilities(&group(q)?, &group(k)?, mask, scoring, keep_scores)?;
        let out = attention_product(&probs, &group(v)?)?;
        Ok((out, probs, raw))
    });
    let mut groups = groups.into_iter().collect::<candle_core::Result<Vec<_>>>()?;
    if groups.len() == 1 {
        return Ok(groups.remove(0));
    }
    let join = |parts: Vec<&Tensor>| Tensor::cat(&parts, 0);
    let (out, probs) = (join(groups.iter().map(|g| &g.0).collect())?, join(groups.iter().map(|g| &g.1).collect())?);
    let raw = groups.iter().map(|g| g.2.as_ref()).collect::<Option<Vec<_>>>().map(join).transpose()?;
    Ok((out, probs, raw))
}

/// softmax(scoring(q·kᵀ) + mask) and, when `keep_raw`, q·kᵀ, [heads, q, k]: the maps
/// [`attend`] weighs the values by, and a head's map computed again from the queries and
/// keys a run kept.
pub fn probabilities(q: &Tensor, k: &Tensor, mask: Option<&Tensor>, scoring: Scoring, keep_raw: bool) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    let raw = attention_product(q, &k.t()?.contiguous()?)?; // [heads, q, k]
    weights_of(raw, mask, scoring, keep_raw)
}

/// [`probabilities`] (the raw scores not kept) and each row's entropy in bits, [heads · q],
/// from the softmax itself where it can give them (`None` where it cannot: a soft-capped
/// model's scores, a mask that does not fit; the caller then takes them from the weights).
pub fn probabilities_and_entropies(q: &Tensor, k: &Tensor, mask: Option<&Tensor>, scoring: Scoring) -> candle_core::Result<(Tensor, Option<Vec<f32>>)> {
    let raw = attention_product(q, &k.t()?.contiguous()?)?; // [heads, q, k]
    if scoring.softcap.is_none() {
        if let Some(bits) = crate::kernels::softmax_and_entropies_where_possible(&raw, scoring.scale, mask)? {
            return Ok((raw, Some(bits)));
        }
    }
    Ok((weights_of(raw, mask, scoring, false)?.0, None))
}

/// The weights of the raw scores q·kᵀ `raw` [heads, q, k], and the raw scores when kept.
fn weights_of(raw: Tensor, mask: Option<&Tensor>, scoring: Scoring, keep_raw: bool) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    // The scores not kept become the weights where they lie (the product's own tensor).
    if !keep_raw && scoring.softcap.is_none() && crate::kernels::softmax_in_place_where_possible(&raw, scoring.scale, mask)? {
        return Ok((raw, None));
    }
    // Scaled inside the softmax when nothing else comes between: one pass over the scores.
    let probs = if scoring.softcap.is_none() && mask.is_none() {
        softmax_scaled(&raw, scoring.scale)?
    } else if let (None, Some(mask)) = (scoring.softcap, mask) {
        softmax_scaled_masked(&raw, scoring.scale, mask)?
    } else {
        let scores = (&raw * scoring.scale as f64)?;
        let scores = match scoring.softcap {
            Some(cap) => ((scores / cap as f64)?.tanh()? * cap as f64)?,
            None => scores,
        };
        let scores = match mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        softmax_scaled(&scores.contiguous()?, 1.0)?
    };
    Ok((probs, keep_raw.then_some(raw)))
}

/// Calls `f` with a float32 tensor's values, in place when it is contiguous on the CPU (a
/// long text's maps are too big to copy twice: 1.1 GB at 1,024 tokens of SmolLM2).
pub fn with_slice<T>(tensor: &Tensor, f: impl FnOnce(&[f32]) -> T) -> candle_core::Result<T> {
    let (storage, layout) = tensor.storage_and_layout();
    if let (candle_core::Storage::Cpu(cpu), Some((start, end)), DType::F32) = (&*storage, layout.contiguous_offsets(), tensor.dtype()) {
        return Ok(f(&cpu.as_slice::<f32>()?[start..end]));
    }
    drop(storage);
    Ok(f(&tensor.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?))
}

/// `v`: [heads, t, d] (bias included, key/value heads repeated); `output_weight`:
/// the output projection as a `Linear` holds it, [hidden, heads * d]. Returns [heads, t].
pub fn value_norms(v: &Tensor, output_weight: &Tensor) -> candle_core::Result<Tensor> {
    let (heads, _t, d) = v.dims3()?;
    let f = v.contiguous()?.to_dtype(DType::F32)?.matmul(&per_head_output_weight(output_weight, heads, d)?)?; // [heads, t, hidden]
    f.sqr()?.sum(2)?.sqrt()
}

/// Each head's slice of the output projection, transposed: [hidden, heads * d] (as a
/// `Linear` holds it) -> [heads, d, hidden], so that z_h · W_O,h is one batched product.
pub(crate) fn per_head_output_weight(output_weight: &Tensor, heads: usize, d: usize) -> candle_core::Result<Tensor> {
    let hidden = output_weight.dim(0)?;
    output_weight.reshape((hidden, heads, d))?.permute((1, 2, 0))?.contiguous()?.to_dtype(DType::F32)
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
        let (_, probs, _) = attend(&q, &k, &v, mask.as_ref(), Scoring::standard(2), false)?;
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
    fn a_continued_run_masks_as_the_rows_of_the_full_run() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let full = additive_mask(Mask::Causal, 4, &dev)?.unwrap();
        let tail = additive_mask_from(Mask::Causal, None, 2, 4, &dev)?.unwrap();
        assert_eq!(tail.to_vec2::<f32>()?, full.narrow(0, 2, 2)?.to_vec2::<f32>()?);
        Ok(())
    }

    #[test]
    fn a_sliding_window_hides_keys_older_than_it_under_the_models_own_mask_only() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let visible = |mask: Mask| -> candle_core::Result<Vec<Vec<bool>>> {
            let m = additive_mask_from(mask, Some(2), 0, 4, &dev)?.unwrap().to_vec2::<f32>()?;
            Ok(m.iter().map(|row| row.iter().map(|&v| v == 0.0).collect()).collect())
        };
        // Window 2: query 3 sees keys 2 and 3 only.
        assert_eq!(visible(Mask::Causal)?[3], [false, false, true, true]);
        assert_eq!(visible(Mask::Causal)?[0], [true, false, false, false]);
        assert_eq!(visible(Mask::PlainCausal)?[3], [true, true, true, true]);
        assert!(additive_mask_from(Mask::None, Some(2), 0, 4, &dev)?.is_none());
        Ok(())
    }

    #[test]
    fn unmasked_attention_of_equal_keys_is_uniform() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let q = Tensor::new(&[[[1f32, 2.], [3., 4.]]], &dev)?;
        let k = Tensor::new(&[[[1f32, 1.], [1., 1.]]], &dev)?;
        let (_, probs, _) = attend(&q, &k, &k, None, Scoring::standard(2), false)?;
        assert_eq!(probs.flatten_all()?.to_vec1::<f32>()?, vec![0.5; 4]);
        Ok(())
    }

    #[test]
    fn value_norms_read_each_heads_slice_of_the_output_projection() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // Two heads of d = 1, two tokens; values: head 0 [1, 2], head 1 [3, 4].
        let v = Tensor::new(&[[[1f32], [2.]], [[3.], [4.]]], &dev)?;
        // W_O [hidden = 2, heads * d = 2]: head 0 writes (3, 4), head 1 writes (0, 1).
        let w = Tensor::new(&[[3f32, 0.], [4., 1.]], &dev)?;
        // Head 0: ‖1·(3, 4)‖ = 5, ‖2·(3, 4)‖ = 10; head 1: ‖3·(0, 1)‖ = 3, 4.
        let norms = value_norms(&v, &w)?.to_vec2::<f32>()?;
        assert_eq!(norms, vec![vec![5.0, 10.0], vec![3.0, 4.0]]);
        Ok(())
    }
}
