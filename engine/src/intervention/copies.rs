//! Attention with heads changed: for one input, or for several copies of one input run
//! together (a sweep's heads of one layer), each copy changed its own way.

use candle_core::Tensor;

use super::Changes;
use crate::attention::attend;
use crate::report::Scoring;

/// [`attend`] with `changes[c]` made to copy c at `layer`: `q`, `k`, `v` [heads, copies · t, d]
/// (the copies' rows one after another) → output [heads, copies · t, d], probabilities
/// [copies · heads, t, keys]. One copy with no changes attends as it is.
// The attention's own arguments (as `attend` takes them) and the changes to make.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend_changed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scoring: Scoring,
    keep_raw: bool,
    changes: &[Changes],
    layer: usize,
) -> candle_core::Result<(Tensor, Tensor, Option<Tensor>)> {
    let copies = changes.len().max(1);
    if copies == 1 {
        let (out, probs, raw) = attend(q, k, v, mask, scoring, keep_raw)?;
        return match changes.first().and_then(|c| c.layer(layer)) {
            Some(change) => {
                let (out, probs) = change.apply(out, probs, v)?;
                Ok((out, probs, raw))
            }
            None => Ok((out, probs, raw)),
        };
    }
    let (heads, rows, d) = q.dims3()?;
    let t = rows / copies;
    // [heads, copies · t, d] -> [copies · heads, t, d]: each copy's heads one after another.
    let apart = |x: &Tensor| x.reshape((heads, copies, t, d))?.transpose(0, 1)?.reshape((copies * heads, t, d));
    let v = apart(v)?;
    let (out, probs, _) = attend(&apart(q)?, &apart(k)?, &v, mask, scoring, false)?;
    let mut outs = Vec::with_capacity(copies);
    let mut all_probs = Vec::with_capacity(copies);
    for (copy, changes) in changes.iter().enumerate() {
        let (o, p) = (out.narrow(0, copy * heads, heads)?, probs.narrow(0, copy * heads, heads)?);
        let (o, p) = match changes.layer(layer) {
            Some(layer) => layer.apply(o, p, &v.narrow(0, copy * heads, heads)?)?,
            None => (o, p),
        };
        outs.push(o);
        all_probs.push(p);
    }
    // Back to [heads, copies · t, d].
    let out = Tensor::cat(&outs, 0)?.reshape((copies, heads, t, d))?.transpose(0, 1)?.reshape((heads, rows, d))?;
    Ok((out, Tensor::cat(&all_probs, 0)?, None))
}
