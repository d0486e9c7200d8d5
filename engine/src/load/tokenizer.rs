//! Tokenizers: from a tokenizer.json, or built from a GGUF file's own metadata.
//! Both become a `tokenizers::Tokenizer`, wrapped so that every model turns text
//! into the report's tokens the same way.

use std::collections::HashMap;

use super::gguf_tokenizer::GgufTokenizer;
use candle_core::quantized::gguf_file::Value;
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

    /// Builds the tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata: byte-level
    /// BPE (`gpt2`) and SentencePiece (`llama`) vocabularies; `Ok(None)` for others, whose
    /// models still run from token ids.
    pub fn from_gguf_metadata(architecture: &str, metadata: &HashMap<String, Value>) -> Result<Option<Self>> {
        let Some(parts) = super::gguf_tokenizer::gguf_tokenizer(architecture, metadata)? else { return Ok(None) };
        let GgufTokenizer { pipeline, vocab, merges, unk_token, byte_fallback, added } = parts;
        let mut tokenizer = Self::from_json(&serde_json::to_vec(&pipeline).map_err(tokenizer_error)?)?;
        let mut ids = tokenizers::models::bpe::Vocab::with_capacity(vocab.len());
        for (id, token) in vocab.into_iter().enumerate() {
            ids.insert(token, id as u32);
        }
        let mut bpe = tokenizers::models::bpe::BPE::builder().vocab_and_merges(ids, merges).byte_fallback(byte_fallback).fuse_unk(byte_fallback);
        if let Some(unk) = unk_token {
            bpe = bpe.unk_token(unk);
        }
        tokenizer.inner.with_model(bpe.build().map_err(tokenizer_error)?);
        // Added after the model, so each takes the id the vocabulary gives it.
        let token = |(content, special): &(String, bool)| tokenizers::AddedToken::from(content.clone(), *special).normalized(false);
        let (special, plain): (Vec<_>, Vec<_>) = added.iter().partition(|(_, special)| *special);
        tokenizer.inner.add_special_tokens(&special.into_iter().map(token).collect::<Vec<_>>());
        tokenizer.inner.add_tokens(&plain.into_iter().map(token).collect::<Vec<_>>());
        Ok(Some(tokenizer))
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

    /// The id of a token given by its text (`<|endoftext|>`), when the vocabulary has it.
    pub fn id_of(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
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
