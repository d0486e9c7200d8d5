//! Any model the engine loads, behind one face: a one-sequence model (a decoder or an
//! encoder, [`Model`]), a translator ([`Translator`]), a speech model ([`Transcriber`]) or a vision model
//! ([`VisionModel`]). The command line and the page's worker load and run through it, so neither needs to know which it holds.

use crate::error::{EngineError, Result};
use crate::report::{AttentionReport, Mask, ModelInfo, Token};
use crate::transcriber::Transcriber;
use crate::translator::{TranslateOptions, Translator};
use crate::vision::VisionModel;
use crate::{Model, RunOptions, DEFAULT_MAX_TOKENS};

// One model is loaded at a time, and moved rarely: its size is no cost worth a box.
#[allow(clippy::large_enum_variant)]
pub enum AnyModel {
    OneSequence(Model),
    Translator(Translator),
    Transcriber(Transcriber),
    Vision(VisionModel),
}

impl AnyModel {
    pub fn info(&self) -> ModelInfo {
        match self {
            AnyModel::OneSequence(model) => model.info().clone(),
            AnyModel::Translator(translator) => translator.info(),
            AnyModel::Transcriber(transcriber) => transcriber.info(),
            AnyModel::Vision(vision) => vision.info(),
        }
    }

    /// The mask a run takes by default: the model's own.
    pub fn native_mask(&self) -> Mask {
        match self {
            AnyModel::OneSequence(model) => model.native_mask(),
            AnyModel::Translator(_) | AnyModel::Transcriber(_) | AnyModel::Vision(_) => Mask::None,
        }
    }

    /// Runs `text`. A one-sequence model runs it under `mask` with every option; a
    /// translator translates it over its shortlist (its encoder sees the whole source
    /// and its decoder the tokens before, whatever `mask` says; it keeps an encoder
    /// layer's raw scores and its value norms when asked, and reuses nothing), telling
    /// `on_token(step, token, limit)` each target token.
    pub fn run_text(&self, text: &str, mask: Mask, options: RunOptions, on_token: impl FnMut(usize, &Token, usize)) -> Result<AttentionReport> {
        match self {
            AnyModel::OneSequence(model) => model.run_text_with(text, mask, options),
            AnyModel::Translator(translator) => {
                let max_tokens = options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
                let options =
                    TranslateOptions { scores_of_layer: options.scores_of_layer, value_norms: options.value_norms, ..TranslateOptions::new(max_tokens, true) };
                translator.translate_with(text, options, on_token)
            }
            AnyModel::Transcriber(_) => Err(EngineError::NeedsSound),
            AnyModel::Vision(_) => Err(EngineError::NeedsPicture),
        }
    }
}
