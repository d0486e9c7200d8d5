//! Tokenizers: from a tokenizer.json, or built from a GGUF file's own metadata.
//! Both become a `tokenizers::Tokenizer`, wrapped so that every model turns text
//! into the report's tokens the same way.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde_json::json;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::{PostProcessor, Tokenizer, TruncationDirection};

use crate::error::{first_line, EngineError, Result};
use crate::report::{Token, Truncation};

/// A tokenizer and how its tokens are shown to a person.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Byte-level BPE tokens ("Ġcat") are shown decoded (" cat"); others as they are.
    byte_level: bool,
}

fn tokenizer_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Tokenizer(first_line(&e))
}

impl TextTokenizer {
    /// Reads a Hugging Face tokenizer.json. Padding and truncation are switched off:
    /// an interactive tool shows the tokens of the text, not of a fixed-size batch.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let mut inner = Tokenizer::from_bytes(bytes).map_err(tokenizer_error)?;
        inner.with_padding(None);
        inner.with_truncation(None).map_err(tokenizer_error)?;
        let byte_level = matches!(inner.get_decoder(), Some(DecoderWrapper::ByteLevel(_)));
        Ok(Self { inner, byte_level })
    }

    /// Builds the tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata.
    /// Only byte-level BPE (`tokenizer.ggml.model = gpt2`) is built; `Ok(None)` for others,
    /// whose models still run from token ids.
    pub fn from_gguf_metadata(metadata: &HashMap<String, Value>) -> Result<Option<Self>> {
        let text = |key: &str| metadata.get(key).and_then(|v| v.to_string().ok()).cloned();
        if text("tokenizer.ggml.model").as_deref() != Some("gpt2") {
            return Ok(None);
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            let values = metadata
                .get(key)
                .ok_or_else(|| EngineError::MissingSetting { source_name: "GGUF metadata", key: key.into() })?
                .to_vec()
                .map_err(|e| EngineError::BadModelFile(first_line(&e)))?;
            values
                .iter()
                .map(|v| v.to_string().cloned().map_err(|e| EngineError::BadModelFile(first_line(&e))))
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let token_types: Vec<i64> = match metadata.get("tokenizer.ggml.token_type").map(|v| v.to_vec()) {
            Some(Ok(values)) => values.iter().map(|v| v.to_i32().map(i64::from).unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };

        // GGUF token types: 1 normal, 3 control (special), 4 user-defined.
        let added: Vec<_> = tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(token_types.get(*i), Some(3) | Some(4)))
            .map(|(i, content)| {
                json!({"id": i, "content": content, "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false, "special": token_types[i] == 3})
            })
            .collect();
        let vocab: serde_json::Map<String, serde_json::Value> =
            tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();

        let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
        // The `smollm` pre-tokenizer splits digits one by one before the byte-level split;
        // others (llama.cpp's `default`, `gpt2`) are the plain GPT-2 split.
        let pre_tokenizer = match text("tokenizer.ggml.pre").as_deref() {
            Some("smollm") => json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, byte_level]}),
            _ => byte_level,
        };
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                      "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": false, "vocab": vocab, "merges": merges}
        });
        let bytes = serde_json::to_vec(&spec).map_err(tokenizer_error)?;
        Self::from_json(&bytes).map(Some)
    }

    /// Tokenizes `text`, keeping at most `limit` tokens (special tokens included).
    pub fn encode(&self, text: &str, limit: usize) -> Result<(Vec<Token>, Option<Truncation>)> {
        let mut encoding = self.inner.encode(text, false).map_err(tokenizer_error)?;
        let specials = self.inner.get_post_processor().map_or(0, |p| p.added_tokens(false));
        let total_tokens = encoding.len() + specials;
        let truncated = (total_tokens > limit).then_some(Truncation { limit, total_tokens });
        if truncated.is_some() {
            encoding.truncate(limit.saturating_sub(specials), 0, TruncationDirection::Right);
        }
        let encoding = self.inner.post_process(encoding, None, true).map_err(tokenizer_error)?;

        let tokens = encoding
            .get_ids()
            .iter()
            .zip(encoding.get_tokens())
            .zip(encoding.get_offsets())
            .zip(encoding.get_special_tokens_mask())
            .map(|(((&id, piece), &(start, end)), &special)| Token {
                id,
                text: if self.byte_level { self.decode_one(id) } else { piece.clone() },
                span: (special == 0).then_some([start, end]),
            })
            .collect();
        Ok((tokens, truncated))
    }

    /// The text of a sequence of ids, as the tokenizer's decoder joins them (special
    /// tokens kept: the caller leaves out what it does not want).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(tokenizer_error)
    }

    /// The text a person reads for one token id.
    pub fn token_text(&self, id: u32) -> String {
        if self.byte_level {
            self.decode_one(id)
        } else {
            self.inner.id_to_token(id).unwrap_or_else(|| format!("#{id}"))
        }
    }

    fn decode_one(&self, id: u32) -> String {
        self.inner.decode(&[id], false).unwrap_or_else(|_| format!("#{id}"))
    }
}
