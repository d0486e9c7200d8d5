//! What a run keeps of a forward pass, as small parts the loop ([`crate::forward`]) calls at
//! named points: entering a layer, once its attention has attended, once attention's output
//! has joined the residual stream, and leaving the last layer. Each part keeps one thing (the
//! maps, one layer's raw scores, the value norms, the pooled head-score sums, the queries and
//! keys, a trace for interventions) and a run is composed of the parts it asks for, so a plain
//! run computes nothing it does not keep. A new observation is a new part.
//!
//! Parts only look: what changes a run (interventions, pooling) is the pass's way of
//! attending ([`crate::forward::Pass`]).

pub mod head_sums;
pub mod maps;
pub mod queries_keys;
pub mod raw_scores;
pub mod value_norms;

use std::any::Any;

use candle_core::Tensor;

use crate::analysis::heads::ScoreSums;
use crate::report::Scoring;

pub use head_sums::KeepHeadSums;
pub use maps::KeepMaps;
pub use queries_keys::{KeepQueriesKeys, KeptLayer};
pub use raw_scores::KeepRawScores;
pub use value_norms::KeepValueNorms;

/// Where an attention's keys come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keys {
    /// The same sequence as the queries: self-attention.
    #[default]
    Own,
    /// Another sequence, a decoder's memory: cross-attention.
    Memory,
}

/// What one layer's attention computed, as the parts see it.
pub struct Attended<'a> {
    pub layer: usize,
    pub keys: Keys,
    /// The queries [heads, new, d], and the keys and values [heads, keys, d] (key/value
    /// heads repeated to the query heads; in a batched run, every copy's rows one after another).
    pub q: &'a Tensor,
    pub k: &'a Tensor,
    pub v: &'a Tensor,
    /// The additive mask the layer applied, [new, keys] (`None`: no mask).
    pub mask: Option<&'a Tensor>,
    pub scoring: Scoring,
    /// The heads' outputs after any change, [heads, new, d].
    pub out: &'a Tensor,
    pub maps: Maps<'a>,
    /// q·kᵀ [heads, new, keys], when a part asked for this layer's ([`Observer::wants`]).
    pub raw: Option<&'a Tensor>,
    /// The layer's output projection [hidden, heads · d], when a part asked for it.
    pub output_weight: Option<&'a Tensor>,
}

/// A layer's attention weights, whole or pooled.
pub enum Maps<'a> {
    /// [copies · heads, new, keys] (after any change).
    Whole(&'a Tensor),
    /// Each head's map as block means, flat [heads, row blocks, column blocks], and each
    /// head's score sums over its rows.
    Pooled { blocks: &'a [f32], sums: &'a [ScoreSums] },
}

/// What a part needs the layer to compute beyond the attention itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    /// The raw scores q·kᵀ.
    pub raw_scores: bool,
    /// The output projection's weight (de-quantized, for a quantized model).
    pub output_weight: bool,
}

impl Wants {
    fn or(self, other: Wants) -> Wants {
        Wants { raw_scores: self.raw_scores || other.raw_scores, output_weight: self.output_weight || other.output_weight }
    }
}

/// A part of a run that looks at the forward pass as it goes. Every method does nothing
/// unless the part needs it.
pub trait Observer: Any + Send {
    /// What the part needs computed at `layer`'s attention over `keys`.
    fn wants(&self, _layer: usize, _keys: Keys) -> Wants {
        Wants::default()
    }

    /// The residual stream entering `layer`, [new, hidden].
    fn entering_layer(&mut self, _layer: usize, _x: &Tensor) -> candle_core::Result<()> {
        Ok(())
    }

    /// The layer's attention has attended.
    fn attended(&mut self, _seen: &Attended) -> candle_core::Result<()> {
        Ok(())
    }

    /// The residual stream once `layer`'s attention joined it, [new, hidden]; `post_norm`:
    /// the RMSNorm weight and ε the attention's output went through first, where the model
    /// has one (Gemma 2, 3).
    fn attention_added(&mut self, _layer: usize, _x: &Tensor, _post_norm: Option<(&Tensor, f64)>) -> candle_core::Result<()> {
        Ok(())
    }

    /// The residual stream leaving the last layer, [new, hidden].
    fn leaving(&mut self, _x: &Tensor) -> candle_core::Result<()> {
        Ok(())
    }

    /// Whether it needs whole maps: a pooled run cannot give them.
    fn needs_whole_maps(&self) -> bool {
        false
    }
}

/// The parts of one run, each told of every point in turn.
#[derive(Default)]
pub struct Observers {
    parts: Vec<Box<dyn Observer>>,
}

impl Observers {
    pub fn add(&mut self, part: impl Observer) {
        self.parts.push(Box::new(part));
    }

    /// The part of type `T`, if the run has one.
    pub fn get<T: Observer>(&self) -> Option<&T> {
        self.parts.iter().find_map(|part| (&**part as &dyn Any).downcast_ref::<T>())
    }

    /// Takes the part of type `T` out of the run (its findings, once the run is over).
    pub fn take<T: Observer>(&mut self) -> Option<T> {
        self.take_where(|_: &T| true)
    }

    /// Takes the first part of type `T` that `which` picks (one of two parts of a type).
    pub fn take_where<T: Observer>(&mut self, which: impl Fn(&T) -> bool) -> Option<T> {
        let index = self.parts.iter().position(|part| (&**part as &dyn Any).downcast_ref::<T>().is_some_and(&which))?;
        let part: Box<dyn Any> = self.parts.remove(index);
        part.downcast::<T>().ok().map(|part| *part)
    }

    pub(crate) fn wants(&self, layer: usize, keys: Keys) -> Wants {
        self.parts.iter().fold(Wants::default(), |wants, part| wants.or(part.wants(layer, keys)))
    }

    pub(crate) fn need_whole_maps(&self) -> bool {
        self.parts.iter().any(|part| part.needs_whole_maps())
    }

    pub(crate) fn entering_layer(&mut self, layer: usize, x: &Tensor) -> candle_core::Result<()> {
        self.parts.iter_mut().try_for_each(|part| part.entering_layer(layer, x))
    }

    pub(crate) fn attended(&mut self, seen: &Attended) -> candle_core::Result<()> {
        self.parts.iter_mut().try_for_each(|part| part.attended(seen))
    }

    pub(crate) fn attention_added(&mut self, layer: usize, x: &Tensor, post_norm: Option<(&Tensor, f64)>) -> candle_core::Result<()> {
        self.parts.iter_mut().try_for_each(|part| part.attention_added(layer, x, post_norm))
    }

    pub(crate) fn leaving(&mut self, x: &Tensor) -> candle_core::Result<()> {
        self.parts.iter_mut().try_for_each(|part| part.leaving(x))
    }
}
