//! End-to-end memory networks (Sukhbaatar, Szlam, Weston and Fergus 2015), as the paper runs
//! them on the bAbI tasks: a question attends over the sentences of a story, hop after hop.
//!
//! Each sentence is a bag of words weighted by its position in the sentence (the paper's
//! position encoding, l_kj = (1 − j/J) − (k/d)(1 − 2j/J)) plus a learned vector for how long
//! ago it was said (temporal encoding; slot 0 is the latest sentence). Weights are tied
//! between adjacent hops: tables E_0 … E_K, with E_0 = A¹ = B (the question's), E_k = C^k =
//! A^{k+1}, and the answer read through E_K (W = C^Kᵀ); the temporal tables T_0 … T_K alike.
//!
//! Hop k: m_i = enc(E_{k−1}, s_i) + T_{k−1}[i], c_i = enc(E_k, s_i) + T_k[i],
//! p = softmax_i(u_k · m_i) over the filled slots, u_{k+1} = u_k + Σ p_i c_i.
//!
//! The position encoding is linear in k: enc(E, s)[k] = Σ_j α_j E[x_j, k] + (k/d) Σ_j β_j
//! E[x_j, k] with α_j = 1 − j/J and β_j = 2j/J − 1, so a batch of sentences is two products
//! of [sentences, V] weight rows with E (which autograd differentiates as products).

use candle_core::{DType, Device, Tensor, D};
use serde::{Deserialize, Serialize};

use super::seq2seq::{Getter, Init};
use super::weights::Weights;
use crate::error::{EngineError, Result};
use crate::report::{AttentionMaps, AttentionReport, Mask, ModelInfo, Sequence, Site, Token, TranslationOutput, Truncation};
use crate::train::babi::{words, Task};

pub const ARCHITECTURE: &str = "memory-network";
/// The most hops, embedding units and memory slots a config.json may ask for: far beyond the
/// paper's (3, 20 to 100, 50), far below what would make a lying file allocate much.
const MOST_HOPS: usize = 16;
const MOST_UNITS: usize = 1024;
const MOST_SLOTS: usize = 1024;
/// Words every question of the training asks with, not about anything in the story.
const ASKING: [&str; 3] = ["where", "is", "the"];

/// A memory network's config.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemoryConfig {
    pub architecture: String, // "memory-network"
    pub task: Task,
    pub hops: usize,
    pub embedding: usize,
    /// The most recent sentences it keeps (the paper's 50).
    pub memory: usize,
}

/// A memory network's vocabulary.json: its words by id, the empty word first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemoryWords {
    pub words: Vec<String>,
}

pub struct MemoryNetwork {
    pub name: String,
    pub config: MemoryConfig,
    pub words: Vec<String>,
    pub embeddings: Vec<Tensor>, // hops + 1 of [V, d]
    pub temporal: Vec<Tensor>,   // hops + 1 of [memory, d]
}

/// Stories as the network reads them: every slot's and question's words as weight rows over
/// the vocabulary, for the position encoding's two parts.
pub struct Batch {
    pub story_flat: Tensor,     // [B · memory, V]: Σ_j α_j at each word's id
    pub story_slope: Tensor,    // [B · memory, V]: Σ_j β_j
    pub filled: Tensor,         // [B, memory]: 1 where a slot holds a sentence
    pub question_flat: Tensor,  // [B, V]
    pub question_slope: Tensor, // [B, V]
}

/// What a batch's forward pass gives.
pub struct Read {
    pub logits: Tensor,    // [B, V]
    pub hops: Vec<Tensor>, // hops of [B, memory]: each slot's weight
}

/// A typed story: its statements (the last `memory` kept) and question, as words.
pub struct ParsedStory {
    pub statements: Vec<(String, [usize; 2])>, // the kept statements, their text and bytes
    pub question: (String, [usize; 2]),
    pub truncated: Option<Truncation>,
}

impl ParsedStory {
    /// The kept statements as the report's `source` tokens (id: the statement's number).
    pub fn tokens(&self) -> Vec<Token> {
        self.statements.iter().enumerate().map(|(i, (text, span))| Token { id: i as u32, text: text.clone(), span: Some(*span) }).collect()
    }
}

/// α_j and β_j of a sentence's words, added at their ids into two rows of `width`.
fn encode_words(ids: &[u32], flat: &mut [f64], slope: &mut [f64]) {
    let count = ids.len() as f64;
    for (j, &id) in ids.iter().enumerate() {
        let j = (j + 1) as f64;
        flat[id as usize] += 1.0 - j / count;
        slope[id as usize] += 2.0 * j / count - 1.0;
    }
}

impl MemoryNetwork {
    pub fn build(name: &str, config: MemoryConfig, words: Vec<String>, get: &mut Getter) -> Result<Self> {
        let (v, d, m) = (words.len(), config.embedding, config.memory);
        // The paper's initialisation: every weight from N(0, 0.1²).
        let init = Init::Normal { std: 0.1 };
        let embeddings = (0..=config.hops).map(|k| get(&format!("embedding.{k}"), &[v, d], init)).collect::<Result<_>>()?;
        let temporal = (0..=config.hops).map(|k| get(&format!("temporal.{k}"), &[m, d], init)).collect::<Result<_>>()?;
        Ok(Self { name: name.to_string(), config, words, embeddings, temporal })
    }

    /// A trained network from its config.json, vocabulary.json and model.safetensors, every
    /// tensor checked against the shape the config asks for.
    pub fn from_bytes(name: &str, config: &[u8], vocabulary: &[u8], weights: &[u8]) -> Result<Self> {
        let bad = |what: &str, e: serde_json::Error| EngineError::BadModelFile(format!("{what}: {e}"));
        let config: MemoryConfig = serde_json::from_slice(config).map_err(|e| bad("config.json", e))?;
        let MemoryWords { words } = serde_json::from_slice(vocabulary).map_err(|e| bad("vocabulary.json", e))?;
        super::no_zero_sizes(&[("hops", config.hops), ("embedding", config.embedding), ("memory", config.memory)])?;
        if config.hops > MOST_HOPS || config.embedding > MOST_UNITS || config.memory > MOST_SLOTS {
            return Err(EngineError::BadModelFile(format!(
                "config.json asks for {} hops, {} units and {} sentences; a memory network here takes at most {MOST_HOPS}, {MOST_UNITS} and {MOST_SLOTS}",
                config.hops, config.embedding, config.memory
            )));
        }
        if words.first().map(String::as_str) != Some("<nil>") || words.len() < 2 {
            return Err(EngineError::BadModelFile("vocabulary.json needs its words, the empty word <nil> first".into()));
        }
        let weights = Weights::from_safetensors(weights)?;
        Self::build(name, config, words, &mut |name: &str, dims: &[usize], _: Init| weights.tensor(name, dims))
    }

    fn dtype(&self) -> DType {
        self.embeddings[0].dtype()
    }

    /// The id of each word of `sentence`, or a message naming the first it never learned.
    pub fn word_ids(&self, sentence: &str) -> Result<Vec<u32>> {
        words(sentence)
            .into_iter()
            .map(|word| {
                self.words.iter().skip(1).position(|w| *w == word).map(|i| i as u32 + 1).ok_or_else(|| {
                    EngineError::BadStory(format!(
                        "this network never learned the word `{word}` (in “{}”); its stories use only: {}",
                        sentence.trim(),
                        self.words[1..].join(", ")
                    ))
                })
            })
            .collect()
    }

    /// Stories (statements, question) as a batch: the last `memory` statements, the latest
    /// in slot 0.
    pub fn batch(&self, stories: &[(Vec<&str>, &str)]) -> Result<Batch> {
        let (v, m, b) = (self.words.len(), self.config.memory, stories.len());
        let (mut story_flat, mut story_slope) = (vec![0.0; b * m * v], vec![0.0; b * m * v]);
        let (mut question_flat, mut question_slope) = (vec![0.0; b * v], vec![0.0; b * v]);
        let mut filled = vec![0.0; b * m];
        for (s, (statements, question)) in stories.iter().enumerate() {
            for (slot, statement) in statements.iter().rev().take(m).enumerate() {
                let row = (s * m + slot) * v..(s * m + slot + 1) * v;
                encode_words(&self.word_ids(statement)?, &mut story_flat[row.clone()], &mut story_slope[row]);
                filled[s * m + slot] = 1.0;
            }
            let row = s * v..(s + 1) * v;
            encode_words(&self.word_ids(question)?, &mut question_flat[row.clone()], &mut question_slope[row]);
        }
        let tensor = |values: Vec<f64>, shape: (usize, usize)| Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(self.dtype());
        Ok(Batch {
            story_flat: tensor(story_flat, (b * m, v))?,
            story_slope: tensor(story_slope, (b * m, v))?,
            filled: tensor(filled, (b, m))?,
            question_flat: tensor(question_flat, (b, v))?,
            question_slope: tensor(question_slope, (b, v))?,
        })
    }

    /// Sentences' vectors under table `e` [V, d]: flat · e + (slope · e) ⊙ (k/d).
    fn encode(&self, e: &Tensor, flat: &Tensor, slope: &Tensor) -> Result<Tensor> {
        let d = self.config.embedding;
        let k_over_d: Vec<f64> = (1..=d).map(|k| k as f64 / d as f64).collect();
        let k_over_d = Tensor::from_vec(k_over_d, (1, d), &Device::Cpu)?.to_dtype(self.dtype())?;
        Ok((flat.matmul(e)? + slope.matmul(e)?.broadcast_mul(&k_over_d)?)?)
    }

    /// The hops over a batch. `softmax` false is the paper's linear start: each slot weighed
    /// by its score itself, until the training puts the softmax back.
    pub fn forward(&self, batch: &Batch, softmax: bool) -> Result<Read> {
        let (b, m) = batch.filled.dims2()?;
        let d = self.config.embedding;
        let filled = batch.filled.unsqueeze(2)?; // [B, M, 1]
                                                 // A slot with no sentence holds nothing: no temporal vector, and no weight.
        let slots = |k: usize| -> Result<Tensor> {
            let words = self.encode(&self.embeddings[k], &batch.story_flat, &batch.story_slope)?.reshape((b, m, d))?;
            Ok(words.broadcast_add(&self.temporal[k].unsqueeze(0)?)?.broadcast_mul(&filled)?)
        };
        let blocked = ((&batch.filled - 1.0)? * 1e9)?; // [B, M]: 0 filled, −1e9 empty
        let mut u = self.encode(&self.embeddings[0], &batch.question_flat, &batch.question_slope)?; // [B, d]
        let mut hops = Vec::with_capacity(self.config.hops);
        let mut memory = slots(0)?; // [B, M, d]
        for k in 1..=self.config.hops {
            let output = slots(k)?; // [B, M, d]
            let scores = memory.matmul(&u.unsqueeze(2)?)?.squeeze(2)?; // [B, M]
            let weights = if softmax { candle_nn::ops::softmax(&(scores + &blocked)?, D::Minus1)? } else { scores };
            u = (u + weights.unsqueeze(1)?.matmul(&output)?.squeeze(1)?)?;
            hops.push(weights);
            memory = output; // adjacent tying: this hop's C is the next hop's A
        }
        let logits = u.matmul(&self.embeddings[self.config.hops].t()?)?; // [B, V]
        Ok(Read { logits, hops })
    }

    /// A typed story: sentences split at line ends and at `.`, `?` and `!`; the last must be
    /// the question, about someone or something the story mentions.
    pub fn parse(&self, text: &str) -> Result<ParsedStory> {
        if text.trim().is_empty() {
            return Err(EngineError::EmptyText);
        }
        let mut sentences: Vec<(String, [usize; 2])> = Vec::new();
        let mut start = 0;
        for (at, c) in text.char_indices() {
            if matches!(c, '\n' | '.' | '?' | '!') {
                let end = at + c.len_utf8();
                let piece = text[start..end].trim();
                if !piece.trim_matches(['.', '!', '\n']).trim().is_empty() {
                    let lead = text[start..end].len() - text[start..end].trim_start().len();
                    sentences.push((piece.to_string(), [start + lead, start + lead + piece.len()]));
                }
                start = end;
            }
        }
        if !text[start..].trim().is_empty() {
            let lead = text[start..].len() - text[start..].trim_start().len();
            sentences.push((text[start..].trim().to_string(), [start + lead, start + lead + text[start..].trim().len()]));
        }
        let Some((question, question_span)) = sentences.pop().filter(|(q, _)| q.ends_with('?')) else {
            return Err(EngineError::BadStory("the last sentence must be the question, ending in “?” (for example “Where is Mary?”)".into()));
        };
        if let Some((asked, _)) = sentences.iter().find(|(s, _)| s.ends_with('?')) {
            return Err(EngineError::BadStory(format!("only the last sentence may be a question, and “{asked}” comes before the story ends")));
        }
        if sentences.is_empty() {
            return Err(EngineError::BadStory(format!("there is no story before “{question}”: tell it first, a sentence a line")));
        }
        for (sentence, _) in sentences.iter().chain([(question.clone(), [0, 0])].iter()) {
            if self.word_ids(sentence)?.is_empty() {
                return Err(EngineError::BadStory(format!("“{sentence}” has no words")));
            }
        }
        let told: std::collections::HashSet<String> = sentences.iter().flat_map(|(s, _)| words(s)).collect();
        if let Some(unknown) = words(&question).into_iter().find(|w| !ASKING.contains(&w.as_str()) && !told.contains(w)) {
            return Err(EngineError::BadStory(format!("the story never mentions `{unknown}`: ask about someone or something it tells of")));
        }
        let total = sentences.len();
        let limit = self.config.memory;
        let truncated = (total > limit).then_some(Truncation { limit, total_tokens: total });
        let statements = sentences.split_off(total.saturating_sub(limit));
        Ok(ParsedStory { statements, question: (question, question_span), truncated })
    }

    /// Answers a typed story: the report of its hops, the kept sentences as the `source`
    /// sequence, the answer as the `target` (and the question as the `question`), and the
    /// `cross` site of one layer a hop.
    pub fn answer(&self, text: &str) -> Result<AttentionReport> {
        let story = self.parse(text)?;
        let statements: Vec<&str> = story.statements.iter().map(|(s, _)| s.as_str()).collect();
        let read = self.forward(&self.batch(&[(statements.clone(), story.question.0.as_str())])?, true)?;
        let logits: Vec<f32> = read.logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1()?;
        let answer = super::first_highest(&logits);
        let n = statements.len();
        // The slots hold the latest sentence first: the report's keys are in story order.
        let mut weights = Vec::with_capacity(self.config.hops * n);
        for hop in &read.hops {
            let slots: Vec<f32> = hop.squeeze(0)?.to_dtype(DType::F32)?.to_vec1()?;
            weights.extend((0..n).map(|s| slots[n - 1 - s]));
        }
        let source = story.tokens();
        let answer_word = self.words.get(answer as usize).cloned().unwrap_or_default();
        let target = vec![Token { id: answer, text: answer_word.clone(), span: None }];
        let maps = AttentionMaps::from_shape([self.config.hops, 1, 1, n], weights)
            .ok_or_else(|| EngineError::BadModelFile("the hops' shape does not add up".into()))?;
        let (question, span) = story.question;
        let question = vec![Token { id: 0, text: question, span: Some(span) }];
        let sequences = vec![Sequence::text("source", source), Sequence::text("target", target), Sequence::text("question", question)];
        let sites = vec![Site::whole("cross", "target", "source", Mask::None, maps)];
        Ok(AttentionReport {
            truncated: story.truncated,
            translation: Some(TranslationOutput { text: answer_word, cut_by_limit: false }),
            ..AttentionReport::of(self.info(), Mask::None, sequences, sites)
        })
    }

    pub fn info(&self) -> ModelInfo {
        let c = &self.config;
        ModelInfo {
            name: self.name.clone(),
            architecture: format!("{ARCHITECTURE} ({} hops, {} units, bAbI-style task {})", c.hops, c.embedding, c.task.number()),
            layers: c.hops,
            heads: 1,
            kv_heads: 1,
            causal: false,
            max_positions: c.memory,
            vocab_size: self.words.len(),
            kind: crate::report::ModelKind::Translation,
            ..ModelInfo::default()
        }
    }
}
