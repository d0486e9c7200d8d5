//! Romanised Khmer → Khmer script, letter by letter: `netra-transliterate` 1.0.1's network
//! (MIT), a character BiGRU encoder, a GRU decoder from zeros and Keras's additive attention.
//!
//! - The source is the text lowercased with everything but a-z dropped (the package's
//!   `clean_text`), in 25 slots: a longer word keeps its last 25 letters and a shorter one is
//!   padded after with id 0 (`pad_sequences`). Padding runs through the encoder like any
//!   letter, and the decoder attends to every slot: it was trained so, and puts much of an
//!   ending row's weight there, so the map shows the padding as `<pad>` columns.
//! - keys = [forward GRU; backward GRU] · W + b, one per slot [25, 64]; they are the values too.
//! - Each step: the previous symbol's embedding through the decoder GRU (the tab symbol
//!   first), its state s as the query, score_j = Σ scale ⊙ tanh(s + key_j), the weights'
//!   softmax, the context Σ w_j key_j, then the symbol [s; context] · W_out + b scores highest,
//!   until the end symbol or 24 symbols. This is the network's own greedy decode; the package
//!   decodes by a beam of 3 and looks words up in a dictionary.

use std::collections::HashMap;

use serde::Deserialize;

use super::cells::{Dense, Gru};
use super::scores::{keras_additive, softmax, weighted_sum};
use super::weights::Weights;
use super::{aligner_info, checked_steps, embedding_row, into_slots, symbol_token, AlignerFiles, Network, ScoreForm, Step};
use crate::error::{EngineError, Result};
use crate::report::analysis::alignment_math::Term;
use crate::report::{ModelInfo, Token, Truncation};

#[derive(Deserialize)]
struct Config {
    source_slots: usize,
    target_limit: usize,
    embedding: usize,
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
    start: Option<u32>,
    end: Option<u32>,
}

pub struct KhmerTranslit {
    pub name: String,
    letters: HashMap<char, u32>,
    symbols: Vec<String>, // the target's symbol of each id ("" where none)
    start: u32,
    end: u32,
    slots: usize,
    limit: usize,
    embedding: usize,
    source_embedding: Vec<f32>, // [source vocabulary, embedding]
    target_embedding: Vec<f32>, // [target vocabulary, embedding]
    forward: Gru,
    backward: Gru,
    keys: Dense,
    decoder: Gru,
    scale: Vec<f32>, // [decoder units]
    output: Dense,
}

impl KhmerTranslit {
    pub fn from_bytes(name: &str, files: AlignerFiles) -> Result<Self> {
        let bad = |what: &str, e: serde_json::Error| EngineError::BadModelFile(format!("{what}: {e}"));
        let config: Config = serde_json::from_slice(files.config).map_err(|e| bad("config.json", e))?;
        let vocabulary: Vocabulary = serde_json::from_slice(files.vocabulary).map_err(|e| bad("vocabulary.json", e))?;
        let Config { source_slots: slots, target_limit: limit, embedding: e, encoder_units: u, decoder_units: d } = config;
        checked_steps(slots, limit)?;
        let weights = Weights::from_safetensors(files.weights)?;
        let source_vocabulary = weights.dims("source_embedding")?.first().copied().unwrap_or(0);
        let target_vocabulary = weights.dims("target_embedding")?.first().copied().unwrap_or(0);
        let mut letters = HashMap::new();
        for (symbol, &id) in &vocabulary.source.ids {
            let mut chars = symbol.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                letters.insert(c, id);
            }
        }
        if !('a'..='z').all(|c| letters.contains_key(&c)) {
            return Err(EngineError::BadModelFile("vocabulary.json's source is not the letters a to z this model reads".into()));
        }
        let mut symbols = vec![String::new(); target_vocabulary];
        for (symbol, &id) in &vocabulary.target.ids {
            let slot = symbols
                .get_mut(id as usize)
                .ok_or_else(|| EngineError::BadModelFile(format!("the target symbol id {id} is past the model's {target_vocabulary}")))?;
            *slot = symbol.clone();
        }
        let missing = |what: &str| EngineError::BadModelFile(format!("vocabulary.json has no target {what} symbol"));
        let (start, end) = (vocabulary.target.start.ok_or_else(|| missing("start"))?, vocabulary.target.end.ok_or_else(|| missing("end"))?);
        if letters.values().any(|&id| id as usize >= source_vocabulary) || [start, end].iter().any(|&id| id as usize >= target_vocabulary) {
            return Err(EngineError::BadModelFile("vocabulary.json names ids the embeddings do not have".into()));
        }
        Ok(Self {
            name: name.to_string(),
            letters,
            symbols,
            start,
            end,
            slots,
            limit,
            embedding: e,
            source_embedding: weights.get("source_embedding", &[source_vocabulary, e])?,
            target_embedding: weights.get("target_embedding", &[target_vocabulary, e])?,
            forward: Gru::keras(&weights, "encoder.forward", e, u)?,
            backward: Gru::keras(&weights, "encoder.backward", e, u)?,
            keys: Dense::load(&weights, "keys", 2 * u, d)?,
            decoder: Gru::keras(&weights, "decoder", e, d)?,
            scale: weights.get("attention.scale", &[d])?,
            output: Dense::load(&weights, "output", 2 * d, target_vocabulary)?,
        })
    }
}

impl Network for KhmerTranslit {
    /// The keys (also the values) [slots][d], and the decoder's state.
    type Decoding = (Vec<Vec<f32>>, Vec<f32>);

    fn info(&self) -> ModelInfo {
        aligner_info(&self.name, "khmer-translit", self.slots, self.symbols.len())
    }

    /// The slots the encoder reads: each letter of `text` the model keeps (a-z, lowercased;
    /// the others dropped, as the package drops them) with its place in the text, the last
    /// `slots` of them when there are more, then padding.
    fn source(&self, text: &str) -> Result<(Vec<Token>, Option<Truncation>)> {
        if text.trim().is_empty() {
            return Err(EngineError::EmptyText);
        }
        let kept: Vec<Token> = text
            .char_indices()
            .flat_map(|(at, c)| c.to_lowercase().map(move |lower| (at, c, lower)))
            .filter_map(|(at, c, lower)| self.letters.get(&lower).filter(|_| lower.is_ascii_lowercase()).map(|&id| (at, c, lower, id)))
            .map(|(at, c, lower, id)| Token { id, text: lower.to_string(), span: Some([at, at + c.len_utf8()]) })
            .collect();
        into_slots(kept, self.slots, true, "romanised Khmer, the letters a to z")
    }

    fn encode(&self, ids: &[u32]) -> Result<Self::Decoding> {
        let embedded = ids.iter().map(|&id| embedding_row(&self.source_embedding, self.embedding, id)).collect::<Result<Vec<_>>>()?; // [slots][e]
        let (forward, backward) = (self.forward.run(&embedded, false), self.backward.run(&embedded, true));
        let keys = forward.iter().zip(&backward).map(|(f, b)| self.keys.forward(&[f.as_slice(), b.as_slice()].concat())).collect(); // [slots][d]
        Ok((keys, vec![0.0; self.decoder.units()]))
    }

    fn step(&self, (keys, state): &mut Self::Decoding, previous: u32) -> Result<Step> {
        *state = self.decoder.step(&embedding_row(&self.target_embedding, self.embedding, previous)?, state);
        let weights = softmax(&keras_additive(state, keys, &self.scale));
        let context = weighted_sum(&weights, keys);
        let logits = self.output.forward(&[state.as_slice(), context.as_slice()].concat());
        Ok(Step { weights, logits, query: state.clone(), local: None })
    }

    fn score_form(&self, (keys, _): &Self::Decoding) -> Result<ScoreForm> {
        Ok(ScoreForm {
            formula: "Keras's AdditiveAttention(use_scale=True), Bahdanau's form: score_j = Σ_a scale_a · tanh(s_a + k_ja)",
            query_is: "s: the decoder GRU's state after the previous symbol, unprojected",
            key_is: "k_j = [→h_j; ←h_j] W + b: the encoder's states through a Dense layer (the values too)",
            term: Term::Additive { v: self.scale.clone() },
            keys: keys.clone(),
        })
    }

    fn bounds(&self) -> (u32, u32, usize) {
        (self.start, self.end, self.limit)
    }

    fn token(&self, id: u32) -> Token {
        symbol_token(&self.symbols, self.end, id)
    }

    /// The Khmer characters, one after another.
    fn written(&self, target: &[u32]) -> String {
        target.iter().map(|&id| self.token(id).text).collect()
    }
}
