//! One forward pass for every network. A network exposes its parts (the embedding; for each
//! layer an attention half and a feed-forward half; the readout) and this loop runs them:
//! continuing from a kept prefix, starting at a layer from a kept residual stream, pausing
//! before a layer and reading the last position's logits are written here once.
//!
//! The loop tells a run's observers ([`crate::observe`]) what each layer did; how a layer
//! attends (whole, pooled, with heads changed, as several copies at once) is the pass's
//! ([`Pass`]), reached through the [`Attending`] handle each attention half is given.

mod attending;

use candle_core::{DType, Device, Tensor};

pub use attending::Attending;

use crate::analysis::heads::Matches;
use crate::error::Result;
use crate::intervention::attribution::Readout;
use crate::intervention::Changes;
use crate::observe::{Observer, Observers};
use crate::prefix::KvCache;
use crate::report::Mask;

/// One layer: an attention half, then a feed-forward half.
pub trait Layer: Send + Sync {
    /// The attention half: the stream `x` [new, hidden] with attention's output joined
    /// (and normed, in a post-norm model), [new, hidden].
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor>;

    /// The feed-forward half: the layer's output from its `input` and the attention half's
    /// output `attended` (a parallel block reads the input, GPT-NeoX's; the rest `attended`).
    fn feed_forward(&self, input: &Tensor, attended: &Tensor) -> candle_core::Result<Tensor>;

    /// The RMSNorm weight and ε the attention's output goes through before it joins the
    /// stream (Gemma 2 and 3), for direct logit attribution.
    fn attention_post_norm(&self) -> Option<(&Tensor, f64)> {
        None
    }
}

/// A stack of layers the loop runs one after another ([`Pass::through`]): a text network's,
/// an encoder's or a decoder's.
pub trait Stack: Send + Sync {
    /// How many layers it has.
    fn depth(&self) -> usize;

    /// Layer `index` (below [`Stack::depth`]).
    fn layer(&self, index: usize) -> &dyn Layer;
}

/// Any list of layers is a stack.
impl<L: Layer> Stack for Vec<L> {
    fn depth(&self) -> usize {
        self.len()
    }

    fn layer(&self, index: usize) -> &dyn Layer {
        &self[index]
    }
}

/// A network the engine runs over token ids: its embedding, its layers and its readout.
pub trait Network: Send + Sync {
    /// Its layers.
    fn layers(&self) -> &dyn Stack;

    /// The embeddings of `ids[start..]` at positions `start..`, [new, hidden].
    fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor>;

    /// The logits of the last residual streams `last` [copies, hidden]: [copies, vocab]
    /// (`None` for a model with no language-model head).
    fn logits(&self, last: &Tensor) -> candle_core::Result<Option<Tensor>>;

    fn device(&self) -> &Device;

    /// Whether a run can continue from a [`KvCache`] (a causal network's).
    fn caches(&self) -> bool {
        false
    }

    /// How it tells each token where it stands (nothing: a network with no positions), a
    /// table's first `shown` rows.
    fn positions(&self, _shown: usize) -> Vec<crate::report::positions::PositionSet> {
        Vec::new()
    }

    /// How the last residual stream becomes the logits of `ids`: the final norm and those
    /// tokens' unembedding rows, for direct logit attribution (`None` without a
    /// language-model head).
    fn readout(&self, _ids: &[u32]) -> Result<Option<Readout>> {
        Ok(None)
    }
}

/// Where a pass starts.
pub enum Start {
    /// At the first layer, from the tokens' embeddings.
    Embeddings,
    /// At a layer, from the residual stream entering it, [copies · t, hidden] (the layers
    /// before are not run, and observers hear nothing of them).
    Layer(usize, Tensor),
}

/// How a pass ended.
pub enum Ran {
    /// It stopped before `layer`, as asked: `x` is the stream entering it, from which a
    /// later pass goes on ([`Start::Layer`]).
    Paused { layer: usize, x: Tensor },
    /// Every layer ran: the last position's logits, [copies · vocab] (`None` for a model
    /// with no language-model head).
    Finished { logits: Option<Vec<f32>> },
}

impl Ran {
    /// The logits of a pass that ran to the end.
    pub fn logits(self) -> Result<Option<Vec<f32>>> {
        match self {
            Ran::Finished { logits } => Ok(logits),
            Ran::Paused { layer, .. } => Err(candle_core::Error::Msg(format!("the run stopped before layer {layer}")).into()),
        }
    }
}

/// A pooled run's way of attending: each map kept as `block` × `block` block means, and
/// each head scored on `matches`' cells as it attends (see [`crate::long`]).
pub struct Pool {
    pub block: usize,
    pub matches: Option<Matches>,
}

/// One run of a network (over one or several calls, for a run that pauses): the observers
/// it feeds, how its layers attend, and the masks it has made.
#[derive(Default)]
pub struct Pass {
    pub observers: Observers,
    /// Per copy of the input run together: what to change (none: one copy, unchanged).
    changes: Vec<Changes>,
    pool: Option<Pool>,
    /// The masks this run made, by what they are of (see [`Attending::mask`]).
    masks: Vec<(MaskKey, Option<Tensor>)>,
}

type MaskKey = (Mask, Option<usize>, usize, usize);

impl Pass {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an observer.
    pub fn observing(mut self, part: impl Observer) -> Self {
        self.observers.add(part);
        self
    }

    /// Keeps every map pooled into `block` × `block` blocks, attending a stretch of query
    /// rows at a time, and scores each head on `matches`' cells.
    pub fn pooled(mut self, block: usize, matches: Option<Matches>) -> Self {
        self.pool = Some(Pool { block: block.max(1), matches });
        self
    }

    /// Changes heads as they attend: one input changed one way, or several copies of one
    /// input run together, each changed its own way (the stream then holds the copies one
    /// after another, [copies · t, hidden], so every projection reads its weights once for
    /// all of them; only attention tells the copies apart). Copies start at a layer
    /// ([`Start::Layer`]) from a stream already repeated.
    pub(crate) fn changing(mut self, changes: Vec<Changes>) -> Self {
        self.changes = changes;
        self
    }

    /// How many copies of the input run together (1 but in a batched sweep).
    pub fn copies(&self) -> usize {
        self.changes.len().max(1)
    }

    /// Runs `ids` under `mask` from `start` through the layers before `until` (all when
    /// `None`), and reads the last position's logits. With a `cache` (a causal network, from
    /// the embeddings), the cache already holds the keys and values of `ids[..cache.len()]`:
    /// only the rest run, observers see their rows only, and the cache grows to all of `ids`.
    /// `memory`: the sequence a decoder's cross-attention reads, [memory, hidden].
    pub fn run(&mut self, network: &dyn Network, ids: &[u32], mask: Mask, cache: Option<&mut KvCache>, start: Start, until: Option<usize>) -> Result<Ran> {
        self.run_reading(network, ids, mask, cache, start, until, None)
    }

    /// [`Pass::run`] for a decoder whose layers also attend to `memory` [memory, hidden].
    #[allow(clippy::too_many_arguments)]
    pub fn run_reading(
        &mut self,
        network: &dyn Network,
        ids: &[u32],
        mask: Mask,
        mut cache: Option<&mut KvCache>,
        start: Start,
        until: Option<usize>,
        memory: Option<&Tensor>,
    ) -> Result<Ran> {
        let tokens = ids.len();
        // The positions already in the cache are not run again.
        let first_new = KvCache::resume(cache.as_deref_mut(), tokens)?;
        let (first, x) = match start {
            Start::Embeddings => (0, network.embed(ids, first_new)?),
            Start::Layer(layer, x) => (layer, x),
        };
        let span = Span { mask, positions: first_new..tokens, memory };
        let depth = network.layers().depth();
        let until = until.unwrap_or(depth).min(depth);
        let x = self.through(network.layers(), x, first..until, span, cache.as_deref_mut(), network.device())?;
        if until < depth {
            return Ok(Ran::Paused { layer: until, x });
        }
        if let Some(cache) = cache {
            cache.ran_to(tokens);
        }
        let logits = network.logits(&last_rows(&x, self.copies())?)?;
        let logits = logits.map(|l| l.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()).transpose()?;
        Ok(Ran::Finished { logits })
    }

    /// Runs `x` [copies · new, hidden] through `stack`'s layers `layers` (cut to its depth):
    /// the stream after them (the observers hear it leave when the last layer ran).
    pub fn through(
        &mut self,
        stack: &dyn Stack,
        mut x: Tensor,
        layers: std::ops::Range<usize>,
        span: Span,
        mut cache: Option<&mut KvCache>,
        device: &Device,
    ) -> Result<Tensor> {
        let depth = stack.depth();
        let until = layers.end.min(depth);
        // The layers on the pool's threads, kept awake between their parts (see there).
        crate::parallel::with_threads_awake(move || {
            let mut positions = attending::Positions::new(span, self.copies(), device);
            for index in layers.start..until {
                let layer = stack.layer(index);
                self.observers.entering_layer(index, &x)?;
                let mut at = Attending::new(index, self, &mut positions, cache.as_deref_mut());
                let attended = layer.attention(&x, &mut at)?;
                self.observers.attention_added(index, &attended, layer.attention_post_norm())?;
                x = layer.feed_forward(&x, &attended)?;
            }
            if until == depth {
                self.observers.leaving(&x)?;
            }
            Ok(x)
        })
    }
}

/// What a stack's layers attend over: the mask, the positions that run (`start..tokens`,
/// `start` > 0 where a cache holds the ones before) and, for a decoder, the memory its
/// cross-attention reads.
#[derive(Clone)]
pub struct Span<'a> {
    pub mask: Mask,
    pub positions: std::ops::Range<usize>,
    pub memory: Option<&'a Tensor>,
}

impl Span<'_> {
    /// `tokens` positions from 0 under `mask`, with no memory.
    pub fn whole(mask: Mask, tokens: usize) -> Span<'static> {
        Span { mask, positions: 0..tokens, memory: None }
    }
}

/// The last position of every copy of `x` [copies · t, hidden]: [copies, hidden].
fn last_rows(x: &Tensor, copies: usize) -> candle_core::Result<Tensor> {
    let (rows, hidden) = x.dims2()?;
    x.reshape((copies, rows / copies, hidden))?.narrow(1, rows / copies - 1, 1)?.squeeze(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{KeepMaps, KeepValueNorms};
    use crate::report::Scoring;

    /// Two layers of one head that attends with x itself as queries, keys and values and
    /// writes it back doubled; the logits are the last stream as it is.
    struct Toy {
        device: Device,
        layers: Vec<ToyLayer>,
    }

    struct ToyLayer;

    impl Layer for ToyLayer {
        fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
            let heads = x.unsqueeze(0)?; // [1, t, hidden]
            let mask = at.mask(None)?;
            let out = at.attend(&heads, &heads, &heads, mask.as_ref(), Scoring::standard(2), || Tensor::eye(2, DType::F32, &Device::Cpu))?;
            x + out.squeeze(0)?
        }

        fn feed_forward(&self, _input: &Tensor, attended: &Tensor) -> candle_core::Result<Tensor> {
            attended * 2.0
        }
    }

    impl Network for Toy {
        fn layers(&self) -> &dyn Stack {
            &self.layers
        }
        fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
            let rows: Vec<f32> = ids[start..].iter().flat_map(|&id| [id as f32 * 0.5, 1.0 - id as f32 * 0.25]).collect();
            Tensor::from_vec(rows, (ids.len() - start, 2), &self.device)
        }
        fn logits(&self, last: &Tensor) -> candle_core::Result<Option<Tensor>> {
            Ok(Some(last.clone()))
        }
        fn device(&self) -> &Device {
            &self.device
        }
    }

    #[test]
    fn a_paused_run_goes_on_to_the_same_bits_and_its_parts_keep_only_what_they_were_asked() -> Result<()> {
        let toy = Toy { device: Device::Cpu, layers: vec![ToyLayer, ToyLayer] };
        let ids = [1, 2, 3];
        let mut whole = Pass::new().observing(KeepMaps::default());
        let logits = whole.run(&toy, &ids, Mask::Causal, None, Start::Embeddings, None)?.logits()?;
        let maps = whole.observers.take::<KeepMaps>().map(KeepMaps::into_flat);
        assert_eq!(maps.as_ref().map(Vec::len), Some(2 * 3 * 3), "two layers of one 3 × 3 map");
        assert!(whole.observers.get::<KeepValueNorms>().is_none());

        // Paused before layer 1: a value, not an error; going on from it gives the same bits.
        let mut paused = Pass::new().observing(KeepMaps::default()).observing(KeepValueNorms::default());
        let Ran::Paused { layer: 1, x } = paused.run(&toy, &ids, Mask::Causal, None, Start::Embeddings, Some(1))? else {
            panic!("the run did not pause before layer 1")
        };
        assert_eq!(paused.observers.get::<KeepMaps>().map(|m| m.as_slice().len()), Some(9), "one layer's map kept so far");
        let went_on = paused.run(&toy, &ids, Mask::Causal, None, Start::Layer(1, x), None)?.logits()?;
        assert_eq!(went_on, logits);
        assert_eq!(paused.observers.take::<KeepMaps>().map(KeepMaps::into_flat), maps);
        // The value norms with W_O = I are each token's value's length, layer after layer.
        let norms = paused.observers.take::<KeepValueNorms>().map(KeepValueNorms::into_flat).unwrap_or_default();
        let embedded = toy.embed(&ids, 0)?.to_vec2::<f32>()?;
        let lengths: Vec<f32> = embedded.iter().map(|v| (v[0] * v[0] + v[1] * v[1]).sqrt()).collect();
        assert_eq!(norms.len(), 6);
        for (norm, length) in norms[..3].iter().zip(&lengths) {
            assert!((norm - length).abs() < 1e-6, "{norm} against {length}: float32 rounding of a 2-term norm");
        }
        Ok(())
    }
}
