//! The report in other tools' formats. [`Hf`] is what BertViz's `model_view` and
//! `head_view` take (and Hugging Face's `output_attentions` names), without the batch
//! dimension: `tokens` + `attentions` for a one-sequence model; `encoder_tokens`,
//! `decoder_tokens`, `encoder_attentions`, `cross_attentions` (and
//! `decoder_attentions` where the model has decoder self-attention) for an
//! encoder–decoder. Every attention is [layer][head][query][key].

use serde::Serialize;

use crate::{AttentionMaps, AttentionReport};

/// A report under BertViz's names; it borrows the report's maps.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Hf<'a> {
    OneSequence {
        tokens: Vec<&'a str>,
        attentions: &'a AttentionMaps,
    },
    EncoderDecoder {
        encoder_tokens: Vec<&'a str>,
        decoder_tokens: Vec<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encoder_attentions: Option<&'a AttentionMaps>,
        #[serde(skip_serializing_if = "Option::is_none")]
        decoder_attentions: Option<&'a AttentionMaps>,
        cross_attentions: &'a AttentionMaps,
    },
}

/// The token texts of a sequence (none when the report has no such sequence).
fn texts<'a>(report: &'a AttentionReport, sequence: &str) -> Vec<&'a str> {
    report.sequence(sequence).map(|s| s.tokens.iter().map(|t| t.text.as_str()).collect()).unwrap_or_default()
}

impl<'a> Hf<'a> {
    /// The report's sites under BertViz's names: a `cross` site makes it an encoder–decoder.
    /// A long text's report, whose maps are pooled, has no whole maps to give.
    pub fn of(report: &'a AttentionReport) -> Result<Self, String> {
        if report.sites.first().is_some_and(|s| !s.form.is_whole()) {
            return Err("BertViz's format holds every weight, and a long text's maps are kept pooled: export the report instead".into());
        }
        Ok(match report.site("cross") {
            Some(cross) => Hf::EncoderDecoder {
                encoder_tokens: texts(report, &cross.keys),
                decoder_tokens: texts(report, &cross.queries),
                // Only an encoder site over the same items as the cross-attention's keys (a
                // speech model's encoder maps are pooled into blocks: they are left out).
                encoder_attentions: report.site("encoder").filter(|s| s.keys == cross.keys).map(|s| &s.maps),
                decoder_attentions: report.site("decoder").map(|s| &s.maps),
                cross_attentions: &cross.maps,
            },
            None => Hf::OneSequence {
                tokens: report.sites.first().map_or_else(|| texts(report, "tokens"), |s| texts(report, &s.queries)),
                attentions: report.attention(),
            },
        })
    }
}
