//! English letters → ARPAbet phonemes (CMUdict): `transly` 0.1.3's network (Apache-2.0), a
//! character BiLSTM encoder, an LSTM decoder and Luong's dot attention, trained and run with
//! Keras 2.3.1.
//!
//! - The source is the word's letters A-Z (a person's lowercase is raised; anything else is
//!   dropped), in 13 slots: the first 13 letters, then padding (id 0).
//! - The encoder's embedding masks the padding, and Keras 2.3.1 masks by keeping an LSTM's
//!   state and repeating its previous output: past the word the forward LSTM's output repeats
//!   its last letter's, and the backward one, which meets the padding first, writes zeros.
//!   (Keras 3 writes zeros there instead, which changes some words' phonemes and moves their
//!   attention: docs/notes/rnn-attention.md.)
//! - The decoder starts from [h_fwd; h_bwd], [c_fwd; c_bwd], reads GO first and then each
//!   step's choice. Its state h scores every slot by h · memory_j, padding included (the
//!   softmax has no mask); the context Σ w_j memory_j; then tanh([context; h] W + b) and the
//!   output layer; the phoneme scoring highest, until PAD (the end) or 19 phonemes.

use std::collections::HashMap;

use serde::Deserialize;

use super::cells::{Dense, KerasLstm, LstmState};
use super::scores::{dot, softmax, weighted_sum};
use super::weights::Weights;
use super::{aligner_info, checked_steps, embedding_row, into_slots, symbol_token, AlignerFiles, Network, ScoreForm, Step};
use crate::error::{EngineError, Result};
use crate::report::analysis::alignment_math::Term;
use crate::report::{ModelInfo, Token, Truncation};

#[derive(Deserialize)]
struct Config {
    source_slots: usize,
    target_limit: usize,
    encoder_units: usize,
    decoder_units: usize,
}

#[derive(Deserialize)]
struct Vocabulary {
    source: Symbols,
    target: Symbols,
}

#[derive(Deserialize)]
struct Symbols {
    ids: HashMap<String, u32>,
    padding: u32,
    start: Option<u32>,
}

pub struct CmuG2p {
    pub name: String,
    letters: HashMap<char, u32>,
    phonemes: Vec<String>, // the target's symbol of each id
    start: u32,
    end: u32,
    slots: usize,
    limit: usize,
    source_embedding: Vec<f32>, // [source vocabulary, source width]
    target_embedding: Vec<f32>, // [target vocabulary, target width]
    widths: (usize, usize),
    forward: KerasLstm,
    backward: KerasLstm,
    decoder: KerasLstm,
    combine: Dense,
    output: Dense,
}

impl CmuG2p {
    pub fn from_bytes(name: &str, files: AlignerFiles) -> Result<Self> {
        let bad = |what: &str, e: serde_json::Error| EngineError::BadModelFile(format!("{what}: {e}"));
        let config: Config = serde_json::from_slice(files.config).map_err(|e| bad("config.json", e))?;
        let vocabulary: Vocabulary = serde_json::from_slice(files.vocabulary).map_err(|e| bad("vocabulary.json", e))?;
        let Config { source_slots: slots, target_limit: limit, encoder_units: u, decoder_units: d } = config;
        checked_steps(slots, limit)?;
        let weights = Weights::from_safetensors(files.weights)?;
        let (source_dims, target_dims) = (weights.dims("source_embedding")?, weights.dims("target_embedding")?);
        let (&[sv, sw], &[tv, tw]) = (source_dims.as_slice(), target_dims.as_slice()) else {
            return Err(EngineError::BadModelFile("the embeddings are not tables [vocabulary, width]".into()));
        };
        let letters: HashMap<char, u32> = vocabulary
            .source
            .ids
            .iter()
            .filter_map(|(symbol, &id)| {
                let mut chars = symbol.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii_uppercase() => Some((c, id)),
                    _ => None,
                }
            })
            .collect();
        let mut phonemes = vec![String::new(); tv];
        for (symbol, &id) in &vocabulary.target.ids {
            *phonemes.get_mut(id as usize).ok_or_else(|| EngineError::BadModelFile(format!("the phoneme id {id} is past the model's {tv}")))? = symbol.clone();
        }
        let start = vocabulary.target.start.ok_or_else(|| EngineError::BadModelFile("vocabulary.json has no target start symbol".into()))?;
        let end = vocabulary.target.padding;
        if letters.values().any(|&id| id as usize >= sv) || vocabulary.source.padding as usize >= sv || start as usize >= tv {
            return Err(EngineError::BadModelFile("vocabulary.json names ids the embeddings do not have".into()));
        }
        Ok(Self {
            name: name.to_string(),
            letters,
            phonemes,
            start,
            end,
            slots,
            limit,
            source_embedding: weights.get("source_embedding", &[sv, sw])?,
            target_embedding: weights.get("target_embedding", &[tv, tw])?,
            widths: (sw, tw),
            forward: KerasLstm::load(&weights, "encoder.forward", sw, u)?,
            backward: KerasLstm::load(&weights, "encoder.backward", sw, u)?,
            decoder: KerasLstm::load(&weights, "decoder", tw, d)?,
            combine: Dense::load(&weights, "combine", 2 * u + d, weights.dims("combine.bias")?.first().copied().unwrap_or(0))?,
            output: Dense::load(&weights, "output", weights.dims("combine.bias")?.first().copied().unwrap_or(0), tv)?,
        })
    }
}

impl Network for CmuG2p {
    /// The memory [slots][2u], and the decoder's state.
    type Decoding = (Vec<Vec<f32>>, LstmState);

    fn info(&self) -> ModelInfo {
        aligner_info(&self.name, "cmu-g2p", self.slots, self.phonemes.len())
    }

    /// The slots the encoder reads: the word's letters A-Z (raised from lowercase; the others
    /// dropped) with their places in the text, the first `slots` of them, then padding.
    fn source(&self, text: &str) -> Result<(Vec<Token>, Option<Truncation>)> {
        if text.trim().is_empty() {
            return Err(EngineError::EmptyText);
        }
        let kept: Vec<Token> = text
            .char_indices()
            .filter_map(|(at, c)| {
                let upper = c.to_ascii_uppercase();
                self.letters.get(&upper).map(|&id| Token { id, text: upper.to_string(), span: Some([at, at + c.len_utf8()]) })
            })
            .collect();
        into_slots(kept, self.slots, false, "an English word, the letters A to Z")
    }

    fn encode(&self, ids: &[u32]) -> Result<Self::Decoding> {
        let embedded = ids.iter().map(|&id| embedding_row(&self.source_embedding, self.widths.0, id)).collect::<Result<Vec<_>>>()?;
        let masked: Vec<bool> = ids.iter().map(|&id| id == 0).collect();
        let (forward, last_forward) = self.forward.run_masked(&embedded, &masked, false);
        let (backward, last_backward) = self.backward.run_masked(&embedded, &masked, true);
        let memory = forward.iter().zip(&backward).map(|(f, b)| [f.as_slice(), b.as_slice()].concat()).collect(); // [slots][2u]
        Ok((memory, LstmState { h: [last_forward.h, last_backward.h].concat(), c: [last_forward.c, last_backward.c].concat() }))
    }

    fn step(&self, (memory, state): &mut Self::Decoding, previous: u32) -> Result<Step> {
        *state = self.decoder.step(&embedding_row(&self.target_embedding, self.widths.1, previous)?, state);
        let weights = softmax(&dot(&state.h, memory));
        let context = weighted_sum(&weights, memory);
        let hidden: Vec<f32> = self.combine.forward(&[context.as_slice(), state.h.as_slice()].concat()).iter().map(|v| v.tanh()).collect();
        Ok(Step { weights, logits: self.output.forward(&hidden), query: state.h.clone(), local: None })
    }

    fn score_form(&self, (memory, _): &Self::Decoding) -> Result<ScoreForm> {
        Ok(ScoreForm {
            formula: "Luong's dot: score_j = sᵀh_j = Σ_a s_a · h_ja",
            query_is: "s: the decoder LSTM's output after the previous phoneme",
            key_is: "h_j = [→h_j; ←h_j]: the encoder's outputs, padding slots included (Keras 2.3.1 repeats the last output there)",
            term: Term::Product,
            keys: memory.clone(),
        })
    }

    fn bounds(&self) -> (u32, u32, usize) {
        (self.start, self.end, self.limit)
    }

    /// A phoneme (the end, PAD, as `<end>`).
    fn token(&self, id: u32) -> Token {
        symbol_token(&self.phonemes, self.end, id)
    }

    /// The phonemes, space-separated, as CMUdict writes them.
    fn written(&self, target: &[u32]) -> String {
        target.iter().map(|&id| self.token(id).text).collect::<Vec<_>>().join(" ")
    }
}
