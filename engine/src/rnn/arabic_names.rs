//! Arabic-script names → Latin letters: `arabic-name-romanizer` 0.2.0's network (MIT, UNICEF;
//! weights from CC0 data), two ONNX graphs exported from PyTorch.
//!
//! - The source: the name normalised as the package does (`normalize_arabic`: NFKC, no
//!   invisible marks, tatweel or harakat, a few letter forms folded, punctuation as spaces),
//!   then `<UNK_COUNTRY> <ROLE_UNKNOWN>`, its characters (a space inside a particle unit such
//!   as "أبو بكر" is one; a character the vocabulary lacks is `<UNK>`), `<EOS>`. Every slot is
//!   attended (the graphs mask only padding, which one name has none of).
//! - The encoder: a shared embedding, two bidirectional GRU layers of 128 (ONNX's gates z, r,
//!   h, linear before reset), the memory [slots, 256]; the decoder starts both its layers from
//!   tanh(W · the memory's mean + b).
//! - Each step: the previous symbol (BOS first) through two PyTorch GRU layers (gates r, z,
//!   n), Luong's general score (h W_a) · memory_j, the softmax, the context; then
//!   tanh([h; context] W_c + b_c) and the output layer; the symbol scoring highest, until EOS
//!   or 32. The package decodes by a beam of 2, forbids EOS at the first step and looks names
//!   up in its dictionary first; this is the network's greedy decode.

use std::collections::HashMap;

use serde::Deserialize;
use unicode_normalization_alignments::UnicodeNormalization;

use super::cells::{Dense, Gru};
use super::scores::{dot, softmax, weighted_sum};
use super::weights::Weights;
use super::{aligner_info, checked_steps, embedding_row, symbol_token, AlignerFiles, Network, ScoreForm, Step, MOST_STEPS};
use crate::error::{EngineError, Result};
use crate::report::analysis::alignment_math::Term;
use crate::report::{ModelInfo, Token, Truncation};

#[derive(Deserialize)]
struct Config {
    encoder_layers: usize,
    encoder_units: usize,
    decoder_layers: usize,
    decoder_units: usize,
    target_limit: usize,
}

#[derive(Deserialize)]
struct Vocabulary {
    symbols: Vec<String>,
    start: u32,
    end: u32,
}

/// The unknown symbol's id, and the prefix a name is read after (no country, no role known).
const UNKNOWN: &str = "<UNK>";
const PREFIX: [&str; 2] = ["<UNK_COUNTRY>", "<ROLE_UNKNOWN>"];

pub struct ArabicNames {
    pub name: String,
    symbols: Vec<String>,
    index: HashMap<String, u32>,
    start: u32,
    end: u32,
    limit: usize,
    embedding: Vec<f32>, // [symbols, width]
    width: usize,
    encoder: Vec<(Gru, Gru)>, // each layer's forward and backward halves
    bridge: Dense,
    decoder: Vec<Gru>,
    attention: Dense, // W_a, x·W
    combine: Dense,
    output: Dense,
}

impl ArabicNames {
    pub fn from_bytes(name: &str, files: AlignerFiles) -> Result<Self> {
        let bad = |what: &str, e: serde_json::Error| EngineError::BadModelFile(format!("{what}: {e}"));
        let config: Config = serde_json::from_slice(files.config).map_err(|e| bad("config.json", e))?;
        let vocabulary: Vocabulary = serde_json::from_slice(files.vocabulary).map_err(|e| bad("vocabulary.json", e))?;
        let Config { encoder_layers, encoder_units: u, decoder_layers, decoder_units: d, target_limit: limit } = config;
        // The source is as long as the name; the layers are counted as steps are.
        checked_steps(encoder_layers.max(decoder_layers), limit)?;
        let weights = Weights::from_safetensors(files.weights)?;
        let symbols = vocabulary.symbols;
        let width = weights.dims("embedding")?.get(1).copied().unwrap_or(0);
        let index: HashMap<String, u32> = symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        let known = |s: &str| index.get(s).copied().ok_or_else(|| EngineError::BadModelFile(format!("vocabulary.json has no {s}")));
        for special in PREFIX.iter().chain([&UNKNOWN]) {
            known(special)?;
        }
        if vocabulary.start as usize >= symbols.len() || vocabulary.end as usize >= symbols.len() || 2 * u != d {
            return Err(EngineError::BadModelFile("the vocabulary's or the layers' sizes do not fit together".into()));
        }
        let encoder = (0..encoder_layers)
            .map(|layer| {
                let inputs = if layer == 0 { width } else { 2 * u };
                let name = format!("encoder.{layer}");
                Ok((Gru::onnx(&weights, &name, 0, inputs, u)?, Gru::onnx(&weights, &name, 1, inputs, u)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder =
            (0..decoder_layers).map(|layer| Gru::torch(&weights, "decoder", layer, if layer == 0 { width } else { d }, d)).collect::<Result<Vec<_>>>()?;
        Ok(Self {
            name: name.to_string(),
            start: vocabulary.start,
            end: vocabulary.end,
            limit,
            embedding: weights.get("embedding", &[symbols.len(), width])?,
            width,
            encoder,
            bridge: Dense::linear(&weights, "bridge", d, d)?,
            decoder,
            attention: Dense::times(&weights, "attention", d, d, false)?,
            combine: Dense::times(&weights, "combine", 2 * d, d, true)?,
            output: Dense::linear(&weights, "output", d, symbols.len())?,
            symbols,
            index,
        })
    }
}

impl Network for ArabicNames {
    /// The memory [slots][2u], and each decoder layer's state.
    type Decoding = (Vec<Vec<f32>>, Vec<Vec<f32>>);

    fn info(&self) -> ModelInfo {
        aligner_info(&self.name, "arabic-names", MOST_STEPS, self.symbols.len())
    }

    /// The slots the encoder reads: the prefix, each character of the normalised name, `<EOS>`.
    fn source(&self, text: &str) -> Result<(Vec<Token>, Option<Truncation>)> {
        if text.trim().is_empty() {
            return Err(EngineError::EmptyText);
        }
        let normalised = normalize_arabic(text);
        if normalised.is_empty() {
            return Err(EngineError::NothingToRead { reads: "a name in Arabic script" });
        }
        let unknown = self.index[UNKNOWN];
        // A name is a few words: past MOST_STEPS slots, the characters after are cut, and said to be.
        let room = MOST_STEPS - PREFIX.len() - 1;
        let characters = normalised.chars().count();
        let truncated = (characters > room).then_some(Truncation { limit: MOST_STEPS, total_tokens: characters + PREFIX.len() + 1 });
        let mut slots: Vec<Token> = PREFIX.iter().map(|s| self.token(self.index[*s])).collect();
        slots.extend(normalised.chars().take(room).map(|c| {
            let id = self.index.get(&c.to_string()).copied().unwrap_or(unknown);
            Token { id, text: if id == unknown { format!("{UNKNOWN} {c}") } else { c.to_string() }, span: None }
        }));
        slots.push(self.token(self.end));
        Ok((slots, truncated))
    }

    fn encode(&self, ids: &[u32]) -> Result<Self::Decoding> {
        let mut memory = ids.iter().map(|&id| embedding_row(&self.embedding, self.width, id)).collect::<Result<Vec<_>>>()?;
        for (forward, backward) in &self.encoder {
            let (f, b) = (forward.run(&memory, false), backward.run(&memory, true));
            memory = f.iter().zip(&b).map(|(f, b)| [f.as_slice(), b.as_slice()].concat()).collect();
            // [slots][2u]
        }
        let mean: Vec<f32> = (0..memory[0].len()).map(|k| memory.iter().map(|m| m[k]).sum::<f32>() / memory.len() as f32).collect();
        let start: Vec<f32> = self.bridge.forward(&mean).iter().map(|v| v.tanh()).collect();
        Ok((memory, vec![start; self.decoder.len()]))
    }

    fn step(&self, (memory, states): &mut Self::Decoding, previous: u32) -> Result<Step> {
        let mut x = embedding_row(&self.embedding, self.width, previous)?;
        for (gru, state) in self.decoder.iter().zip(states.iter_mut()) {
            *state = gru.step(&x, state);
            x = state.clone();
        }
        let query = self.attention.forward(&x);
        let weights = softmax(&dot(&query, memory));
        let context = weighted_sum(&weights, memory);
        let combined: Vec<f32> = self.combine.forward(&[x.as_slice(), context.as_slice()].concat()).iter().map(|v| v.tanh()).collect();
        Ok(Step { weights, logits: self.output.forward(&combined), query, local: None })
    }

    fn score_form(&self, (memory, _): &Self::Decoding) -> Result<ScoreForm> {
        Ok(ScoreForm {
            formula: "Luong's general: score_j = (s W_a)ᵀ h_j = Σ_a (s W_a)_a · h_ja",
            query_is: "s W_a: the top decoder GRU's state through the attention's matrix",
            key_is: "h_j: the two-layer bidirectional encoder's states",
            term: Term::Product,
            keys: memory.clone(),
        })
    }

    fn bounds(&self) -> (u32, u32, usize) {
        (self.start, self.end, self.limit)
    }

    /// A symbol (EOS as `<end>`).
    fn token(&self, id: u32) -> Token {
        symbol_token(&self.symbols, self.end, id)
    }

    /// The Latin name, as the package decodes it: special symbols (`<...>`) left out.
    fn written(&self, target: &[u32]) -> String {
        let symbols = target.iter().filter_map(|&id| self.symbols.get(id as usize));
        symbols.filter(|s| !(s.starts_with('<') && s.ends_with('>'))).map(String::as_str).collect()
    }
}

/// The package's `normalize_arabic`: NFKC; invisible marks, tatweel and harakat removed; keheh,
/// Farsi yeh, heh goal and alef wasla folded; apostrophes dropped; punctuation as spaces; runs
/// of white space as one, trimmed.
pub fn normalize_arabic(text: &str) -> String {
    let invisible = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{061C}' | '\u{FEFF}');
    let diacritic = |c: char| matches!(c, '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}');
    let dropped = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' | '\u{00B4}');
    let punctuation = |c: char| "،؛؟,.;:!?\"()[]{}/\\_-\u{2010}\u{2011}\u{2012}\u{2013}\u{2014}«»\u{201C}\u{201D}".contains(c);
    let folded = |c: char| match c {
        'ک' => 'ك',
        'ی' => 'ي',
        'ہ' => 'ه',
        'ٱ' => 'ا',
        other => other,
    };
    let spaced: String = text
        .nfkc()
        .map(|(c, _)| c)
        .filter(|&c| !invisible(c) && c != '\u{0640}' && !diacritic(c) && !dropped(c))
        .map(|c| if punctuation(c) { ' ' } else { folded(c) })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}
