//! The tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata, as Hugging Face
//! transformers builds it from the same metadata (its `integrations/gguf`), so that token ids
//! agree with the reference maps. Its pipeline (normalizer, pre-tokenizer, post-processor,
//! decoder) is written as tokenizer.json's parts; its BPE vocabulary and merges, the bulk
//! (262,144 tokens for Gemma 3), go straight to the model, never through JSON.
//!
//! Two vocabularies are read: `gpt2` (byte-level BPE, with the file's merges and the split
//! its `tokenizer.ggml.pre` names) and `llama` (SentencePiece pieces with byte fallback, whose
//! merges the file does not carry and which are recovered from the vocabulary). How each
//! differs by architecture is in docs/notes/gguf-sentencepiece-tokenizers.md.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde_json::{json, Value as Json};

use crate::error::{first_line, EngineError, Result};

/// The `tokenizer.ggml.model` kinds built here.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub const KINDS: [&str; 2] = ["gpt2", "llama"];

/// GGUF token types: 3 control (a special token), 4 user-defined (an added token).
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// SentencePiece's word-boundary mark.
const SPACE_MARK: &str = "\u{2581}";

/// The split Llama 3 (and others that share its byte-level vocabulary shape) applies before
/// the byte-level step; llama.cpp names it in `tokenizer.ggml.pre`.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split: digits one at a time.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn split_of(pre: &str) -> Option<&'static str> {
    match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "smaug-bpe" | "dbrx" | "pixtral" => Some(LLAMA3_SPLIT),
        "qwen2" | "deepseek-r1-qwen" | "megrez" => Some(QWEN2_SPLIT),
        _ => None,
    }
}

/// What a GGUF's tokenizer metadata holds, read once.
struct Vocabulary {
    tokens: Vec<String>,
    scores: Vec<f32>,
    token_types: Vec<i64>,
    pre: Option<String>,
    add_bos: Option<bool>,
    add_eos: Option<bool>,
    bos: Option<usize>,
    eos: Option<usize>,
    /// bos, eos, unk and pad: special whatever their token type says.
    special_ids: Vec<usize>,
}

/// A GGUF's tokenizer in parts: the pipeline as a tokenizer.json with an empty BPE model, and
/// what the model and the added tokens hold.
pub struct GgufTokenizer {
    /// tokenizer.json without vocabulary, merges or added tokens.
    pub pipeline: Json,
    /// Every token by id, spelled as the tokenizer looks it up.
    pub vocab: Vec<String>,
    pub merges: Vec<(String, String)>,
    pub unk_token: Option<String>,
    /// SentencePiece's byte fallback (and fusing unknown pieces), off for byte-level BPE.
    pub byte_fallback: bool,
    /// The added tokens, (content, special), matched whole in the text.
    pub added: Vec<(String, bool)>,
}

/// The tokenizer `metadata` describes, or `None` when the file names a vocabulary kind the
/// engine does not build (its model then runs from token ids).
pub fn gguf_tokenizer(architecture: &str, metadata: &HashMap<String, Value>) -> Result<Option<GgufTokenizer>> {
    let kind = metadata.get("tokenizer.ggml.model").and_then(|v| v.to_string().ok()).cloned();
    match kind.as_deref() {
        Some("gpt2") => {
            let vocabulary = Vocabulary::read(metadata)?;
            let merges = strings(metadata, "tokenizer.ggml.merges")?
                .into_iter()
                .map(|m| m.split_once(' ').map(|(l, r)| (l.to_string(), r.to_string())).ok_or_else(|| bad(format!("a merge without a space: `{m}`"))))
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(byte_level(vocabulary, merges)))
        }
        Some("llama") => Ok(Some(sentencepiece(architecture, Vocabulary::read(metadata)?))),
        _ => Ok(None),
    }
}

fn bad(e: impl std::fmt::Display) -> EngineError {
    EngineError::BadModelFile(first_line(&e))
}

fn strings(metadata: &HashMap<String, Value>, key: &str) -> Result<Vec<String>> {
    let values = metadata.get(key).ok_or_else(|| EngineError::MissingSetting { source_name: "GGUF metadata", key: key.into() })?.to_vec().map_err(bad)?;
    values.iter().map(|v| v.to_string().cloned().map_err(bad)).collect()
}

impl Vocabulary {
    fn read(metadata: &HashMap<String, Value>) -> Result<Self> {
        let tokens = strings(metadata, "tokenizer.ggml.tokens")?;
        let n = tokens.len();
        let numbers = |key: &str, convert: fn(&Value) -> Option<f64>| -> Vec<Option<f64>> {
            match metadata.get(key).map(|v| v.to_vec()) {
                Some(Ok(values)) => values.iter().map(convert).collect(),
                _ => Vec::new(),
            }
        };
        let scores = numbers("tokenizer.ggml.scores", |v| v.to_f32().ok().map(f64::from));
        let types = numbers("tokenizer.ggml.token_type", |v| v.to_i32().ok().map(f64::from));
        let key = |name: &str| metadata.get(&format!("tokenizer.ggml.{name}"));
        let flag = |name: &str| key(name).and_then(|v| v.to_bool().ok());
        let id = |name: &str| key(&format!("{name}_token_id")).and_then(|v| v.to_u32().ok()).map(|i| i as usize).filter(|&i| i < n);
        Ok(Self {
            scores: (0..n).map(|i| scores.get(i).copied().flatten().unwrap_or(0.0) as f32).collect(),
            token_types: (0..n).map(|i| types.get(i).copied().flatten().unwrap_or(1.0) as i64).collect(),
            pre: key("pre").and_then(|v| v.to_string().ok()).cloned(),
            add_bos: flag("add_bos_token"),
            add_eos: flag("add_eos_token"),
            bos: id("bos"),
            eos: id("eos"),
            special_ids: ["bos", "eos", "unknown", "padding"].iter().filter_map(|k| id(k)).collect(),
            tokens,
        })
    }

    /// Control tokens as special added tokens, user-defined ones as plain added tokens, and
    /// the bos/eos/unk/pad tokens special (none of them normalized: llama.cpp matches them
    /// whole in the text), as (content, special). `spelled` is the vocabulary as the
    /// tokenizer spells it.
    fn added_tokens(&self, spelled: &[String]) -> Vec<(String, bool)> {
        (0..self.tokens.len())
            .filter_map(|i| {
                let special = self.token_types[i] == CONTROL || self.special_ids.contains(&i);
                (special || self.token_types[i] == USER_DEFINED).then(|| (spelled[i].clone(), special))
            })
            .collect()
    }

    /// Beginning and end tokens around every text, as the metadata asks; `add_bos_token`
    /// missing means `bos_default` (yes for SentencePiece vocabularies, as llama.cpp reads it).
    fn post_processor(&self, spelled: &[String], bos_default: bool) -> Json {
        let bos = self.bos.filter(|_| self.add_bos.unwrap_or(bos_default));
        let eos = self.eos.filter(|_| self.add_eos.unwrap_or(false));
        let piece = |id: usize| json!({"SpecialToken": {"id": spelled[id], "type_id": 0}});
        let mut single: Vec<Json> = bos.map(piece).into_iter().collect();
        single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
        single.extend(eos.map(piece));
        let mut pair = single.clone();
        pair.push(json!({"Sequence": {"id": "B", "type_id": 1}}));
        let special_tokens: serde_json::Map<String, Json> =
            bos.into_iter().chain(eos).map(|id| (spelled[id].clone(), json!({"id": spelled[id], "ids": [id], "tokens": [spelled[id]]}))).collect();
        json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": special_tokens})
    }
}

/// A tokenizer.json around an empty BPE model (the vocabulary and merges go to the model
/// directly).
fn pipeline(normalizer: Json, pre_tokenizer: Json, post_processor: Json, decoder: Json) -> Json {
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post_processor, "decoder": decoder,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": {}, "merges": []}
    })
}

/// Byte-level BPE with the file's merges (SmolLM2, GPT-2, Llama 3, Qwen2).
fn byte_level(vocabulary: Vocabulary, merges: Vec<(String, String)>) -> GgufTokenizer {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    // The split the vocabulary's merges were learned on: Llama 3's and Qwen2's regexes, or
    // SmolLM2's digits one by one, before the byte-level step; else GPT-2's own split.
    let pre_tokenizer = match vocabulary.pre.as_deref() {
        Some("smollm") => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level]}),
        Some(pre) if split_of(pre).is_some() => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": split_of(pre)}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}),
        _ => byte_level,
    };
    let post_processor = json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true});
    let decoder = json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true});
    GgufTokenizer {
        pipeline: pipeline(Json::Null, pre_tokenizer, post_processor, decoder),
        added: vocabulary.added_tokens(&vocabulary.tokens),
        vocab: vocabulary.tokens,
        merges,
        unk_token: None,
        byte_fallback: false,
    }
}

/// SentencePiece pieces as a byte-fallback BPE. Gemma spells runs of spaces with the mark,
/// normalizes spaces to it, and ranks merges by the file's token order; Llama ranks them by
/// score and marks word starts in a pre-tokenizer; Phi-3 prepends the mark in its normalizer.
fn sentencepiece(architecture: &str, vocabulary: Vocabulary) -> GgufTokenizer {
    let gemma = architecture.starts_with("gemma");
    let spelled: Vec<String> = if gemma {
        // A token of spaces only is stored with real spaces; Gemma looks it up as marks.
        let spaces_only = |t: &String| t.contains(' ') && t.trim().is_empty();
        vocabulary.tokens.iter().map(|t| if spaces_only(t) { SPACE_MARK.repeat(t.chars().count()) } else { t.clone() }).collect()
    } else {
        vocabulary.tokens.clone()
    };
    let ranks: Vec<f64> = if gemma { (0..spelled.len()).map(|i| -(i as f64)).collect() } else { vocabulary.scores.iter().map(|&s| f64::from(s)).collect() };
    let merges = recovered_merges(&spelled, &ranks);
    let replace = |from: &str, to: &str| json!({"type": "Replace", "pattern": {"String": from}, "content": to});
    let (normalizer, pre_tokenizer) = match architecture {
        a if a.starts_with("gemma") => {
            (replace(" ", SPACE_MARK), json!({"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}))
        }
        "phi3" => (json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SPACE_MARK}, replace(" ", SPACE_MARK)]}), Json::Null),
        _ => (Json::Null, json!({"type": "Metaspace", "replacement": SPACE_MARK, "prepend_scheme": "first", "split": false})),
    };
    let mut decoders = vec![replace(SPACE_MARK, " "), json!({"type": "ByteFallback"}), json!({"type": "Fuse"})];
    if !gemma {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    let unk_token = gemma.then(|| spelled.iter().position(|t| t == "<unk>")).flatten().map(|i| spelled[i].clone());
    let post_processor = vocabulary.post_processor(&spelled, true);
    GgufTokenizer {
        pipeline: pipeline(normalizer, pre_tokenizer, post_processor, json!({"type": "Sequence", "decoders": decoders})),
        added: vocabulary.added_tokens(&spelled),
        vocab: spelled,
        merges,
        unk_token,
        byte_fallback: true,
    }
}

/// Merges a SentencePiece vocabulary implies, best first: every split of a token into two
/// pieces of the vocabulary, ranked by the merged token's `rank` (higher first), then by the
/// lengths of the two pieces (longer first), ties kept in vocabulary order. A token listed
/// twice counts with its last index and rank, as a Python dict built from the list keeps it.
pub(crate) fn recovered_merges(tokens: &[String], ranks: &[f64]) -> Vec<(String, String)> {
    let mut last_index: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        last_index.insert(t.as_str(), i);
    }
    // (left, right, rank, chars of left, chars of right)
    let mut merges: Vec<(&str, &str, f64, usize, usize)> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::with_capacity(tokens.len());
    for token in tokens {
        if !seen.insert(token.as_str()) {
            continue; // a repeat: its first appearance already gave its splits
        }
        let rank = ranks[last_index[token.as_str()]];
        let mut local: Vec<(&str, &str, f64, usize, usize)> = Vec::new();
        let boundaries: Vec<usize> = token.char_indices().map(|(b, _)| b).skip(1).collect();
        for (n, &b) in boundaries.iter().enumerate() {
            let (left, right) = token.split_at(b);
            if last_index.contains_key(left) && last_index.contains_key(right) {
                local.push((left, right, rank, n + 1, boundaries.len() - n));
            }
        }
        local.sort_by_key(|m| (last_index[m.0], last_index[m.1]));
        merges.extend(local);
    }
    merges.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.3.cmp(&a.3)).then(b.4.cmp(&a.4)));
    merges.into_iter().map(|(l, r, ..)| (l.to_string(), r.to_string())).collect()
}
