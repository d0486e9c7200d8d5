//! Marian's transformer as Bergamot ships it (Mozilla's Firefox Translations "tiny"
//! models): a post-norm encoder, and a decoder whose self-attention is an SSRU (a
//! simple recurrent unit), each step then attending to the encoder's output. Greedy
//! search over the lexical shortlist, as the package's engine translates.
//!
//! The equations, established from browsermt/marian-dev and checked token for token
//! against the package (scripts/marian_reference.py writes them out in full):
//! - input: x = √d · E[id] + PE(position), PE's first half sin, second half cos, with
//!   frequencies exp(-k · ln(10⁴) / (d/2 − 1)); one table E serves encoder, decoder and output;
//! - encoder layer: x = LN(x + MHA(x, x)); x = LN(x + W₂ relu(W₁ x + b₁) + b₂); no final norm;
//! - decoder step t: e = √d · E[y_{t−1}] + PE(t), E[y_{−1}] = 0 (no start token); per layer
//!   f = σ(e W_f + b_f), c = f c + (1 − f) e W, e = LN(e + relu(c)), then
//!   e = LN(e + MHA(e, encoder output)), e = LN(e + FFN(e));
//! - logits = e Eᵀ + b_out over the shortlist's candidates, `<unk>` never chosen, at most
//!   ⌈2.5 · source length (with `</s>`)⌉ tokens.
//!
//! Weights are [in, out] (x W), as Marian stores them.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::LayerNorm;

use super::family::{Builder, Family};
use super::nn::{merge_heads, split_heads, Linear};
use crate::error::{EngineError, Result};
use crate::forward::{Attending, Layer, Network, Pass, Span, Stack, Start};
use crate::intervention::{ablation_only, site_of, Intervention};
use crate::kernels::relu;
use crate::load::marian::{MarianFile, Shortlist};
use crate::observe::{KeepMaps, KeepRawScores, KeepValueNorms, Keys};
use crate::prefix::KvCache;
use crate::products::rows_times_matrix;
use crate::report::{AttentionMaps, LayerScores, Mask, ModelKind, Scoring};

/// Marian's translators: read from their own files (`model*.bin`), not config.json.
pub const FAMILY: Family = Family { name: "marian", model_types: &[], gguf: None, kind: ModelKind::Translation, builder: Builder::Own };

/// Marian's layer-norm epsilon.
const LN_EPS: f64 = 1e-6;
/// The end-of-sentence id: it ends every source and the translation.
pub const EOS: u32 = 0;
/// The unknown-token id: never chosen.
pub const UNK: u32 = 1;
/// How long a translation may grow, relative to its source (Bergamot's max-length-factor).
const MAX_LENGTH_FACTOR: f64 = 2.5;

/// The network's sizes, read from the weights' shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarianSizes {
    pub vocab: usize,
    pub width: usize,
    pub heads: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
}

/// A float32 tensor of a model item, in the shape its header gives.
fn tensor(file: &MarianFile, name: &str, device: &Device) -> Result<Tensor> {
    let (values, shape) = file.floats(name)?;
    // Biases and norms are [1, n]: vectors.
    let shape = if shape.len() == 2 && shape[0] == 1 { vec![shape[1]] } else { shape };
    Ok(Tensor::from_vec(values, shape, device)?)
}

/// A projection from Marian's matrix [in, out] and its bias [out]: x W + b. The matrix is
/// already what a projection keeps (W [out, in] column-major), so it is only viewed transposed.
fn projection(file: &MarianFile, weight: &str, bias: Option<&str>, device: &Device) -> Result<Linear> {
    let weight = tensor(file, weight, device)?.t()?;
    let bias = bias.map(|b| tensor(file, b, device)).transpose()?;
    Ok(Linear::Dense { weight, bias })
}

fn layer_norm(file: &MarianFile, prefix: &str, device: &Device) -> Result<LayerNorm> {
    let scale = tensor(file, &format!("{prefix}_ln_scale"), device)?;
    let bias = tensor(file, &format!("{prefix}_ln_bias"), device)?;
    Ok(LayerNorm::new(scale, bias, LN_EPS))
}

/// Multi-head attention with its projections (`<prefix>_{Wq,bq,Wk,bk,Wv,bv,Wo,bo}`).
struct MultiHead {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    heads: usize,
}

impl MultiHead {
    fn load(file: &MarianFile, prefix: &str, heads: usize, device: &Device) -> Result<Self> {
        let affine = |w: &str, b: &str| projection(file, &format!("{prefix}_{w}"), Some(&format!("{prefix}_{b}")), device);
        Ok(Self { query: affine("Wq", "bq")?, key: affine("Wk", "bk")?, value: affine("Wv", "bv")?, output: affine("Wo", "bo")?, heads })
    }

    /// The keys and values of `memory` [k, d], split into heads: [heads, k, d / heads] each.
    /// The keys are a transposed view of [heads, d / heads, k] in memory, the layout q·kᵀ
    /// reads, so that a decoder step attending to them again and again copies nothing.
    fn keys_values(&self, memory: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let keys = split_heads(&self.key.forward(memory)?, self.heads)?.t()?.contiguous()?.t()?;
        Ok((keys, split_heads(&self.value.forward(memory)?, self.heads)?))
    }

    /// The queries of `x` [q, d]: [heads, q, d / heads].
    fn queries(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        split_heads(&self.query.forward(x)?, self.heads)
    }

    /// The heads' outputs [heads, q, d / heads] projected back into the stream: [q, d].
    fn output(&self, out: &Tensor) -> candle_core::Result<Tensor> {
        self.output.forward(&merge_heads(out)?)
    }

    /// The output projection as a projection's weight [out, in] (Marian stores [in, out]).
    fn output_weight(&self) -> candle_core::Result<Tensor> {
        self.output.weight()
    }
}

/// Every attention of Marian's is scaled by 1/√d_head.
fn scoring(q: &Tensor) -> candle_core::Result<Scoring> {
    Ok(Scoring::standard(q.dim(2)?))
}

/// relu(x W₁ + b₁) W₂ + b₂
struct FeedForward {
    up: Linear,
    down: Linear,
}

impl FeedForward {
    fn load(file: &MarianFile, prefix: &str, device: &Device) -> Result<Self> {
        let affine = |w: &str, b: &str| projection(file, &format!("{prefix}_{w}"), Some(&format!("{prefix}_{b}")), device);
        Ok(Self { up: affine("W1", "b1")?, down: affine("W2", "b2")? })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.down.forward(&relu(&self.up.forward(x)?)?)
    }
}

/// A post-norm encoder layer: x = LN(x + MHA(x, x)); x = LN(x + FFN(x)).
struct EncoderLayer {
    attention: MultiHead,
    attention_norm: LayerNorm,
    feed_forward: FeedForward,
    feed_forward_norm: LayerNorm,
}

impl Layer for EncoderLayer {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let q = self.attention.queries(x)?;
        let (k, v) = self.attention.keys_values(x)?;
        let out = at.attend(&q, &k, &v, None, scoring(&q)?, || self.attention.output_weight())?;
        self.attention_norm.forward(&(x + self.attention.output(&out)?)?)
    }

    fn feed_forward(&self, _input: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
        self.feed_forward_norm.forward(&(x + self.feed_forward.forward(x)?)?)
    }
}

/// The decoder's recurrent unit: c = f c + (1 − f) x W with f = σ(x W_f + b_f); out relu(c).
struct Ssru {
    input: Linear,
    forget: Linear,
}

impl Ssru {
    /// The cell after each row of `x` [n, width] from `cell` [1, width]: [n, width], one
    /// position after another.
    fn cells(&self, x: &Tensor, mut cell: Tensor) -> candle_core::Result<Tensor> {
        let mut cells = Vec::with_capacity(x.dim(0)?);
        for row in 0..x.dim(0)? {
            let e = x.narrow(0, row, 1)?;
            let forget = candle_nn::ops::sigmoid(&self.forget.forward(&e)?)?;
            let kept = (&forget * &cell)?;
            let fresh = ((1.0 - &forget)? * self.input.forward(&e)?)?;
            cell = (kept + fresh)?;
            cells.push(cell.clone());
        }
        Tensor::cat(&cells, 0)
    }
}

/// A decoder layer: e = LN(e + relu(SSRU(e))); e = LN(e + MHA(e, encoder output));
/// e = LN(e + FFN(e)). Its attention half is the recurrent unit and the cross-attention.
struct DecoderLayer {
    ssru: Ssru,
    ssru_norm: LayerNorm,
    cross: MultiHead,
    cross_norm: LayerNorm,
    feed_forward: FeedForward,
    feed_forward_norm: LayerNorm,
}

impl Layer for DecoderLayer {
    fn attention(&self, e: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let width = e.dim(1)?;
        let cell = match at.state() {
            Some(cell) => cell.clone(),
            None => Tensor::zeros((1, width), DType::F32, e.device())?,
        };
        let cells = self.ssru.cells(e, cell)?; // [n, width]
        at.keep_state(cells.narrow(0, cells.dim(0)? - 1, 1)?);
        let e = self.ssru_norm.forward(&(e + relu(&cells)?)?)?;
        // The memory's keys and values, once for every step.
        let (k, v) = at.memory_keys_values(|memory| self.cross.keys_values(memory))?;
        let q = self.cross.queries(&e)?;
        let out = at.attend_memory(&q, &k, &v, scoring(&q)?, || self.cross.output_weight())?;
        self.cross_norm.forward(&(e + self.cross.output(&out)?)?)
    }

    fn feed_forward(&self, _input: &Tensor, e: &Tensor) -> candle_core::Result<Tensor> {
        self.feed_forward_norm.forward(&(e + self.feed_forward.forward(e)?)?)
    }
}

/// The decoder of one translation: its inputs are the target so far after a first step
/// that reads nothing (E[y₋₁] = 0), and its logits are over the shortlist's candidates.
struct Decoder<'a> {
    network: &'a MarianNetwork,
    /// The candidates' embeddings transposed, [width, candidates], and their biases.
    output_weight: Tensor,
    output_bias: Tensor,
}

impl Network for Decoder<'_> {
    fn layers(&self) -> &dyn Stack {
        &self.network.decoder
    }

    /// √width · E[ids[p]] + PE(p) for p in `start..`, the first position's input being 0.
    fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        let width = self.network.sizes.width;
        let rows = (start..ids.len())
            .map(|p| if p == 0 { Tensor::zeros((1, width), DType::F32, &self.network.device) } else { self.network.embed(&ids[p..=p]) })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::cat(&rows, 0)? + self.network.positions(start, ids.len() - start)?
    }

    fn logits(&self, last: &Tensor) -> candle_core::Result<Option<Tensor>> {
        rows_times_matrix(last, &self.output_weight)?.broadcast_add(&self.output_bias).map(Some)
    }

    fn device(&self) -> &Device {
        &self.network.device
    }

    fn caches(&self) -> bool {
        true
    }
}

/// What one translation computed: the ids both ways and every attention map.
#[derive(Clone, Debug, PartialEq)]
pub struct Translated {
    /// The source ids, ending with `</s>`.
    pub source: Vec<u32>,
    /// The target ids, ending with `</s>` when the decoder emitted it.
    pub target: Vec<u32>,
    /// The encoder's self-attention, [layer][head][source][source].
    pub encoder: AttentionMaps,
    /// Each target token's cross-attention over the source, [layer][head][target][source]:
    /// row t is the step that produced target token t.
    pub cross: AttentionMaps,
    /// One encoder layer's raw scores q·k, when asked for.
    pub encoder_scores: Option<LayerScores>,
    /// Every encoder head's value norms ‖f_h(x_j)‖, flat [layer, head, source], when asked for.
    pub encoder_value_norms: Option<Vec<f32>>,
    /// Every decoder layer's cross-attention raw scores q·k, [head][target][source] each.
    pub cross_scores: Vec<LayerScores>,
    /// Whether the length limit, not `</s>`, ended the translation.
    pub cut_by_limit: bool,
}

/// The translator's network.
pub struct MarianNetwork {
    pub sizes: MarianSizes,
    /// The shared embedding table, [vocab, width].
    embeddings: Tensor,
    /// The output bias, [vocab].
    output_bias: Tensor,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    device: Device,
}

/// How many layers have an item named `<part>_l{N}_<suffix>`, counting N from 1.
fn count_layers(file: &MarianFile, part: &str, suffix: &str) -> usize {
    (1..).take_while(|n| file.item(&format!("{part}_l{n}_{suffix}")).is_ok()).count()
}

impl MarianNetwork {
    /// Builds the network from a parsed model file; `heads` is not in the weights
    /// (Bergamot's tiny models have 8: `transformer-heads` in their model.yml).
    pub fn load(file: &MarianFile, device: &Device) -> Result<Self> {
        let embeddings = tensor(file, "Wemb", device)?;
        let (vocab, width) = embeddings.dims2()?;
        let heads = heads_from_yml(file.model_yml().as_deref()).unwrap_or(8);
        if heads == 0 || width % heads != 0 || width % 2 != 0 {
            return Err(EngineError::BadModelFile(format!("a width of {width} cannot be split into {heads} heads")));
        }
        let sizes = MarianSizes {
            vocab,
            width,
            heads,
            encoder_layers: count_layers(file, "encoder", "self_Wq"),
            decoder_layers: count_layers(file, "decoder", "context_Wq"),
        };
        if sizes.encoder_layers == 0 || sizes.decoder_layers == 0 {
            return Err(EngineError::BadModelFile("this Marian model has no encoder or no decoder layers".into()));
        }
        let encoder = (1..=sizes.encoder_layers)
            .map(|n| {
                let p = format!("encoder_l{n}");
                Ok(EncoderLayer {
                    attention: MultiHead::load(file, &format!("{p}_self"), heads, device)?,
                    attention_norm: layer_norm(file, &format!("{p}_self_Wo"), device)?,
                    feed_forward: FeedForward::load(file, &format!("{p}_ffn"), device)?,
                    feed_forward_norm: layer_norm(file, &format!("{p}_ffn_ffn"), device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = (1..=sizes.decoder_layers)
            .map(|n| {
                let p = format!("decoder_l{n}");
                Ok(DecoderLayer {
                    ssru: Ssru {
                        input: projection(file, &format!("{p}_rnn_W"), None, device)?,
                        forget: projection(file, &format!("{p}_rnn_Wf"), Some(&format!("{p}_rnn_bf")), device)?,
                    },
                    ssru_norm: layer_norm(file, &format!("{p}_rnn_ffn"), device)?,
                    cross: MultiHead::load(file, &format!("{p}_context"), heads, device)?,
                    cross_norm: layer_norm(file, &format!("{p}_context_Wo"), device)?,
                    feed_forward: FeedForward::load(file, &format!("{p}_ffn"), device)?,
                    feed_forward_norm: layer_norm(file, &format!("{p}_ffn_ffn"), device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let output_bias = tensor(file, "decoder_ff_logit_out_b", device)?;
        if output_bias.dims() != [vocab] {
            return Err(EngineError::BadModelFile(format!("the output bias has shape {:?}, not [{vocab}]", output_bias.dims())));
        }
        Ok(Self { sizes, embeddings, output_bias, encoder, decoder, device: device.clone() })
    }

    /// The sinusoidal encodings of `count` positions from `start`, [count, width].
    fn positions(&self, start: usize, count: usize) -> candle_core::Result<Tensor> {
        Tensor::from_vec(crate::report::positions::sinusoids(start, count, self.sizes.width), (count, self.sizes.width), &self.device)
    }

    /// The positions it adds (to the source's tokens and to the translation's), its first
    /// `shown` rows.
    pub fn position_sets(&self, shown: usize) -> Vec<crate::report::positions::PositionSet> {
        use crate::report::positions::{sinusoids, PositionKind, PositionSet, Table};
        let width = self.sizes.width;
        let table = Table::of(&sinusoids(0, shown, width), width, shown);
        vec![PositionSet { name: "encoder and decoder".into(), layers: Vec::new(), kind: PositionKind::Sinusoidal { width, table } }]
    }

    /// √width · E[ids], [t, width].
    fn embed(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        let ids = Tensor::new(ids, &self.device)?;
        self.embeddings.index_select(&ids, 0)? * (self.sizes.width as f64).sqrt()
    }

    /// Runs the encoder over `source` as `options` say: (its output [source, width], its maps
    /// flat [layer, head, source, source], layer `scores_of_layer`'s raw q·k flat
    /// [head, source, source] and the value norms flat [layer, head, source] when asked).
    /// Heads ablated here change what the decoder reads, so the whole translation.
    fn encode(&self, source: &[u32], options: &EncoderOptions) -> Result<Encoded> {
        let x = (self.embed(source)? + self.positions(0, source.len())?)?;
        let mut pass = Pass::new().observing(KeepMaps::with_capacity(self.encoder.len() * self.sizes.heads * source.len() * source.len()));
        if let Some(layer) = options.scores_of_layer {
            pass = pass.observing(KeepRawScores::of_layer(layer));
        }
        if options.value_norms {
            pass = pass.observing(KeepValueNorms::default());
        }
        if let Some(intervention) = options.intervention {
            site_of(intervention, &["encoder"])?;
            pass = pass.changing(vec![ablation_only(intervention, self.encoder.len(), self.sizes.heads, "text")?]);
        }
        let output = pass.through(&self.encoder, x, 0..self.encoder.len(), Span::whole(Mask::None, source.len()), None, &self.device)?;
        let maps = pass.observers.take::<KeepMaps>().map(KeepMaps::into_flat).unwrap_or_default();
        let scores = pass.observers.take::<KeepRawScores>().and_then(KeepRawScores::into_kept).map(|(_, _, flat)| flat);
        let value_norms = pass.observers.take::<KeepValueNorms>().map(KeepValueNorms::into_flat);
        Ok(Encoded { output, maps, scores, value_norms })
    }

    /// Translates `source` (ids ending with `</s>`) greedily; with a shortlist, the
    /// output chooses among its candidates only. `on_token(step, id, limit)` hears each
    /// target token as it is chosen (a page shows the translation growing), `limit`
    /// being the most steps the translation may take.
    /// The encoder keeps and changes what `options` say.
    pub fn translate(
        &self,
        source: &[u32],
        shortlist: Option<&Shortlist>,
        options: &EncoderOptions,
        mut on_token: impl FnMut(usize, u32, usize),
    ) -> Result<Translated> {
        let scores_of_layer = options.scores_of_layer;
        let MarianSizes { vocab, width, heads, .. } = self.sizes;
        if let Some(&id) = source.iter().find(|&&id| id as usize >= vocab) {
            return Err(EngineError::TokenOutOfRange { id, vocab });
        }
        if let Some(layer) = scores_of_layer.filter(|&l| l >= self.encoder.len()) {
            return Err(EngineError::NoSuchLayer { layer, layers: self.encoder.len() });
        }
        let Encoded { output: memory, maps: encoder, scores: encoder_scores, value_norms: encoder_value_norms } = self.encode(source, options)?;

        let candidates: Vec<u32> = match shortlist {
            Some(list) => list.candidates(source, vocab),
            None => (0..vocab as u32).collect(),
        };
        let candidate_ids = Tensor::new(candidates.as_slice(), &self.device)?;
        let decoder = Decoder {
            network: self,
            output_weight: self.embeddings.index_select(&candidate_ids, 0)?.t()?.contiguous()?, // [width, candidates]
            output_bias: self.output_bias.index_select(&candidate_ids, 0)?,                     // [candidates]
        };

        let limit = (MAX_LENGTH_FACTOR * source.len() as f64).ceil() as usize;
        // The decoder reads the target so far after a first input of nothing (its id unread).
        let mut inputs = vec![EOS];
        let mut cache = KvCache::default();
        // Per step, [layer, head, source]: the cross-attention and its raw scores.
        let (mut target, mut steps, mut scores_steps) = (Vec::new(), Vec::new(), Vec::new());
        for t in 0..limit {
            // probs and raw q·k [heads, 1, source]: the cross scores are tiny, every layer's is kept.
            let mut pass = Pass::new().observing(KeepMaps::of(Keys::Memory)).observing(KeepRawScores::every_layer(Keys::Memory));
            let logits = pass
                .run_reading(&decoder, &inputs, Mask::None, Some(&mut cache), Start::Embeddings, None, Some(&memory))?
                .logits()?
                .ok_or(EngineError::NoLogits)?;
            let step = pass.observers.take::<KeepMaps>().map(KeepMaps::into_flat).unwrap_or_default();
            let step_scores: Vec<f32> =
                pass.observers.take::<KeepRawScores>().map(KeepRawScores::into_all).unwrap_or_default().into_iter().flat_map(|(_, _, _, flat)| flat).collect();
            let best = candidates
                .iter()
                .zip(&logits)
                .filter(|(&id, _)| id != UNK)
                .fold(None, |best: Option<(u32, f32)>, (&id, &l)| match best {
                    Some((_, top)) if top >= l => best,
                    _ => Some((id, l)),
                })
                .map(|(id, _)| id)
                .ok_or_else(|| EngineError::BadModelFile("the shortlist leaves no token to choose".into()))?;
            target.push(best);
            steps.push(step);
            scores_steps.push(step_scores);
            on_token(t, best, limit);
            if best == EOS {
                break;
            }
            inputs.push(best);
        }
        let cut_by_limit = target.last() != Some(&EOS);
        let cross = steps_to_maps(&steps, self.decoder.len(), heads, source.len());
        let cross_scores_flat = steps_to_maps(&scores_steps, self.decoder.len(), heads, source.len());
        let (s, t) = (source.len(), target.len());
        let wrong_size = || candle_core::Error::Msg("the translator kept attention of the wrong size".into());
        let encoder = AttentionMaps::from_shape([self.encoder.len(), heads, s, s], encoder).ok_or_else(wrong_size)?;
        let cross = AttentionMaps::from_shape([self.decoder.len(), heads, t, s], cross).ok_or_else(wrong_size)?;
        let head_dim = width / heads;
        let encoder_scores =
            scores_of_layer.zip(encoder_scores).map(|(layer, flat)| LayerScores::from_flat(layer, head_dim, Scoring::standard(head_dim), heads, s, &flat));
        let cross_scores = cross_scores_flat
            .chunks((heads * t * s).max(1))
            .take(self.decoder.len())
            .enumerate()
            .map(|(layer, flat)| LayerScores::from_shape(layer, head_dim, Scoring::standard(head_dim), [heads, t, s], flat))
            .collect();
        Ok(Translated { source: source.to_vec(), target, encoder, cross, encoder_scores, encoder_value_norms, cross_scores, cut_by_limit })
    }
}

/// What the encoder keeps or changes beside its maps.
#[derive(Clone, Copy, Debug, Default)]
pub struct EncoderOptions<'a> {
    /// Keep this layer's raw scores q·k (for the arithmetic view).
    pub scores_of_layer: Option<usize>,
    /// Keep every head's value norms (for value-weighted maps).
    pub value_norms: bool,
    /// Heads of the encoder's self-attention to ablate (zeroed, or their mean over the source).
    pub intervention: Option<&'a Intervention>,
}

/// The encoder's run: its output [source, width] (the memory the decoder reads), its maps
/// and, when asked, one layer's raw scores and the value norms (all flat).
struct Encoded {
    output: Tensor,
    maps: Vec<f32>,
    scores: Option<Vec<f32>>,
    value_norms: Option<Vec<f32>>,
}

/// Per-step rows [step][layer, head, source] into maps flat [layer, head, step, source].
fn steps_to_maps(steps: &[Vec<f32>], layers: usize, heads: usize, source: usize) -> Vec<f32> {
    let mut maps = Vec::with_capacity(steps.len() * layers * heads * source);
    for lh in 0..layers * heads {
        for step in steps {
            maps.extend_from_slice(&step[lh * source..(lh + 1) * source]);
        }
    }
    maps
}

/// `transformer-heads: N` in the model's model.yml.
fn heads_from_yml(yml: Option<&str>) -> Option<usize> {
    yml?.lines().find_map(|line| line.trim().strip_prefix("transformer-heads:")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_become_maps_layer_head_step_source() {
        // 2 steps, 1 layer, 2 heads, 3 source tokens: value = 100 step + 10 head + source.
        let steps: Vec<Vec<f32>> = (0..2).map(|s| (0..2).flat_map(|h| (0..3).map(move |k| (100 * s + 10 * h + k) as f32)).collect()).collect();
        let maps = steps_to_maps(&steps, 1, 2, 3);
        assert_eq!(maps, vec![0., 1., 2., 100., 101., 102., 10., 11., 12., 110., 111., 112.]);
    }

    #[test]
    fn the_head_count_comes_from_model_yml() {
        assert_eq!(heads_from_yml(Some("type: transformer\ntransformer-heads: 8\n")), Some(8));
        assert_eq!(heads_from_yml(Some("dim-emb: 256")), None);
        assert_eq!(heads_from_yml(None), None);
    }
}
