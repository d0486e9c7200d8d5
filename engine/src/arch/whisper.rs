//! OpenAI's Whisper: an encoder over 30 s of log-mel frames and a decoder that writes the
//! transcript, attending to itself (causally) and to the encoder's output (the
//! cross-attention that says where in the sound each token was heard). Names follow
//! Hugging Face's `WhisperForConditionalGeneration`; [`crate::load::whisper`] reads
//! CTranslate2's files into the same names.
//!
//! - encoder: x = GELU(conv₂ GELU(conv₁ mel)) (kernel 3, the second with stride 2: 3000
//!   frames of 10 ms become 1500 of 20 ms) + learned positions; pre-norm layers
//!   x += attn(LN x), x += fc₂ GELU(fc₁ LN x); a final LN;
//! - decoder: x = E[id] + learned positions; pre-norm layers with causal self-attention,
//!   then cross-attention over the encoder's output, then the MLP; a final LN;
//!   logits = x Eᵀ (the output projection is the embedding table);
//! - every attention scaled by 1/√d_head; the key projections have no bias; GELU is erf's.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, VarBuilder};

use super::family::{Builder, Family};
use super::nn::{gelu_erf, layer_norm, merge_heads, split_heads, LayerNorm, Linear};
use crate::error::{EngineError, Result};
use crate::forward::{Attending, Layer, Network, Pass, Ran, Span, Stack, Start};
use crate::intervention::Changes;
use crate::load::whisper::{WhisperSizes, WhisperWeights};
use crate::observe::{KeepMaps, KeepQueriesKeys, KeepValueNorms, KeptLayer, Keys};
use crate::prefix::KvCache;
use crate::products::rows_times_matrix;
use crate::report::{Mask, ModelKind, Scoring};

pub const FAMILY: Family = Family { name: "whisper", model_types: &["whisper"], gguf: None, kind: ModelKind::Speech, builder: Builder::Own };

/// Whisper's layer-norm epsilon.
const LN_EPS: f64 = 1e-5;

/// Attention with Whisper's projections: q, k (no bias), v, out.
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
}

impl Attention {
    fn load(vb: VarBuilder, d: usize, heads: usize) -> candle_core::Result<Self> {
        Ok(Self {
            q_proj: Linear::load(vb.pp("q_proj"), d, d)?,
            k_proj: Linear::load_without_bias(vb.pp("k_proj"), d, d)?,
            v_proj: Linear::load(vb.pp("v_proj"), d, d)?,
            out_proj: Linear::load(vb.pp("out_proj"), d, d)?,
            heads,
        })
    }

    /// `x` [t, d] as heads: [heads, t, d / heads].
    fn queries(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        split_heads(&self.q_proj.forward(x)?, self.heads)
    }

    /// The keys and values of `x` [t, d]: [heads, t, d / heads] each.
    fn keys_values(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((split_heads(&self.k_proj.forward(x)?, self.heads)?, split_heads(&self.v_proj.forward(x)?, self.heads)?))
    }

    /// The heads' outputs [heads, t, dh] projected back into the stream: [t, d].
    fn output(&self, out: &Tensor) -> candle_core::Result<Tensor> {
        self.out_proj.forward(&merge_heads(out)?)
    }
}

/// Every attention of Whisper's is scaled by 1/√d_head.
fn scoring(q: &Tensor) -> candle_core::Result<Scoring> {
    Ok(Scoring::standard(q.dim(2)?))
}

/// fc₂ GELU(fc₁ x)
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn load(vb: VarBuilder, d: usize, ffn: usize) -> candle_core::Result<Self> {
        Ok(Self { fc1: Linear::load(vb.pp("fc1"), d, ffn)?, fc2: Linear::load(vb.pp("fc2"), ffn, d)? })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.fc2.forward(&gelu_erf(&self.fc1.forward(x)?)?)
    }
}

/// A pre-norm encoder layer: x += attn(LN x); x += MLP(LN x).
struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    mlp: Mlp,
    final_layer_norm: LayerNorm,
}

impl Layer for EncoderLayer {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let h = self.self_attn_layer_norm.forward(x)?;
        let q = self.self_attn.queries(&h)?;
        let (k, v) = self.self_attn.keys_values(&h)?;
        let out = at.attend(&q, &k, &v, None, scoring(&q)?, || self.self_attn.out_proj.weight())?;
        x + self.self_attn.output(&out)?
    }

    fn feed_forward(&self, _input: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
        x + self.mlp.forward(&self.final_layer_norm.forward(x)?)?
    }
}

/// A pre-norm decoder layer: x += self-attn(LN x) (causal); x += cross-attn(LN x, the
/// encoder's output); x += MLP(LN x). Its attention half is both attentions.
struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: LayerNorm,
    mlp: Mlp,
    final_layer_norm: LayerNorm,
}

impl Layer for DecoderLayer {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let h = self.self_attn_layer_norm.forward(x)?;
        let q = self.self_attn.queries(&h)?;
        let (k, v) = self.self_attn.keys_values(&h)?;
        let (k, v) = at.keys_values(k, v)?; // [heads, t, dh]
        let mask = at.mask(None)?;
        let out = at.attend(&q, &k, &v, mask.as_ref(), scoring(&q)?, || self.self_attn.out_proj.weight())?;
        let x = (x + self.self_attn.output(&out)?)?;
        let h = self.encoder_attn_layer_norm.forward(&x)?;
        let q = self.encoder_attn.queries(&h)?;
        // The encoder output's keys and values, once for every step.
        let (k, v) = at.memory_keys_values(|memory| self.encoder_attn.keys_values(memory))?; // [heads, frames, dh]
        let out = at.attend_memory(&q, &k, &v, scoring(&q)?, || self.encoder_attn.out_proj.weight())?;
        x + self.encoder_attn.output(&out)?
    }

    fn feed_forward(&self, _input: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
        x + self.mlp.forward(&self.final_layer_norm.forward(x)?)?
    }
}

/// The decoder: token embeddings and learned positions, its layers, and the readout through
/// the embedding table.
struct Decoder {
    embed_tokens: Tensor,  // [vocab, d]
    output_weight: Tensor, // [d, vocab]: the embeddings, transposed
    positions: Tensor,     // [448, d]
    layers: Vec<DecoderLayer>,
    norm: LayerNorm,
    device: Device,
}

impl Network for Decoder {
    fn layers(&self) -> &dyn Stack {
        &self.layers
    }

    fn embed(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        let tokens = self.embed_tokens.index_select(&Tensor::new(&ids[start..], &self.device)?, 0)?;
        tokens + self.positions.narrow(0, start, ids.len() - start)? // [new, d]
    }

    fn logits(&self, last: &Tensor) -> candle_core::Result<Option<Tensor>> {
        rows_times_matrix(&self.norm.forward(last)?, &self.output_weight).map(Some)
        // [1, vocab]
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn caches(&self) -> bool {
        true
    }
}

/// What the encoder leaves for the decoder and the views.
pub struct Encoded {
    /// The encoder's output, [frames, d].
    pub output: Tensor,
    /// Each layer's self-attention pooled into blocks of `block` frames (the rows
    /// averaged, the columns summed, so each row still sums to 1): flat
    /// [layer, head, blocks, blocks].
    pub pooled: Vec<f32>,
    pub blocks: usize,
    /// Each layer's queries and keys: a whole map is computed from them when a view asks
    /// (see [`Whisper::encoder_map`]).
    layers: Vec<KeptLayer>,
}

/// The decoder's state between steps: the tokens it has read, their keys and values, and
/// the encoder's output its cross-attention reads (with its keys and values, made once).
pub struct DecoderCache {
    ids: Vec<u32>,
    kv: KvCache,
    memory: Tensor,
}

impl DecoderCache {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What one decoder pass over new tokens gives.
pub struct DecoderStep {
    /// The logits after the last new token, [vocab].
    pub logits: Vec<f32>,
    /// Per layer: self-attention probabilities [heads, new, cache length after].
    pub self_attention: Vec<Tensor>,
    /// Per layer: cross-attention probabilities [heads, new, frames].
    pub cross_attention: Vec<Tensor>,
    /// Every self-attention head's value norms over the cache's tokens so far, flat
    /// [layer, head, cache length after], when asked for.
    pub value_norms: Option<Vec<f32>>,
}

/// What a decoder step keeps or changes beside its maps.
#[derive(Clone, Copy, Default)]
pub struct StepOptions<'a> {
    /// Heads of the decoder's self-attention changed (their rows of this step).
    pub(crate) changes: Option<&'a Changes>,
    /// Keep every self-attention head's value norms (of every token so far).
    pub value_norms: bool,
}

impl Whisper {
    /// The encoder's table (sinusoids, stored in the checkpoint) and the decoder's (learned),
    /// each one's first `shown` rows.
    pub fn position_sets(&self, shown: usize) -> Result<Vec<crate::report::positions::PositionSet>> {
        let encoder = crate::positions::learned("encoder (sinusoidal, as stored)", &self.encoder_positions, 0, shown)?;
        let decoder = crate::positions::learned("decoder", &self.decoder.positions, 0, shown)?;
        Ok(vec![encoder, decoder])
    }
}

pub struct Whisper {
    pub sizes: WhisperSizes,
    conv1: Conv1d,
    conv2: Conv1d,
    encoder_positions: Tensor, // [1500, d]
    encoder: Vec<EncoderLayer>,
    encoder_norm: LayerNorm,
    decoder: Decoder,
    device: Device,
}

impl Whisper {
    pub fn load(weights: WhisperWeights, device: &Device) -> Result<Self> {
        let s = weights.sizes;
        let d = s.d_model;
        if s.encoder_attention_heads == 0
            || s.decoder_attention_heads == 0
            || !d.is_multiple_of(s.encoder_attention_heads)
            || !d.is_multiple_of(s.decoder_attention_heads)
        {
            return Err(EngineError::BadModelFile(format!("a width of {d} cannot be split into {} heads", s.encoder_attention_heads)));
        }
        if s.encoder_layers == 0 || s.decoder_layers == 0 || s.vocab_size == 0 || s.num_mel_bins == 0 || s.max_source_positions == 0 {
            return Err(EngineError::BadModelFile("this Whisper model lacks an encoder, a decoder or a vocabulary".into()));
        }
        let vb = VarBuilder::from_tensors(weights.tensors, DType::F32, device);
        let bad =
            |e: candle_core::Error| EngineError::BadModelFile(format!("the weights do not fit a Whisper of these sizes: {}", crate::error::first_line(&e)));
        let (enc, dec) = (vb.pp("model.encoder"), vb.pp("model.decoder"));
        let conv =
            |name: &str, inputs: usize, stride: usize| candle_nn::conv1d(inputs, d, 3, Conv1dConfig { padding: 1, stride, ..Default::default() }, enc.pp(name));
        let encoder_layers = (0..s.encoder_layers)
            .map(|i| {
                let vb = enc.pp(format!("layers.{i}"));
                Ok(EncoderLayer {
                    self_attn: Attention::load(vb.pp("self_attn"), d, s.encoder_attention_heads)?,
                    self_attn_layer_norm: layer_norm(vb.pp("self_attn_layer_norm"), d, LN_EPS)?,
                    mlp: Mlp::load(vb.clone(), d, s.encoder_ffn_dim)?,
                    final_layer_norm: layer_norm(vb.pp("final_layer_norm"), d, LN_EPS)?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(bad)?;
        let decoder_layers = (0..s.decoder_layers)
            .map(|i| {
                let vb = dec.pp(format!("layers.{i}"));
                Ok(DecoderLayer {
                    self_attn: Attention::load(vb.pp("self_attn"), d, s.decoder_attention_heads)?,
                    self_attn_layer_norm: layer_norm(vb.pp("self_attn_layer_norm"), d, LN_EPS)?,
                    encoder_attn: Attention::load(vb.pp("encoder_attn"), d, s.decoder_attention_heads)?,
                    encoder_attn_layer_norm: layer_norm(vb.pp("encoder_attn_layer_norm"), d, LN_EPS)?,
                    mlp: Mlp::load(vb.clone(), d, s.decoder_ffn_dim)?,
                    final_layer_norm: layer_norm(vb.pp("final_layer_norm"), d, LN_EPS)?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(bad)?;
        let embed_tokens = dec.get((s.vocab_size, d), "embed_tokens.weight").map_err(bad)?;
        let decoder = Decoder {
            output_weight: embed_tokens.t()?.contiguous()?,
            embed_tokens,
            positions: dec.get((s.max_target_positions, d), "embed_positions.weight").map_err(bad)?,
            layers: decoder_layers,
            norm: layer_norm(dec.pp("layer_norm"), d, LN_EPS).map_err(bad)?,
            device: device.clone(),
        };
        Ok(Self {
            conv1: conv("conv1", s.num_mel_bins, 1).map_err(bad)?,
            conv2: conv("conv2", d, 2).map_err(bad)?,
            encoder_positions: enc.get((s.max_source_positions, d), "embed_positions.weight").map_err(bad)?,
            encoder: encoder_layers,
            encoder_norm: layer_norm(enc.pp("layer_norm"), d, LN_EPS).map_err(bad)?,
            decoder,
            sizes: s,
            device: device.clone(),
        })
    }

    /// Encodes a log-mel spectrogram `mel` [mels, 2 × frames] (30 s: [80, 3000]), keeping
    /// each layer's self-attention pooled into blocks of `block` frames, with the heads'
    /// outputs `changes` says changed.
    pub(crate) fn encode(&self, mel: &Tensor, block: usize, changes: Option<&Changes>) -> Result<Encoded> {
        let frames = self.sizes.max_source_positions;
        let (mels, width) = mel.dims2()?;
        if mels != self.sizes.num_mel_bins || width != 2 * frames {
            return Err(EngineError::BadAudio(format!("the spectrogram is {mels} × {width}; this model reads {} × {}", self.sizes.num_mel_bins, 2 * frames)));
        }
        let x = gelu_erf(&self.conv1.forward(&mel.unsqueeze(0)?)?)?; // [1, d, 3000]
        let x = gelu_erf(&self.conv2.forward(&x)?)?; // [1, d, 1500]
        let x = (x.squeeze(0)?.t()? + &self.encoder_positions)?.contiguous()?; // [1500, d]
        let block = block.max(1);
        // Pooled where the probabilities lie, a stretch of frames at a time: a whole layer's
        // maps (54 MB) are never held, and its queries and keys give any head's map again.
        let mut pass = Pass::new().pooled(block, None).observing(KeepMaps::default()).observing(KeepQueriesKeys::default());
        if let Some(changes) = changes {
            pass = pass.changing(vec![changes.clone()]);
        }
        let x = pass.through(&self.encoder, x, 0..self.encoder.depth(), Span::whole(Mask::None, frames), None, &self.device)?;
        let pooled = pass.observers.take::<KeepMaps>().map(KeepMaps::into_flat).unwrap_or_default();
        let layers = pass.observers.take::<KeepQueriesKeys>().map(KeepQueriesKeys::into_layers).unwrap_or_default();
        Ok(Encoded { output: self.encoder_norm.forward(&x)?, pooled, blocks: frames.div_ceil(block), layers })
    }

    /// Encoder layer `layer`'s whole self-attention for head `head` from what [`Whisper::encode`]
    /// kept, flat [frames, frames].
    pub fn encoder_map(&self, encoded: &Encoded, layer: usize, head: usize) -> Result<Vec<f32>> {
        let heads = self.sizes.encoder_attention_heads;
        let kept = encoded.layers.get(layer).ok_or(EngineError::NoSuchLayer { layer, layers: self.encoder.depth() })?;
        if head >= heads {
            return Err(EngineError::NoSuchHead { head, heads });
        }
        Ok(kept.map(head)?)
    }

    /// Starts a decoder over the encoder's output.
    pub fn start_decoder(&self, encoded: &Encoded) -> Result<DecoderCache> {
        Ok(DecoderCache { ids: Vec::new(), kv: KvCache::default(), memory: encoded.output.clone() })
    }

    /// Runs the decoder over `ids`, the tokens after those in `cache`, which grows by them.
    pub fn decode(&self, ids: &[u32], cache: &mut DecoderCache) -> Result<DecoderStep> {
        self.decode_with(ids, cache, StepOptions::default())
    }

    /// [`Whisper::decode`] keeping or changing what `options` say.
    pub fn decode_with(&self, ids: &[u32], cache: &mut DecoderCache, options: StepOptions) -> Result<DecoderStep> {
        let (start, n) = (cache.len(), ids.len());
        if n == 0 {
            return Err(EngineError::NoTokens);
        }
        if start + n > self.sizes.max_target_positions {
            return Err(EngineError::TooManyTokens { given: start + n, limit: self.sizes.max_target_positions });
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.sizes.vocab_size) {
            return Err(EngineError::TokenOutOfRange { id, vocab: self.sizes.vocab_size });
        }
        cache.ids.extend_from_slice(ids);
        let mut pass = Pass::new().observing(KeepMaps::default()).observing(KeepMaps::of(Keys::Memory));
        if options.value_norms {
            pass = pass.observing(KeepValueNorms::default());
        }
        if let Some(changes) = options.changes {
            pass = pass.changing(vec![changes.clone()]);
        }
        let ran = pass.run_reading(&self.decoder, &cache.ids, Mask::PlainCausal, Some(&mut cache.kv), Start::Embeddings, None, Some(&cache.memory));
        let logits = match ran.and_then(Ran::logits) {
            Ok(Some(logits)) => logits,
            failed => {
                // The cache holds no new position: the step can be tried again.
                cache.ids.truncate(start);
                return Err(failed.err().unwrap_or(EngineError::NoLogits));
            }
        };
        let (heads, frames, t) = (self.sizes.decoder_attention_heads, cache.memory.dim(0)?, start + n);
        let mut maps = |keys: Keys, width: usize| -> Result<Vec<Tensor>> {
            let flat = pass.observers.take_where(|m: &KeepMaps| m.keys() == keys).map(KeepMaps::into_flat).unwrap_or_default();
            let per_layer = heads * n * width;
            Ok(flat.chunks(per_layer.max(1)).map(|layer| Tensor::from_slice(layer, (heads, n, width), &self.device)).collect::<candle_core::Result<_>>()?)
        };
        let (self_attention, cross_attention) = (maps(Keys::Own, t)?, maps(Keys::Memory, frames)?);
        let value_norms = pass.observers.take::<KeepValueNorms>().map(KeepValueNorms::into_flat);
        Ok(DecoderStep { logits, self_attention, cross_attention, value_norms })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// The index of the largest value (the first of equals).
pub fn argmax(values: &[f32]) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f32)>, (i, &v)| match best {
            Some((_, top)) if top >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_equals() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), Some(1));
        assert_eq!(argmax(&[]), None);
    }
}
