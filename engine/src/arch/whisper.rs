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

use super::nn::{gelu_erf, layer_norm, merge_heads, split_heads, LayerNorm, Linear};
use crate::attention::{additive_mask_from, attend, with_slice};
use crate::error::{EngineError, Result};
use crate::kernels::rows_times_matrix;
use crate::matrix_product::with_bias;
use crate::load::whisper::{WhisperSizes, WhisperWeights};
use crate::report::{pool_blocks, Mask, Scoring};

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
        let k_proj = Linear::load_without_bias(vb.pp("k_proj"), d, d)?;
        Ok(Self {
            q_proj: Linear::load(vb.pp("q_proj"), d, d)?,
            k_proj,
            v_proj: Linear::load(vb.pp("v_proj"), d, d)?,
            out_proj: Linear::load(vb.pp("out_proj"), d, d)?,
            heads,
        })
    }

    /// `x` [t, d] as heads: [heads, t, d / heads].
    fn queries(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        split_heads(&forward(&self.q_proj, x)?, self.heads)
    }

    /// The keys and values of `x` [t, d]: [heads, t, d / heads] each.
    fn keys_values(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((split_heads(&forward(&self.k_proj, x)?, self.heads)?, split_heads(&forward(&self.v_proj, x)?, self.heads)?))
    }

    /// Queries `q` [heads, q, dh] attend to keys and values [heads, k, dh]: (the output
    /// [q, d], the probabilities [heads, q, k]).
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<(Tensor, Tensor)> {
        let (out, probs, _) = attend(q, k, v, mask, Scoring::standard(q.dim(2)?), false)?;
        Ok((forward(&self.out_proj, &merge_heads(&out)?)?, probs))
    }
}

/// A projection of `x` [t, in]; one row goes through the one-row kernel (a decoder step).
fn forward(linear: &Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    if x.dim(0)? == 1 {
        // `Linear` holds [out, in] column-major: its transpose is [in, out] contiguous.
        let y = rows_times_matrix(x, &linear.weight()?.t()?)?;
        return with_bias(y, linear.bias());
    }
    linear.forward(x)
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
        forward(&self.fc2, &gelu_erf(&forward(&self.fc1, x)?)?)
    }
}

struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    mlp: Mlp,
    final_layer_norm: LayerNorm,
}

struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: LayerNorm,
    mlp: Mlp,
    final_layer_norm: LayerNorm,
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
    /// Each layer's normalised input, [frames, d]: a whole map is computed from it when a
    /// view asks (see [`Whisper::encoder_map`]).
    pub layer_inputs: Vec<Tensor>,
}

/// The decoder's keys and values so far, per layer: [heads, t, dh] each.
#[derive(Default)]
pub struct DecoderCache {
    self_kv: Vec<(Tensor, Tensor)>,
    /// The encoder output's keys and values, per layer, computed once.
    cross_kv: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl DecoderCache {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
}

pub struct Whisper {
    pub sizes: WhisperSizes,
    conv1: Conv1d,
    conv2: Conv1d,
    encoder_positions: Tensor, // [1500, d]
    encoder_layers: Vec<EncoderLayer>,
    encoder_norm: LayerNorm,
    embed_tokens: Tensor,      // [vocab, d]
    output_weight: Tensor,     // [d, vocab]: the embeddings, transposed
    decoder_positions: Tensor, // [448, d]
    decoder_layers: Vec<DecoderLayer>,
    decoder_norm: LayerNorm,
    device: Device,
}

impl Whisper {
    pub fn load(weights: WhisperWeights, device: &Device) -> Result<Self> {
        let s = weights.sizes;
        let d = s.d_model;
        if s.encoder_attention_heads == 0 || s.decoder_attention_heads == 0 || d % s.encoder_attention_heads != 0 || d % s.decoder_attention_heads != 0 {
            return Err(EngineError::BadModelFile(format!("a width of {d} cannot be split into {} heads", s.encoder_attention_heads)));
        }
        if s.encoder_layers == 0 || s.decoder_layers == 0 || s.vocab_size == 0 || s.num_mel_bins == 0 || s.max_source_positions == 0 {
            return Err(EngineError::BadModelFile("this Whisper model lacks an encoder, a decoder or a vocabulary".into()));
        }
        let vb = VarBuilder::from_tensors(weights.tensors, DType::F32, device);
        let bad = |e: candle_core::Error| EngineError::BadModelFile(format!("the weights do not fit a Whisper of these sizes: {}", crate::error::first_line(&e)));
        let (enc, dec) = (vb.pp("model.encoder"), vb.pp("model.decoder"));
        let conv = |name: &str, inputs: usize, stride: usize| {
            candle_nn::conv1d(inputs, d, 3, Conv1dConfig { padding: 1, stride, ..Default::default() }, enc.pp(name))
        };
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
        Ok(Self {
            conv1: conv("conv1", s.num_mel_bins, 1).map_err(bad)?,
            conv2: conv("conv2", d, 2).map_err(bad)?,
            encoder_positions: enc.get((s.max_source_positions, d), "embed_positions.weight").map_err(bad)?,
            encoder_layers,
            encoder_norm: layer_norm(enc.pp("layer_norm"), d, LN_EPS).map_err(bad)?,
            output_weight: embed_tokens.t()?.contiguous()?,
            embed_tokens,
            decoder_positions: dec.get((s.max_target_positions, d), "embed_positions.weight").map_err(bad)?,
            decoder_layers,
            decoder_norm: layer_norm(dec.pp("layer_norm"), d, LN_EPS).map_err(bad)?,
            sizes: s,
            device: device.clone(),
        })
    }

    /// Encodes a log-mel spectrogram `mel` [mels, 2 × frames] (30 s: [80, 3000]), keeping
    /// each layer's self-attention pooled into blocks of `block` frames.
    pub fn encode(&self, mel: &Tensor, block: usize) -> Result<Encoded> {
        let frames = self.sizes.max_source_positions;
        let (mels, width) = mel.dims2()?;
        if mels != self.sizes.num_mel_bins || width != 2 * frames {
            return Err(EngineError::BadAudio(format!("the spectrogram is {mels} × {width}; this model reads {} × {}", self.sizes.num_mel_bins, 2 * frames)));
        }
        let x = gelu_erf(&self.conv1.forward(&mel.unsqueeze(0)?)?)?; // [1, d, 3000]
        let x = gelu_erf(&self.conv2.forward(&x)?)?; // [1, d, 1500]
        let mut x = (x.squeeze(0)?.t()? + &self.encoder_positions)?.contiguous()?; // [1500, d]
        let block = block.max(1);
        let blocks = frames.div_ceil(block);
        let mut pooled = Vec::with_capacity(self.encoder_layers.len() * self.sizes.encoder_attention_heads * blocks * blocks);
        let mut layer_inputs = Vec::with_capacity(self.encoder_layers.len());
        for layer in &self.encoder_layers {
            let h = layer.self_attn_layer_norm.forward(&x)?;
            let q = layer.self_attn.queries(&h)?;
            let (k, v) = layer.self_attn.keys_values(&h)?;
            let (out, probs) = layer.self_attn.attend(&q, &k, &v, None)?; // probs [heads, 1500, 1500]
            // Pooled where the probabilities lie: a copy of 54 MB per layer costs more than the pooling.
            pooled.extend(with_slice(&probs, |maps| pool_blocks(maps, self.sizes.encoder_attention_heads, (frames, frames), block))?);
            layer_inputs.push(h);
            x = (x + out)?;
            x = (&x + layer.mlp.forward(&layer.final_layer_norm.forward(&x)?)?)?;
        }
        Ok(Encoded { output: self.encoder_norm.forward(&x)?, pooled, blocks, layer_inputs })
    }

    /// Encoder layer `layer`'s whole self-attention for head `head` from what [`Whisper::encode`]
    /// kept, flat [frames, frames].
    pub fn encoder_map(&self, encoded: &Encoded, layer: usize, head: usize) -> Result<Vec<f32>> {
        let heads = self.sizes.encoder_attention_heads;
        let (Some(h), Some(l)) = (encoded.layer_inputs.get(layer), self.encoder_layers.get(layer)) else {
            return Err(EngineError::NoSuchLayer { layer, layers: self.encoder_layers.len() });
        };
        if head >= heads {
            return Err(EngineError::NoSuchHead { head, heads });
        }
        let q = l.self_attn.queries(h)?.narrow(0, head, 1)?;
        let (k, v) = l.self_attn.keys_values(h)?;
        let (_, probs, _) = attend(&q, &k.narrow(0, head, 1)?, &v.narrow(0, head, 1)?, None, Scoring::standard(q.dim(2)?), false)?;
        Ok(probs.flatten_all()?.to_vec1()?)
    }

    /// Starts a decoder over the encoder's output: each layer's cross keys and values, once.
    pub fn start_decoder(&self, encoded: &Encoded) -> Result<DecoderCache> {
        let cross_kv = self.decoder_layers.iter().map(|l| l.encoder_attn.keys_values(&encoded.output)).collect::<candle_core::Result<_>>()?;
        Ok(DecoderCache { self_kv: Vec::new(), cross_kv, len: 0 })
    }

    /// Runs the decoder over `ids`, the tokens after those in `cache`, which grows by them.
    pub fn decode(&self, ids: &[u32], cache: &mut DecoderCache) -> Result<DecoderStep> {
        let (start, n) = (cache.len, ids.len());
        if n == 0 {
            return Err(EngineError::NoTokens);
        }
        if start + n > self.sizes.max_target_positions {
            return Err(EngineError::TooManyTokens { given: start + n, limit: self.sizes.max_target_positions });
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.sizes.vocab_size) {
            return Err(EngineError::TokenOutOfRange { id, vocab: self.sizes.vocab_size });
        }
        let tokens = self.embed_tokens.index_select(&Tensor::new(ids, &self.device)?, 0)?;
        let mut x = (tokens + self.decoder_positions.narrow(0, start, n)?)?; // [n, d]
        let mask = additive_mask_from(Mask::PlainCausal, None, start, start + n, &self.device)?;
        let (mut self_attention, mut cross_attention) = (Vec::new(), Vec::new());
        for (index, layer) in self.decoder_layers.iter().enumerate() {
            let h = layer.self_attn_layer_norm.forward(&x)?;
            let q = layer.self_attn.queries(&h)?;
            let (k, v) = layer.self_attn.keys_values(&h)?;
            let (k, v) = match cache.self_kv.get(index) {
                Some((pk, pv)) => (Tensor::cat(&[pk, &k], 1)?, Tensor::cat(&[pv, &v], 1)?),
                None => (k, v),
            };
            let (out, probs) = layer.self_attn.attend(&q, &k, &v, mask.as_ref())?;
            if index < cache.self_kv.len() {
                cache.self_kv[index] = (k, v);
            } else {
                cache.self_kv.push((k, v));
            }
            self_attention.push(probs);
            x = (x + out)?;
            let h = layer.encoder_attn_layer_norm.forward(&x)?;
            let (ck, cv) = &cache.cross_kv[index];
            let (out, probs) = layer.encoder_attn.attend(&layer.encoder_attn.queries(&h)?, ck, cv, None)?;
            cross_attention.push(probs);
            x = (x + out)?;
            x = (&x + layer.mlp.forward(&layer.final_layer_norm.forward(&x)?)?)?;
        }
        cache.len += n;
        let last = self.decoder_norm.forward(&x.narrow(0, n - 1, 1)?)?; // [1, d]
        let logits = rows_times_matrix(&last, &self.output_weight)?.squeeze(0)?.to_vec1::<f32>()?;
        Ok(DecoderStep { logits, self_attention, cross_attention })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// The index of the largest value (the first of equals).
pub fn argmax(values: &[f32]) -> Option<usize> {
    values.iter().enumerate().fold(None, |best: Option<(usize, f32)>, (i, &v)| match best {
        Some((_, top)) if top >= v => best,
        _ => Some((i, v)),
    }).map(|(i, _)| i)
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
