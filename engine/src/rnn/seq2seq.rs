//! Bahdanau's and Luong's encoder–decoders, in candle so that one forward serves training
//! (autograd, a batch) and running (a batch of one, through [`Network`]).
//!
//! Both read the source with a bidirectional GRU (U units a direction; annotations
//! h_j = [→h_j; ←h_j], 2U) and start the decoder from tanh(←h_1 W_bridge + b), as Bahdanau,
//! Cho and Bengio (2015) do. Then:
//! - **Bahdanau** (`additive`): the query is the previous decoder state s_{i−1};
//!   e_ij = vᵀ tanh(s_{i−1} W_q + h_j W_k); the context c_i = Σ α_ij h_j is fed into the
//!   decoder's input, s_i = GRU([E y_{i−1}; c_i], s_{i−1}); the symbol is read from [s_i; c_i]
//!   (the paper reads s_{i−1}, y_{i−1}, c_i through a maxout layer; a linear read of the new
//!   state, which holds them, is what PyTorch's tutorial does).
//! - **Luong, Pham and Manning** (2015) (`dot`, `general`, `concat`, `local`): the query is the
//!   current state, s_i = GRU([E y_{i−1}; h̃_{i−1}], s_{i−1}) (input feeding);
//!   dot sᵀh_j, general (h_j W_a)ᵀ s, concat vᵀ tanh(s W_q + h_j W_k); local-p predicts
//!   p_i = |x| σ(v_pᵀ tanh(s W_p)) and weighs general's softmax inside [p_i − D, p_i + D] by
//!   exp(−(j − p_i)² / (2 (D/2)²)); then h̃_i = tanh([c_i; s_i] W_c) and the symbol h̃_i W_o + b.
//!
//! Weights are x·W ([inputs, outputs]); the GRU's gates are PyTorch's r, z, n.

use candle_core::{DType, Device, IndexOp, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// How the decoder scores an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Score {
    Additive,
    Dot,
    General,
    Concat,
    Local,
}

impl Score {
    pub const ALL: [Score; 5] = [Score::Additive, Score::Dot, Score::General, Score::Concat, Score::Local];

    pub fn name(self) -> &'static str {
        match self {
            Score::Additive => "additive",
            Score::Dot => "dot",
            Score::General => "general",
            Score::Concat => "concat",
            Score::Local => "local",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whose model it is: Bahdanau's (previous state as query, context into the input) or
    /// Luong's (current state as query, input feeding).
    pub fn is_bahdanau(self) -> bool {
        self == Score::Additive
    }
}

/// A seq2seq model's config.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Seq2SeqConfig {
    pub architecture: String, // "seq2seq-attention"
    pub task: String,         // what it was trained on ("dates")
    pub score: Score,
    pub source_slots: usize, // the most characters read
    pub target_limit: usize, // the most symbols written, the end symbol included
    pub embedding: usize,
    pub encoder_units: usize, // a direction
    pub decoder_units: usize,
    pub attention_units: usize, // additive's and concat's, and local-p's position network
    pub window: usize,          // local-p's D
}

pub const ARCHITECTURE: &str = "seq2seq-attention";

/// How a parameter starts when trained from scratch.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    /// Uniform in ±1/√fan (PyTorch's GRU and Linear).
    Uniform { fan: usize },
    /// Normal with mean 0 (PyTorch's Embedding: standard deviation 1).
    Normal { std: f64 },
}

/// One GRU: x·W_ih + b_ih and h·W_hh + b_hh, gates r, z, n in that order.
pub struct GruWeights {
    pub input: Tensor,          // [inputs, 3H]
    pub recurrent: Tensor,      // [H, 3H]
    pub input_bias: Tensor,     // [3H]
    pub recurrent_bias: Tensor, // [3H]
}

impl GruWeights {
    pub(crate) fn build(prefix: &str, inputs: usize, units: usize, get: &mut Getter) -> Result<Self> {
        let init = Init::Uniform { fan: units };
        Ok(Self {
            input: get(&format!("{prefix}.input"), &[inputs, 3 * units], init)?,
            recurrent: get(&format!("{prefix}.recurrent"), &[units, 3 * units], init)?,
            input_bias: get(&format!("{prefix}.input_bias"), &[3 * units], init)?,
            recurrent_bias: get(&format!("{prefix}.recurrent_bias"), &[3 * units], init)?,
        })
    }

    /// x [.., inputs] → x·W_ih + b_ih [.., 3H], for every step at once.
    pub fn input_gates(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.broadcast_matmul(&self.input)?.broadcast_add(&self.input_bias)?)
    }

    /// One step from the input's gates `gi` [B, 3H] and the state h [B, H] → h' [B, H];
    /// `keep` [B, 1] is 0 where a row reads padding (its state is kept), 1 elsewhere.
    pub fn step(&self, gi: &Tensor, h: &Tensor, keep: &Tensor) -> Result<Tensor> {
        let gh = h.matmul(&self.recurrent)?.broadcast_add(&self.recurrent_bias)?; // [B, 3H]
        Ok(super::gru_op::gru_step(gi, &gh, h, keep)?)
    }
}

/// x·W + b.
#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor, // [inputs, outputs]
    pub bias: Option<Tensor>,
}

impl Linear {
    pub(crate) fn build(prefix: &str, inputs: usize, outputs: usize, bias: bool, get: &mut Getter) -> Result<Self> {
        Self::build_with_fan(prefix, inputs, outputs, bias, inputs, get)
    }

    /// With PyTorch's initial bound ±1/√fan for a fan other than the inputs (a convolution's
    /// taps split into products).
    pub(crate) fn build_with_fan(prefix: &str, inputs: usize, outputs: usize, bias: bool, fan: usize, get: &mut Getter) -> Result<Self> {
        let init = Init::Uniform { fan };
        let weight = get(&format!("{prefix}.weight"), &[inputs, outputs], init)?;
        let bias = if bias { Some(get(&format!("{prefix}.bias"), &[outputs], init)?) } else { None };
        Ok(Self { weight, bias })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.broadcast_matmul(&self.weight)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

/// Where a parameter comes from: made from a seed, or read from a file and checked.
pub type Getter<'a> = dyn FnMut(&str, &[usize], Init) -> Result<Tensor> + 'a;

/// The score's own parameters.
pub enum Scorer {
    /// vᵀ tanh(q W_q + h_j W_k): Bahdanau's additive and Luong's concat.
    Additive {
        query: Linear,
        key: Linear,
        v: Tensor,
    },
    Dot,
    /// (h_j W_a)ᵀ s.
    General {
        weight: Linear,
    },
    /// General's score inside a window around a predicted position.
    Local {
        weight: Linear,
        position: Linear,
        v: Tensor,
    },
}

pub struct Seq2Seq {
    pub config: Seq2SeqConfig,
    pub source_embedding: Tensor, // [source symbols, e]
    pub target_embedding: Tensor, // [target symbols, e]
    pub forward: GruWeights,
    pub backward: GruWeights,
    pub bridge: Linear, // ←h_1 [U] → s_0 [D]
    pub decoder: GruWeights,
    pub scorer: Scorer,
    pub combine: Option<Linear>, // Luong's [c; s] [2U + D] → h̃ [D]
    pub output: Linear,          // [s; c] (Bahdanau) or h̃ (Luong) → logits
}

/// The encoder's reading of a batch, and the decoder's state as it goes.
pub struct Decoding {
    annotations: Tensor, // [B, S, 2U]
    keys: Tensor,        // [B, S, A] additive and concat: h_j W_k; [B, S, D] the others: h_j W_a (or h_j)
    blocked: Tensor,     // [B, S]: 0 on the source, −1e9 on padding (added to the scores)
    lengths: Vec<usize>, // each source's characters
    state: Tensor,       // [B, D]
    feed: Tensor,        // [B, D]: Luong's h̃ of the previous step (zeros first)
    every: Tensor,       // [B, 1] ones: every row's decoder steps
}

impl Decoding {
    /// The keys [B, S, A or D]: h_j W_k (additive, concat), h_j W_a (general, local) or h_j (dot).
    pub fn keys(&self) -> &Tensor {
        &self.keys
    }
}

/// What one decoder step gives.
pub struct Stepped {
    pub weights: Tensor, // [B, S]
    pub logits: Tensor,  // [B, target symbols]
    /// What met the keys: the projected query [B, A] (additive, concat) or the state [B, D].
    pub query: Tensor,
    /// Local-p's predicted position [B, 1].
    pub position: Option<Tensor>,
}

impl Seq2Seq {
    /// The model of `config` with `source` and `target` symbols, each parameter from `get`.
    pub fn build(config: Seq2SeqConfig, (source, target): (usize, usize), get: &mut Getter) -> Result<Self> {
        let (e, u, d, a) = (config.embedding, config.encoder_units, config.decoder_units, config.attention_units);
        if config.score == Score::Dot && d != 2 * u {
            return Err(EngineError::BadModelFile(format!("a dot score needs the decoder's {d} units to equal the annotations' 2 × {u}")));
        }
        let source_embedding = get("source_embedding", &[source, e], Init::Normal { std: 1.0 })?;
        let target_embedding = get("target_embedding", &[target, e], Init::Normal { std: 1.0 })?;
        let forward = GruWeights::build("encoder.forward", e, u, get)?;
        let backward = GruWeights::build("encoder.backward", e, u, get)?;
        let bridge = Linear::build("bridge", u, d, true, get)?;
        let bahdanau = config.score.is_bahdanau();
        let decoder = GruWeights::build("decoder", e + if bahdanau { 2 * u } else { d }, d, get)?;
        let additive = |get: &mut Getter| -> Result<Scorer> {
            Ok(Scorer::Additive {
                query: Linear::build("attention.query", d, a, false, get)?,
                key: Linear::build("attention.key", 2 * u, a, false, get)?,
                v: get("attention.v", &[a], Init::Uniform { fan: a })?,
            })
        };
        let scorer = match config.score {
            Score::Additive | Score::Concat => additive(get)?,
            Score::Dot => Scorer::Dot,
            Score::General => Scorer::General { weight: Linear::build("attention.general", 2 * u, d, false, get)? },
            Score::Local => Scorer::Local {
                weight: Linear::build("attention.general", 2 * u, d, false, get)?,
                position: Linear::build("attention.position", d, a, false, get)?,
                v: get("attention.position_v", &[a], Init::Uniform { fan: a })?,
            },
        };
        let combine = if bahdanau { None } else { Some(Linear::build("combine", 2 * u + d, d, false, get)?) };
        let output = Linear::build("output", if bahdanau { d + 2 * u } else { d }, target, true, get)?;
        Ok(Self { config, source_embedding, target_embedding, forward, backward, bridge, decoder, scorer, combine, output })
    }

    /// Reads a batch of sources, `ids` [B][S] padded with anything after each one's `lengths`.
    pub fn encode(&self, ids: &Tensor, lengths: &[usize]) -> Result<Decoding> {
        let (batch, slots) = ids.dims2()?;
        let dtype = self.source_embedding.dtype();
        let device = ids.device();
        let x = self.source_embedding.index_select(&ids.flatten_all()?, 0)?.reshape((batch, slots, ()))?; // [B, S, e]
        let real: Vec<f32> = lengths.iter().flat_map(|&n| (0..slots).map(move |j| if j < n { 1.0 } else { 0.0 })).collect();
        let real = Tensor::from_vec(real, (batch, slots), device)?.to_dtype(dtype)?; // [B, S]
        let run = |gru: &GruWeights, reverse: bool| -> Result<(Vec<Tensor>, Tensor)> {
            let gates = gru.input_gates(&x)?; // [B, S, 3U]
            let mut h = Tensor::zeros((batch, self.config.encoder_units), dtype, device)?;
            let mut outputs = vec![None; slots];
            let order: Vec<usize> = if reverse { (0..slots).rev().collect() } else { (0..slots).collect() };
            for t in order {
                // A padding step keeps the state, so the backward reading starts at each
                // source's own last character.
                h = gru.step(&gates.i((.., t, ..))?.contiguous()?, &h, &real.i((.., t..t + 1))?)?;
                outputs[t] = Some(h.clone());
            }
            Ok((outputs.into_iter().flatten().collect(), h))
        };
        let (forward, _) = run(&self.forward, false)?;
        let (backward, first_backward) = run(&self.backward, true)?;
        let annotations = Tensor::cat(&[Tensor::stack(&forward, 1)?, Tensor::stack(&backward, 1)?], 2)?; // [B, S, 2U]
        let keys = match &self.scorer {
            Scorer::Additive { key, .. } => key.forward(&annotations)?,
            Scorer::Dot => annotations.clone(),
            Scorer::General { weight } | Scorer::Local { weight, .. } => weight.forward(&annotations)?,
        };
        let blocked = ((real - 1.0)? * 1e9)?;
        let state = self.bridge.forward(&first_backward)?.tanh()?;
        let feed = Tensor::zeros((batch, self.config.decoder_units), dtype, device)?;
        let every = Tensor::ones((batch, 1), dtype, device)?;
        Ok(Decoding { annotations, keys, blocked, lengths: lengths.to_vec(), state, feed, every })
    }

    /// Scores of the query `state` [B, D] over the annotations → [B, S] (padding blocked),
    /// and what met the keys (see [`Stepped::query`]).
    fn scores(&self, decoding: &Decoding, state: &Tensor) -> Result<(Tensor, Tensor)> {
        let (scores, query) = match &self.scorer {
            Scorer::Additive { query, v, .. } => {
                let query = query.forward(state)?; // [B, A]
                                                   // Σ_a v_a tanh(k_ja + q_a), fused (additive_op.rs): [B, S]
                (super::additive_op::additive_scores(&decoding.keys, &query, v)?, query)
            }
            _ => (decoding.keys.matmul(&state.unsqueeze(2)?)?.squeeze(2)?, state.clone()), // [B, S, D]·[B, D, 1]
        };
        Ok(((scores + &decoding.blocked)?, query))
    }

    /// The weights [B, S] of the query `state`: the softmax of the scores, and for local-p
    /// its window and Gaussian around the predicted position.
    /// What met the keys and local-p's position come along (see [`Stepped`]).
    fn weights(&self, decoding: &Decoding, state: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (scores, query) = self.scores(decoding, state)?;
        let Scorer::Local { position, v, .. } = &self.scorer else {
            return Ok((candle_nn::ops::softmax(&scores, D::Minus1)?, query, None));
        };
        let (batch, slots) = scores.dims2()?;
        let (dtype, device) = (scores.dtype(), scores.device());
        let lengths: Vec<f32> = decoding.lengths.iter().map(|&n| n as f32).collect();
        let lengths = Tensor::from_vec(lengths, (batch, 1), device)?.to_dtype(dtype)?;
        let logit = position.forward(state)?.tanh()?.broadcast_matmul(&v.unsqueeze(1)?)?; // [B, 1]
        let p = candle_nn::ops::sigmoid(&logit)?.mul(&lengths)?; // [B, 1], in 0..|x|
        let at: Vec<f32> = (0..slots).map(|j| j as f32).collect();
        let at = Tensor::from_vec(at, (1, slots), device)?.to_dtype(dtype)?;
        let offset = at.broadcast_sub(&p)?; // [B, S]: j − p
                                            // The window is a choice, not a function to differentiate: p learns through the Gaussian.
        let window = self.config.window as f64;
        let outside: Vec<f32> =
            offset.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?.into_iter().map(|o| if f64::from(o).abs() <= window { 0.0 } else { -1e9 }).collect();
        let outside = Tensor::from_vec(outside, (batch, slots), device)?.to_dtype(dtype)?;
        let inside = candle_nn::ops::softmax(&(scores + outside)?, D::Minus1)?;
        let sigma = (window / 2.0).max(f64::MIN_POSITIVE);
        let gaussian = (offset.sqr()? * (-1.0 / (2.0 * sigma * sigma)))?.exp()?;
        Ok(((inside * gaussian)?, query, Some(p)))
    }

    /// One step after the symbols `previous` [B] (u32): the weights and the logits, the
    /// decoding moved on.
    pub fn step(&self, decoding: &mut Decoding, previous: &Tensor) -> Result<Stepped> {
        let embedded = self.target_embedding.index_select(previous, 0)?; // [B, e]
        let read = |weights: &Tensor| -> Result<Tensor> { Ok(weights.unsqueeze(1)?.matmul(&decoding.annotations)?.squeeze(1)?) }; // [B, 2U]
        if self.config.score.is_bahdanau() {
            let (weights, query, position) = self.weights(decoding, &decoding.state)?;
            let context = read(&weights)?;
            let gates = self.decoder.input_gates(&Tensor::cat(&[&embedded, &context], 1)?)?;
            decoding.state = self.decoder.step(&gates, &decoding.state, &decoding.every)?;
            let logits = self.output.forward(&Tensor::cat(&[&decoding.state, &context], 1)?)?;
            return Ok(Stepped { weights, logits, query, position });
        }
        let gates = self.decoder.input_gates(&Tensor::cat(&[&embedded, &decoding.feed], 1)?)?;
        decoding.state = self.decoder.step(&gates, &decoding.state, &decoding.every)?;
        let (weights, query, position) = self.weights(decoding, &decoding.state)?;
        let context = read(&weights)?;
        let combine = self.combine.as_ref().ok_or_else(|| EngineError::BadModelFile("a Luong model has no `combine`".into()))?;
        decoding.feed = combine.forward(&Tensor::cat(&[&context, &decoding.state], 1)?)?.tanh()?;
        Ok(Stepped { weights, logits: self.output.forward(&decoding.feed)?, query, position })
    }

    /// Teacher forcing: the logits [B, T, target symbols] of each step after the symbols
    /// `previous` [B, T] (the start symbol, then the target but its last), and the weights
    /// [B, T, S].
    pub fn teacher_forced(&self, ids: &Tensor, lengths: &[usize], previous: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut decoding = self.encode(ids, lengths)?;
        let steps = previous.dim(1)?;
        let (mut logits, mut weights) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
        for t in 0..steps {
            let stepped = self.step(&mut decoding, &previous.i((.., t))?.contiguous()?)?;
            logits.push(stepped.logits);
            weights.push(stepped.weights);
        }
        Ok((Tensor::stack(&logits, 1)?, Tensor::stack(&weights, 1)?))
    }

    /// Greedy decoding of a batch for `steps` steps from the symbol `start`.
    pub fn greedy(&self, ids: &Tensor, lengths: &[usize], start: u32, steps: usize) -> Result<Greedy> {
        let batch = lengths.len();
        let mut decoding = self.encode(ids, lengths)?;
        let mut previous = Tensor::from_vec(vec![start; batch], batch, ids.device())?;
        let (mut symbols, mut weights) = (vec![Vec::new(); batch], vec![Vec::new(); batch]);
        for _ in 0..steps {
            let stepped = self.step(&mut decoding, &previous)?;
            previous = stepped.logits.argmax(D::Minus1)?; // the first highest, as candle takes it
            for (b, id) in previous.to_vec1::<u32>()?.into_iter().enumerate() {
                symbols[b].push(id);
            }
            for (b, row) in stepped.weights.to_dtype(DType::F32)?.to_vec2::<f32>()?.into_iter().enumerate() {
                weights[b].push(row);
            }
        }
        Ok(Greedy { symbols, weights })
    }
}

/// What a batch's greedy decoding wrote.
pub struct Greedy {
    pub symbols: Vec<Vec<u32>>,      // [B][T]
    pub weights: Vec<Vec<Vec<f32>>>, // [B][T][S]
}

/// Source ids [B, S] as a tensor, padded with 0 to the longest, and their lengths.
pub fn padded(sources: &[Vec<u32>], device: &Device) -> Result<(Tensor, Vec<usize>)> {
    let slots = sources.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let flat: Vec<u32> = sources.iter().flat_map(|s| s.iter().copied().chain(std::iter::repeat(0)).take(slots)).collect();
    Ok((Tensor::from_vec(flat, (sources.len(), slots), device)?, sources.iter().map(Vec::len).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_p_looks_around_its_predicted_position() {
        // Every parameter zero: v_pᵀ tanh(W_p s) = 0, so p = 8 σ(0) = 4, the middle of 8
        // characters; general's scores are all 0, so inside the window 4 ± 2 each character
        // gets a fifth, times the Gaussian of σ = D/2 = 1, and nothing outside it.
        let config = Seq2SeqConfig {
            architecture: ARCHITECTURE.into(),
            task: "test".into(),
            score: Score::Local,
            source_slots: 8,
            target_limit: 2,
            embedding: 2,
            encoder_units: 2,
            decoder_units: 3,
            attention_units: 2,
            window: 2,
        };
        let zeros = &mut |_: &str, dims: &[usize], _: Init| Ok(Tensor::zeros(dims, DType::F64, &Device::Cpu)?);
        let model = Seq2Seq::build(config, (3, 3), zeros).unwrap();
        let ids = Tensor::new(&[[1u32, 2, 1, 2, 1, 2, 1, 2]], &Device::Cpu).unwrap();
        let mut decoding = model.encode(&ids, &[8]).unwrap();
        let stepped = model.step(&mut decoding, &Tensor::new(&[0u32], &Device::Cpu).unwrap()).unwrap();
        let weights: Vec<f64> = stepped.weights.squeeze(0).unwrap().to_vec1().unwrap();
        let expected: Vec<f64> = (0..8).map(|s: i32| if (s - 4).abs() <= 2 { 0.2 * (-((s - 4) as f64).powi(2) / 2.0).exp() } else { 0.0 }).collect();
        for (got, want) in weights.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-12, "{weights:?} against {expected:?}");
        }
    }
}
