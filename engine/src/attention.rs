//! Scaled dot-product attention that hands back its probabilities, and the masks.
//! Every architecture calls this one function, so every model's maps mean the same.

use candle_core::{DType, Device, Tensor};

use crate::analysis::heads::{Exclusions, HeadScores, Matches, ScoreSums};
use crate::intervention::attribution::{last_row, LastPosition};
use crate::intervention::Changes;
use crate::kernels::{softmax_scaled, softmax_scaled_masked};
use crate::matrix_product::attention_product;
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

/// A stretch of a pooled run's query rows: its first row, how many, the keys they may see and
/// the mask's rows for them (narrowed to those keys).
struct Stretch {
    start: usize,
    n: usize,
    seen: std::ops::Range<usize>,
    mask: Option<Tensor>,
}

/// The keys `mask` ([.., rows, keys]: 0 where a query may look, -inf where not) lets any of
/// its rows see, widened to whole blocks of `block` keys. A stretch of rows attends to these
/// only: a causal one sees no key after its last query, a sliding window none far before its
/// first; the softmax over the rest is the same, as the keys left out weigh exactly 0.
fn visible_keys(mask: Option<&Tensor>, keys: usize, block: usize) -> candle_core::Result<std::ops::Range<usize>> {
    let Some(mask) = mask.filter(|m| m.dims().last() == Some(&keys) && keys > 0) else { return Ok(0..keys) };
    let seen = |m: &f32| *m != f32::NEG_INFINITY;
    let (first, end) = with_slice(mask, |values| {
        values.chunks_exact(keys).fold((keys, 0), |(first, end), row| match (row.iter().position(seen), row.iter().rposition(seen)) {
            (Some(f), Some(l)) => (first.min(f), end.max(l + 1)),
            _ => (first, end),
        })
    })?;
    if first >= end {
        return Ok(0..keys);
    }
    let block = block.max(1);
    // The first key a multiple of the block (each block of columns is pooled from one
    // stretch) and of the softmax's lanes (a row's sum then takes its values in the lanes
    // the whole row would: the same bits, see `kernels::lane_sum`).
    let align = lcm(block, crate::kernels::LANES);
    Ok(first / align * align..(end.div_ceil(block) * block).min(keys))
}

/// The least common multiple of two positive numbers.
fn lcm(a: usize, b: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    a / gcd(a, b) * b
}

/// The length of what each token's value carries into the residual stream through
/// each head: ‖f_h(x_j)‖ with f_h(x) = (x W_V + b_V)_h W_O,h (Kobayashi et al., 2020),
/// W_O,h being the columns of the output projection that read head h.
///
/// `v`: [heads, t, d] (bias included, key/value heads repeated); `output_weight`:
/// the output projection as a `Linear` holds it, [hidden, heads * d]. Returns [heads, t].
pub fn value_norms(v: &Tensor, output_weight: &Tensor) -> candle_core::Result<Tensor> {
    let (heads, _t, d) = v.dims3()?;
    let f = v.contiguous()?.to_dtype(DType::F32)?.matmul(&per_head_output_weight(output_weight, heads, d)?)?; // [heads, t, hidden]
    f.sqr()?.sum(2)?.sqrt()
}

/// Each head's slice of the output projection, transposed: [hidden, heads * d] (as a
/// `Linear` holds it) -> [heads, d, hidden], so that z_h · W_O,h is one batched product.
fn per_head_output_weight(output_weight: &Tensor, heads: usize, d: usize) -> candle_core::Result<Tensor> {
    let hidden = output_weight.dim(0)?;
    output_weight.reshape((hidden, heads, d))?.permute((1, 2, 0))?.contiguous()?.to_dtype(DType::F32)
}

/// What a forward pass keeps of its attention, layer after layer: every layer's
/// probabilities; the raw scores q·kᵀ of one layer, and every head's value norms,
/// when asked for. Every architecture attends through it, so they all keep the same
/// things the same way, and a plain run computes nothing it does not keep.
///
/// It also carries what an intervention needs (see [`crate::intervention`]): heads to
/// change as they attend, a layer to start from with the residual stream entering it,
/// and, for a traced run, the streams, the head outputs and the last position by writer.
/// A network that can be changed tells it where each layer and sublayer begins and ends
/// ([`Recorder::entering_layer`], [`Recorder::attention_added`], [`Recorder::leaving`]).
pub struct Recorder {
    layer: usize,
    keep_maps: bool,
    probabilities: Vec<f32>,
    scores_layer: Option<usize>,
    scores: Option<(usize, Scoring, Vec<f32>)>,
    /// ‖f_h(x_j)‖, flat [layer, head, token], when asked for.
    value_norms: Option<Vec<f32>>,
    /// Per copy of the input in the batch (see [`Recorder::batched`]): what to change.
    changes: Vec<Changes>,
    resume: Option<(usize, Tensor)>,
    traced: Option<Traced>,
    /// Keep each map pooled into blocks of this size, not whole (a long text).
    pool: Option<usize>,
    /// Each layer's queries and keys as attention saw them, when kept.
    kept: Option<Vec<KeptLayer>>,
    /// The layer before which the run pauses (a long run goes a few layers at a time, so
    /// its caller can answer other requests between them), and the residual stream the run
    /// paused with: see [`Recorder::pausing_before`].
    pause_before: Option<usize>,
    paused: Option<(usize, Tensor)>,
    /// A pooled run's head scores, summed stretch by stretch: the text's matches and each
    /// head's sums, [layer · heads + head] (see [`Recorder::scoring_heads`]).
    head_sums: Option<(Matches, Vec<ScoreSums>)>,
    /// The masks this run's forward passes made, by what they are of (see [`Recorder::mask`]).
    masks: Vec<((Mask, Option<usize>, usize, usize), Option<Tensor>)>,
}

/// What a paused run's forward returns as its error (see [`Recorder::pausing_before`]).
const PAUSED: &str = "the run paused between layers";

/// How many query rows a pooled run attends at once (see [`Recorder::attend_pooled`]).
pub const QUERY_ROWS: usize = 256;

/// What computes any head's map of a layer again: its queries and keys after position
/// encoding (keys repeated to the query heads), its mask and scoring.
#[derive(Clone)]
pub struct KeptLayer {
    /// [heads, q, d].
    q: Tensor,
    /// [heads, k, d].
    k: Tensor,
    mask: Option<Tensor>,
    scoring: Scoring,
}

impl KeptLayer {
    /// Head `head`'s whole map, flat [q, k], as the run computed it.
    pub fn map(&self, head: usize) -> candle_core::Result<Vec<f32>> {
        let one = |x: &Tensor| x.narrow(0, head, 1);
        let (probs, _) = probabilities(&one(&self.q)?, &one(&self.k)?, self.mask.as_ref(), self.scoring, false)?;
        probs.flatten_all()?.to_vec1::<f32>()
    }

    /// How many heads the layer has.
    pub fn heads(&self) -> usize {
        self.q.dims().first().copied().unwrap_or(0)
    }
}

/// What a traced run keeps for changed runs to start from.
pub struct Traced {
    /// The residual stream entering each layer, [t, hidden].
    pub residuals: Vec<Tensor>,
    /// Each layer's head outputs, [heads, t, d].
    pub outputs: Vec<Tensor>,
    pub last: LastPosition,
}

/// What a forward pass kept: see [`Recorder::finish`].
pub struct Recorded {
    /// Flat [layer, head, query, key].
    pub probabilities: Vec<f32>,
    /// The asked-for layer's q·kᵀ, flat [head, query, key], with the head size and scoring.
    pub scores: Option<(usize, Scoring, Vec<f32>)>,
    /// Flat [layer, head, token].
    pub value_norms: Option<Vec<f32>>,
    pub traced: Option<Traced>,
    /// Each layer's queries and keys, when kept ([`Recorder::keeping_queries_and_keys`]).
    pub kept: Option<Vec<KeptLayer>>,
    /// Every head's scores, in (layer, head) order, when summed ([`Recorder::scoring_heads`]).
    pub head_scores: Option<Vec<HeadScores>>,
    /// The sums they come from, in the same order.
    pub head_sums: Option<Vec<ScoreSums>>,
}

impl Recorder {
    /// `capacity`: layers × heads × t × t; `scores_layer`: the layer whose q·kᵀ to keep;
    /// `value_norms`: whether to keep every head's ‖f(x_j)‖.
    pub fn new(capacity: usize, scores_layer: Option<usize>, value_norms: bool) -> Self {
        Self {
            layer: 0,
            keep_maps: true,
            probabilities: Vec::with_capacity(capacity),
            scores_layer,
            scores: None,
            value_norms: value_norms.then(Vec::new),
            changes: Vec::new(),
            resume: None,
            traced: None,
            pool: None,
            kept: None,
            pause_before: None,
            paused: None,
            head_sums: None,
            masks: Vec::new(),
        }
    }

    /// Sums every head's scores as it attends (a pooled run's maps cannot be scored after):
    /// `ids` are the text's tokens.
    pub fn scoring_heads(self, ids: &[u32]) -> Self {
        self.scoring_with(Matches::of(ids))
    }

    /// The same with the cells to score given (the induction probe's, [`Matches::probe`]).
    pub fn scoring_with(mut self, matches: Matches) -> Self {
        self.head_sums = Some((matches, Vec::new()));
        self
    }

    /// Keeps each map pooled into `block` × `block` blocks ([`crate::report::pool_blocks`]).
    pub fn pooling(mut self, block: usize) -> Self {
        self.pool = Some(block.max(1));
        self
    }

    /// Keeps each layer's queries and keys, to compute any head's whole map again (a pooled
    /// run's: see [`Recorder::attend_pooled`]).
    pub fn keeping_queries_and_keys(mut self) -> Self {
        self.kept = Some(Vec::new());
        self
    }

    /// Pauses the run as it enters `layer`: the network's forward returns an error, and
    /// [`Recorder::take_paused`] holds the layer and the residual stream entering it, from
    /// which the same recorder resumes ([`Recorder::resuming`]). A network that can resume
    /// tells [`Recorder::entering_layer`] each layer, so every such network can pause.
    pub(crate) fn pausing_before(&mut self, layer: Option<usize>) {
        self.pause_before = layer;
    }

    /// Where the run paused, if it did: the layer and the residual stream entering it.
    pub(crate) fn take_paused(&mut self) -> Option<(usize, Tensor)> {
        self.paused.take()
    }

    /// The maps kept so far, flat [layer, head, ..] (a paused run's layers before the pause).
    pub(crate) fn maps_so_far(&self) -> &[f32] {
        &self.probabilities
    }

    /// The queries and keys kept so far (a paused run's attended layers; none when not kept).
    pub(crate) fn kept_so_far(&self) -> &[KeptLayer] {
        self.kept.as_deref().unwrap_or_default()
    }

    /// Keeps no maps (a sweep reads only the logits).
    pub fn without_maps(mut self) -> Self {
        self.keep_maps = false;
        self
    }

    /// Changes heads as they attend.
    pub(crate) fn changing(mut self, changes: Changes) -> Self {
        self.changes = vec![changes];
        self
    }

    /// Runs several copies of one input at once, each changed its own way: the residual
    /// stream holds the copies one after another ([copies · t, hidden]), so every
    /// projection reads its weights once for all of them (a sweep's heads of one layer).
    /// Only attention tells the copies apart. A resumed run only (see [`Recorder::resuming`]).
    pub(crate) fn batched(mut self, changes: Vec<Changes>) -> Self {
        self.changes = changes;
        self
    }

    /// How many copies of the input run together (1 but in a batched sweep).
    pub fn copies(&self) -> usize {
        self.changes.len().max(1)
    }

    /// Per-position tables ([t, ..]) repeated for every copy in the batch ([copies · t, ..]).
    pub fn for_each_copy(&self, table: Tensor) -> candle_core::Result<Tensor> {
        match self.copies() {
            1 => Ok(table),
            copies => table.repeat((copies, 1)),
        }
    }

    /// The last position of every copy of `x` [copies · t, hidden]: [copies, hidden].
    pub fn last_rows(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, hidden) = x.dims2()?;
        let copies = self.copies();
        x.reshape((copies, rows / copies, hidden))?.narrow(1, rows / copies - 1, 1)?.squeeze(1)
    }

    /// Starts the run at `layer`, the residual stream entering it being `x`, [t, hidden]
    /// (the layers before are not run, and their maps not kept).
    pub(crate) fn resuming(mut self, layer: usize, x: Tensor) -> Self {
        self.resume_at(layer, x);
        self
    }

    /// [`Recorder::resuming`] for a recorder kept across calls (a paused run's).
    pub(crate) fn resume_at(&mut self, layer: usize, x: Tensor) {
        self.layer = layer;
        self.resume = Some((layer, x));
    }

    /// Keeps what changed runs start from (see [`Traced`]).
    pub(crate) fn tracing(mut self) -> Self {
        self.traced = Some(Traced { residuals: Vec::new(), outputs: Vec::new(), last: LastPosition::default() });
        self
    }

    /// The additive mask ([`additive_mask_from`]) of queries `start..tokens` on a layer with
    /// sliding window `window`, made once per run: a run that pauses between layers calls its
    /// network's forward again for each stretch of layers, and a long text's mask is tens of
    /// MB (67 MB at 4,096 tokens) that took longer to make than some of its layers.
    pub fn mask(&mut self, mask: Mask, window: Option<usize>, start: usize, tokens: usize, device: &Device) -> candle_core::Result<Option<Tensor>> {
        let key = (mask, window, start, tokens);
        if let Some((_, made)) = self.masks.iter().find(|(k, _)| *k == key) {
            return Ok(made.clone());
        }
        let made = additive_mask_from(mask, window, start, tokens, device)?;
        self.masks.push((key, made.clone()));
        Ok(made)
    }

    /// Where a network starts: the layer and the residual stream entering it, when the run
    /// resumes (else it embeds the tokens and starts at layer 0).
    pub fn take_resume(&mut self) -> Option<(usize, Tensor)> {
        self.resume.take()
    }

    /// The residual stream entering the next layer, [new, hidden].
    pub fn entering_layer(&mut self, x: &Tensor) -> candle_core::Result<()> {
        if self.pause_before == Some(self.layer) {
            self.paused = Some((self.layer, x.clone()));
            return Err(candle_core::Error::Msg(PAUSED.into()));
        }
        if let Some(traced) = self.traced.as_mut() {
            traced.residuals.push(x.clone());
            traced.last.entering(last_row(x)?);
        }
        Ok(())
    }

    /// The residual stream after the layer's attention joined it, [new, hidden]; `post_norm`:
    /// the RMSNorm weight the attention's output went through first, where the model has one.
    pub fn attention_added(&mut self, x: &Tensor, post_norm: Option<&Tensor>, eps: f64) -> candle_core::Result<()> {
        if let Some(traced) = self.traced.as_mut() {
            let post_norm = post_norm.map(|w| w.to_dtype(DType::F32)?.to_vec1::<f32>()).transpose()?;
            traced.last.attention_added(last_row(x)?, post_norm.map(|w| (w, eps)))?;
        }
        Ok(())
    }

    /// The residual stream leaving the last layer, [new, hidden].
    pub fn leaving(&mut self, x: &Tensor) -> candle_core::Result<()> {
        if let Some(traced) = self.traced.as_mut() {
            traced.last.leaving(last_row(x)?);
        }
        Ok(())
    }

    /// Attends for the next layer (see [`attend`]), changes the heads an intervention
    /// names, and keeps what is asked for. `output_weight`: gives the layer's output
    /// projection, [hidden, heads * d], called only for the value norms and a trace (a
    /// quantized weight is de-quantized only then).
    pub fn attend(
        &mut self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        scoring: Scoring,
        output_weight: impl FnOnce() -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        if let Some(block) = self.pool {
            return self.attend_pooled(q, k, v, mask, scoring, block);
        }
        let keep_scores = self.scores_layer == Some(self.layer);
        let (out, probs, raw) = if self.copies() == 1 {
            let (out, probs, raw) = attend(q, k, v, mask, scoring, keep_scores)?;
            match self.changes.first().and_then(|c| c.layer(self.layer)) {
                Some(changes) => {
                    let (out, probs) = changes.apply(out, probs, v)?;
                    (out, probs, raw)
                }
                None => (out, probs, raw),
            }
        } else {
            let (out, probs) = self.attend_copies(q, k, v, mask, scoring)?;
            (out, probs, None)
        };
        if self.keep_maps {
            with_slice(&probs, |maps| self.probabilities.extend_from_slice(maps))?;
        }
        if let Some(raw) = raw {
            let head_dim = q.dim(2)?;
            self.scores = Some((head_dim, scoring, raw.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?));
        }
        let weight = if self.value_norms.is_some() || self.traced.is_some() { Some(output_weight()?) } else { None };
        if let (Some(norms), Some(weight)) = (self.value_norms.as_mut(), &weight) {
            norms.extend(value_norms(v, weight)?.flatten_all()?.to_vec1::<f32>()?);
        }
        if let (Some(traced), Some(weight)) = (self.traced.as_mut(), &weight) {
            // Each head's write at the last position: z_h · W_O,h, [heads, hidden].
            let (heads, new, d) = out.dims3()?;
            let last = out.narrow(1, new - 1, 1)?.to_dtype(DType::F32)?; // [heads, 1, d]
            traced.last.heads_written(last.matmul(&per_head_output_weight(weight, heads, d)?)?.squeeze(1)?);
            traced.outputs.push(out.clone());
        }
        self.layer += 1;
        Ok(out)
    }

    /// A pooled run's attention ([`Recorder::pooling`]), a stretch of query rows at a time:
    /// a long text's whole probabilities at once would be 604 MB a layer at 4,096 tokens of
    /// SmolLM2 (and its raw scores as much again); a stretch of [`QUERY_ROWS`] rows is a
    /// few tens of MB. Each row's softmax is its own, so the rows come out as the whole
    /// layer's would; the stretches are whole blocks, so each block row is pooled from one.
    fn attend_pooled(&mut self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, scoring: Scoring, block: usize) -> candle_core::Result<Tensor> {
        if !self.changes.is_empty() || self.traced.is_some() || self.value_norms.is_some() || self.scores_layer.is_some() {
            return Err(candle_core::Error::Msg("a pooled run keeps block means only: it cannot be changed, traced, or keep norms or raw scores".into()));
        }
        let (heads, rows, _) = q.dims3()?; // q: [heads, rows, d]
        let keys = k.dim(1)?;
        let stretch = (QUERY_ROWS / block).max(1) * block;
        let (row_blocks, column_blocks) = (rows.div_ceil(block), keys.div_ceil(block));
        let mut pooled = vec![0.0f32; heads * row_blocks * column_blocks]; // [heads, row blocks, column blocks]
        let v = v.contiguous()?;
        // Each stretch's mask rows and the keys they may see (a causal stretch none after its
        // last query), found once for all its heads.
        let mut stretches = Vec::with_capacity(rows.div_ceil(stretch));
        for start in (0..rows).step_by(stretch) {
            let n = stretch.min(rows - start);
            // The mask's rows for these queries, [n, keys] (a mask of one row is broadcast).
            let mask = match mask {
                Some(m) if m.dim(m.rank() - 2)? == rows => Some(m.narrow(m.rank() - 2, start, n)?),
                other => other.cloned(),
            };
            let seen = visible_keys(mask.as_ref(), keys, block)?;
            let mask = match mask {
                Some(m) if seen.len() < keys => Some(m.narrow(m.rank() - 1, seen.start, seen.len())?.contiguous()?),
                other => other,
            };
            stretches.push(Stretch { start, n, seen, mask });
        }
        // On one thread a stretch's heads attend together; with several, each (stretch, head)
        // is a piece of its own and the threads take pieces as they finish: nine heads split
        // five and four, and late causal stretches cost more than early ones.
        let groups = if crate::parallel::parts() > 1 { (0..heads).map(|h| h..h + 1).collect() } else { vec![0..heads] };
        let pieces: Vec<(usize, std::ops::Range<usize>)> = (0..stretches.len()).flat_map(|s| groups.iter().map(move |g| (s, g.clone()))).collect();
        let matches = self.head_sums.as_ref().map(|(m, _)| m);
        let attended = crate::parallel::each_piece(pieces.len(), |p| -> candle_core::Result<(Tensor, Vec<f32>, Vec<ScoreSums>)> {
            let (Stretch { start, n, seen, mask }, range) = (&stretches[pieces[p].0], pieces[p].1.clone());
            let (start, n) = (*start, *n);
            let group = |x: &Tensor| x.narrow(0, range.start, range.len());
            let (k, v) = (group(k)?.narrow(1, seen.start, seen.len())?, group(&v)?.narrow(1, seen.start, seen.len())?);
            let (probs, _) = probabilities(&group(&q.narrow(1, start, n)?)?, &k, mask.as_ref(), scoring, false)?; // [group, n, seen]
            let out = attention_product(&probs, &v)?; // [group, n, d]
            let (part, sums) = with_slice(&probs, |maps| {
                // Each head's scores over these rows, from the weights as they are here.
                let sums = maps
                    .chunks_exact(n * seen.len())
                    .map(|rows| {
                        let mut sums = ScoreSums::default();
                        if let Some(matches) = matches {
                            sums.add_rows(rows, start, seen.clone(), matches, Exclusions::default());
                        }
                        sums
                    })
                    .collect();
                (crate::report::pool_blocks(maps, range.len(), (n, seen.len()), block), sums) // [group, count, columns]
            })?;
            Ok((out, part, sums))
        });
        let mut sums_of_layer = vec![ScoreSums::default(); heads];
        let mut outs = vec![Vec::with_capacity(stretches.len()); groups.len()]; // [group][stretch]: [group, n, d]
        for ((s, range), attended) in pieces.iter().zip(attended) {
            let (out, part, sums) = attended?;
            let Stretch { start, n, seen, .. } = &stretches[*s];
            let (first, count, first_column, columns) = (start / block, n.div_ceil(block), seen.start / block, seen.len().div_ceil(block));
            for (i, h) in range.clone().enumerate() {
                for row in 0..count {
                    let to = (h * row_blocks + first + row) * column_blocks + first_column;
                    pooled[to..to + columns].copy_from_slice(&part[(i * count + row) * columns..][..columns]);
                }
                sums_of_layer[h].merge(&sums[i]);
            }
            outs[range.start / groups[0].len()].push(out);
        }
        let outs = outs.iter().map(|stretches| Tensor::cat(stretches, 1)).collect::<candle_core::Result<Vec<_>>>()?; // [group, rows, d] each
        if let Some((_, sums)) = self.head_sums.as_mut() {
            sums.extend(sums_of_layer);
        }
        self.probabilities.extend(pooled);
        if let Some(kept) = self.kept.as_mut() {
            // The layers that share a mask share its storage: the run makes each mask once
            // ([`Recorder::mask`]), and a long text's is tens of MB (67 MB at 4,096 tokens).
            let mask = mask.cloned();
            kept.push(KeptLayer { q: q.clone(), k: k.clone(), mask, scoring });
        }
        self.layer += 1;
        Tensor::cat(&outs, 0) // [heads, rows, d]
    }

    /// [`attend`] for each copy of a batch apart, each changed its own way: `q`, `k`, `v`
    /// [heads, copies · t, d] -> output [heads, copies · t, d], probabilities [copies · heads, t, t].
    fn attend_copies(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, scoring: Scoring) -> candle_core::Result<(Tensor, Tensor)> {
        let copies = self.copies();
        let (heads, rows, d) = q.dims3()?;
        let t = rows / copies;
        // [heads, copies · t, d] -> [copies · heads, t, d]: each copy's heads one after another.
        let apart = |x: &Tensor| x.reshape((heads, copies, t, d))?.transpose(0, 1)?.reshape((copies * heads, t, d));
        let v = apart(v)?;
        let (out, probs, _) = attend(&apart(q)?, &apart(k)?, &v, mask, scoring, false)?;
        let mut outs = Vec::with_capacity(copies);
        let mut all_probs = Vec::with_capacity(copies);
        for (copy, changes) in self.changes.iter().enumerate() {
            let (o, p) = (out.narrow(0, copy * heads, heads)?, probs.narrow(0, copy * heads, heads)?);
            let (o, p) = match changes.layer(self.layer) {
                Some(layer) => layer.apply(o, p, &v.narrow(0, copy * heads, heads)?)?,
                None => (o, p),
            };
            outs.push(o);
            all_probs.push(p);
        }
        // Back to [heads, copies · t, d].
        let out = Tensor::cat(&outs, 0)?.reshape((copies, heads, t, d))?.transpose(0, 1)?.reshape((heads, rows, d))?;
        Ok((out, Tensor::cat(&all_probs, 0)?))
    }

    pub fn finish(self) -> Recorded {
        // Every layer attended by now: the sums are [layer · heads + head].
        let layers = self.layer.max(1);
        let head_sums = self.head_sums.map(|(_, sums)| sums);
        let head_scores = head_sums.as_ref().map(|sums| {
            let heads = (sums.len() / layers).max(1);
            sums.iter().enumerate().map(|(i, s)| s.scores(i / heads, i % heads)).collect()
        });
        Recorded { probabilities: self.probabilities, scores: self.scores, value_norms: self.value_norms, traced: self.traced, kept: self.kept, head_scores, head_sums }
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

    /// [heads, t, d] of values spread over a few orders of magnitude (a cheap generator, so
    /// the sums have rounding to lose), and large enough that gemm would cut the keys.
    fn spread(heads: usize, t: usize, d: usize, seed: u64, dev: &Device) -> candle_core::Result<Tensor> {
        let mut state = seed;
        let values: Vec<f32> = (0..heads * t * d)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
                (unit - 0.5) * 8.0 * (1.0 + (state >> 20 & 3) as f32)
            })
            .collect();
        Tensor::from_vec(values, (heads, t, d), dev)
    }

    /// A stretch of rows attending only the keys it can see gives its rows' weights and
    /// outputs to the bit as the whole run does: the products sum each output in one order
    /// whatever their sizes, and a row's sum takes its values in the same lanes (the keys
    /// cut start at a multiple of them). This is what lets a long text's pooled run, a head's
    /// map asked for again and the whole run agree exactly, on any processor.
    #[test]
    fn a_stretch_of_rows_attends_to_the_bit_as_the_whole_run() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let (heads, t, d) = (3, 600, 64);
        let (q, k, v) = (spread(heads, t, d, 1, &dev)?, spread(heads, t, d, 2, &dev)?, spread(heads, t, d, 3, &dev)?);
        for (mask, window, block) in [(Mask::Causal, None, 24), (Mask::Causal, Some(100), 12), (Mask::None, None, 5)] {
            let whole_mask = additive_mask_from(mask, window, 0, t, &dev)?;
            let scoring = Scoring::standard(d);
            let (out, probs, _) = attend(&q, &k, &v, whole_mask.as_ref(), scoring, false)?;
            for (start, n) in [(0, 240), (240, 240), (480, 120)] {
                let rows = whole_mask.as_ref().map(|m| m.narrow(0, start, n)).transpose()?;
                let seen = visible_keys(rows.as_ref(), t, block)?;
                assert_eq!(seen.start % block, 0);
                let rows = rows.map(|m| m.narrow(1, seen.start, seen.len())?.contiguous()).transpose()?;
                let (k_seen, v_seen) = (k.narrow(1, seen.start, seen.len())?, v.narrow(1, seen.start, seen.len())?);
                let (stretch_out, stretch_probs, _) = attend(&q.narrow(1, start, n)?, &k_seen, &v_seen, rows.as_ref(), scoring, false)?;
                let what = format!("{mask:?} window {window:?}, rows {start}.. seeing keys {seen:?}");
                assert_eq!(stretch_out.to_vec3::<f32>()?, out.narrow(1, start, n)?.to_vec3::<f32>()?, "{what}: outputs");
                assert_eq!(stretch_probs.to_vec3::<f32>()?, probs.narrow(1, start, n)?.narrow(2, seen.start, seen.len())?.to_vec3::<f32>()?, "{what}: weights");
            }
            // A head's map alone is the same bits as in the run of all heads.
            let (_, one, _) = attend(&q.narrow(0, 1, 1)?, &k.narrow(0, 1, 1)?, &v.narrow(0, 1, 1)?, whole_mask.as_ref(), scoring, false)?;
            assert_eq!(one.to_vec3::<f32>()?, probs.narrow(0, 1, 1)?.to_vec3::<f32>()?);
        }
        Ok(())
    }

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

    #[test]
    fn the_recorder_keeps_value_norms_only_when_asked() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let q = Tensor::new(&[[[1f32, 0.], [0., 1.]]], &dev)?; // one head, d = 2
        let v = Tensor::new(&[[[1f32, 0.], [0., 2.]]], &dev)?;
        let w = Tensor::eye(2, DType::F32, &dev)?;
        for asked in [false, true] {
            let mut recorder = Recorder::new(8, None, asked);
            recorder.attend(&q, &q, &v, None, Scoring::standard(2), || Ok(w.clone()))?;
            recorder.attend(&q, &q, &v, None, Scoring::standard(2), || Ok(w.clone()))?;
            let kept = recorder.finish();
            assert_eq!(kept.probabilities.len(), 8);
            assert_eq!(kept.value_norms, asked.then(|| vec![1.0, 2.0, 1.0, 2.0]));
        }
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
