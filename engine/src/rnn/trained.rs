//! A seq2seq model trained by the project (`attnscope train`, or the page's **Train**): its
//! config.json, vocabulary.json (the source's and target's symbols by id) and
//! model.safetensors, run greedily one character at a time like the aligners from wheels.

use candle_core::{Device, Tensor};

use super::seq2seq::{Decoding, Init, Scorer, Seq2Seq, Seq2SeqConfig};
use super::weights::Weights;
use super::{aligner_info, checked_steps, symbol_token, AlignerFiles, Network, ScoreForm, Step};
use crate::error::{EngineError, Result};
use crate::report::analysis::alignment_math::{LocalWindow, Term};
use crate::report::{ModelInfo, Token, Truncation};
use crate::train::dates_training::{source_ids, SymbolLists, END, START, UNKNOWN};

pub struct Trained {
    pub name: String,
    pub model: Seq2Seq,
    symbols: SymbolLists,
}

impl Trained {
    /// A model and its symbols (a training's, as it goes).
    pub fn new(name: &str, model: Seq2Seq, symbols: SymbolLists) -> Self {
        Self { name: name.to_string(), model, symbols }
    }

    pub fn symbols(&self) -> &SymbolLists {
        &self.symbols
    }

    /// Runs `text` greedily: the report of its alignment, as [`super::Aligner::align`].
    pub fn align(&self, text: &str) -> Result<crate::report::AttentionReport> {
        super::run(self, text, |_, _, _| {})
    }

    pub fn from_bytes(name: &str, files: AlignerFiles) -> Result<Self> {
        let bad = |what: &str, e: serde_json::Error| EngineError::BadModelFile(format!("{what}: {e}"));
        let config: Seq2SeqConfig = serde_json::from_slice(files.config).map_err(|e| bad("config.json", e))?;
        let symbols: SymbolLists = serde_json::from_slice(files.vocabulary).map_err(|e| bad("vocabulary.json", e))?;
        checked_steps(config.source_slots, config.target_limit)?;
        super::no_zero_sizes(&[
            ("embedding", config.embedding),
            ("encoder_units", config.encoder_units),
            ("decoder_units", config.decoder_units),
            ("attention_units", config.attention_units),
        ])?;
        if symbols.source.len() < 2 || symbols.target.len() < 2 {
            return Err(EngineError::BadModelFile("vocabulary.json needs the source's <pad> and <unk> and the target's <start> and <end> first".into()));
        }
        let weights = Weights::from_safetensors(files.weights)?;
        // Every tensor must have the shape the config asks for: a config that lies about a
        // size is refused here, before anything is computed.
        let model =
            Seq2Seq::build(config, (symbols.source.len(), symbols.target.len()), &mut |name: &str, dims: &[usize], _: Init| weights.tensor(name, dims))?;
        Ok(Self::new(name, model, symbols))
    }
}

impl Network for Trained {
    type Decoding = Decoding;

    fn info(&self) -> ModelInfo {
        let config = &self.model.config;
        let architecture =
            format!("{} ({}, {} score)", config.architecture, if config.score.is_bahdanau() { "Bahdanau" } else { "Luong" }, config.score.name());
        aligner_info(&self.name, &architecture, config.source_slots, self.symbols.target.len())
    }

    fn source(&self, text: &str) -> Result<(Vec<Token>, Option<Truncation>)> {
        if text.trim().is_empty() {
            return Err(EngineError::EmptyText);
        }
        let slots = self.model.config.source_slots;
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let truncated = (chars.len() > slots).then_some(Truncation { limit: slots, total_tokens: chars.len() });
        let tokens = chars
            .into_iter()
            .take(slots)
            .map(|(at, c)| {
                let id = source_ids(&self.symbols.source, &c.to_string())[0];
                let text = if id == 1 { UNKNOWN.to_string() } else { c.to_string() };
                Token { id, text, span: Some([at, at + c.len_utf8()]) }
            })
            .collect();
        Ok((tokens, truncated))
    }

    fn encode(&self, ids: &[u32]) -> Result<Decoding> {
        let vocabulary = self.symbols.source.len();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocabulary) {
            return Err(EngineError::TokenOutOfRange { id, vocab: vocabulary });
        }
        self.model.encode(&Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu)?, &[ids.len()])
    }

    fn step(&self, decoding: &mut Decoding, previous: u32) -> Result<Step> {
        let stepped = self.model.step(decoding, &Tensor::new(&[previous], &Device::Cpu)?)?;
        let local = match &stepped.position {
            Some(p) => Some(LocalWindow { position: p.flatten_all()?.to_vec1::<f32>()?[0], window: self.model.config.window }),
            None => None,
        };
        let row = |t: &Tensor| t.squeeze(0)?.to_vec1::<f32>();
        Ok(Step { weights: row(&stepped.weights)?, logits: row(&stepped.logits)?, query: row(&stepped.query)?, local })
    }

    fn score_form(&self, decoding: &Decoding) -> Result<ScoreForm> {
        let keys = decoding.keys().squeeze(0)?.to_vec2::<f32>()?;
        let form = |formula, query_is, key_is, term| ScoreForm { formula, query_is, key_is, term, keys: keys.clone() };
        Ok(match &self.model.scorer {
            Scorer::Additive { v, .. } => {
                let term = Term::Additive { v: v.to_vec1()? };
                if self.model.config.score.is_bahdanau() {
                    form(
                        "Bahdanau's additive: score_j = vᵀ tanh(W₂s + W₁h_j) = Σ_a v_a · tanh(q_a + k_ja)",
                        "q = W₂ s_{i−1}: the previous decoder state, projected",
                        "k_j = W₁ h_j: the encoder's state [→h_j; ←h_j], projected",
                        term,
                    )
                } else {
                    form(
                        "Luong's concat: score_j = vᵀ tanh(W [s; h_j]) = Σ_a v_a · tanh(q_a + k_ja)",
                        "q = W_s s_i: the current decoder state, projected",
                        "k_j = W_h h_j: the encoder's state [→h_j; ←h_j], projected",
                        term,
                    )
                }
            }
            Scorer::Dot => form(
                "Luong's dot: score_j = sᵀh_j = Σ_a s_a · h_ja",
                "s_i: the current decoder state",
                "h_j = [→h_j; ←h_j]: the encoder's state",
                Term::Product,
            ),
            Scorer::General { .. } => form(
                "Luong's general: score_j = sᵀ W_a h_j = Σ_a s_a · (W_a h_j)_a",
                "s_i: the current decoder state",
                "W_a h_j: the encoder's state through W_a",
                Term::Product,
            ),
            Scorer::Local { .. } => form(
                "Luong's local-p: general's softmax inside [p − D, p + D], times exp(−(j − p)² / (2 (D/2)²)); p = |x| σ(v_pᵀ tanh(W_p s))",
                "s_i: the current decoder state",
                "W_a h_j: the encoder's state through W_a",
                Term::Product,
            ),
        })
    }

    fn bounds(&self) -> (u32, u32, usize) {
        (START, END, self.model.config.target_limit)
    }

    fn token(&self, id: u32) -> Token {
        symbol_token(&self.symbols.target, END, id)
    }

    fn written(&self, target: &[u32]) -> String {
        target.iter().map(|&id| self.token(id).text).collect()
    }
}
