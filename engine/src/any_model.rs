//! Any model the engine loads, behind one face: a one-sequence model (a decoder or an
//! encoder, [`Model`]), a translator ([`Translator`]), a speech model ([`Transcriber`]) or a vision model
//! ([`VisionModel`]). The command line and the page's worker load and run through it, so neither needs to know which it holds.

use crate::error::{EngineError, Result};
use crate::image::Rgb;
use crate::intervention::Intervention;
use crate::report::{AttentionReport, Framing, Mask, ModelInfo, Token};
use crate::rnn::snail::{Drawing, Snail};
use crate::rnn::Aligner;
use crate::transcriber::{TranscribeOptions, Transcriber};
use crate::translator::{TranslateOptions, Translator};
use crate::vision::{LookOptions, VisionModel};
use crate::{Model, RunOptions, DEFAULT_MAX_TOKENS};

// One model is loaded at a time, and moved rarely: its size is no cost worth a box.
#[allow(clippy::large_enum_variant)]
pub enum AnyModel {
    OneSequence(Model),
    Translator(Translator),
    Transcriber(Transcriber),
    Vision(VisionModel),
    /// An RNN encoder–decoder with one attention (issue 31).
    Aligner(Aligner),
    /// A few-shot learner over episodes of drawings (SNAIL, issue 32).
    FewShot(Snail),
}

impl AnyModel {
    pub fn info(&self) -> ModelInfo {
        match self {
            AnyModel::OneSequence(model) => model.info().clone(),
            AnyModel::Translator(translator) => translator.info(),
            AnyModel::Transcriber(transcriber) => transcriber.info(),
            AnyModel::Vision(vision) => vision.info(),
            AnyModel::Aligner(aligner) => aligner.info(),
            AnyModel::FewShot(snail) => snail.info(),
        }
    }

    /// The mask a run takes by default: the model's own.
    pub fn native_mask(&self) -> Mask {
        match self {
            AnyModel::OneSequence(model) => model.native_mask(),
            AnyModel::Translator(_) | AnyModel::Transcriber(_) | AnyModel::Vision(_) | AnyModel::Aligner(_) => Mask::None,
            AnyModel::FewShot(_) => Mask::Causal,
        }
    }

    /// Runs `text`. A one-sequence model runs it under `mask` with every option; a
    /// translator translates it over its shortlist (its encoder sees the whole source
    /// and its decoder the tokens before, whatever `mask` says; it keeps an encoder
    /// layer's raw scores and its value norms when asked, and reuses nothing), telling
    /// `on_token(step, token, limit)` each target token.
    pub fn run_text(&self, text: &str, mask: Mask, options: RunOptions, on_token: impl FnMut(usize, &Token, usize)) -> Result<AttentionReport> {
        self.run_input(Input::Text(text), mask, options, None, on_token)
    }

    /// Runs `input` through the model that takes it, keeping what `options` ask (raw scores
    /// and reuse are a text's; value norms every model's), with `intervention`'s heads
    /// changed: a one-sequence model's (under its own mask, from a traced run), a
    /// translator's encoder heads, a speech model's decoder self-attention heads, a
    /// picture's heads. `on_token(step, token, limit)` hears each token a translator or a
    /// speech model writes.
    pub fn run_input(
        &self,
        input: Input,
        mask: Mask,
        options: RunOptions,
        intervention: Option<&Intervention>,
        on_token: impl FnMut(usize, &Token, usize),
    ) -> Result<AttentionReport> {
        let intervention = intervention.filter(|i| !i.is_empty());
        let RunOptions { max_tokens, scores_of_layer, value_norms, .. } = options;
        match (self, input) {
            (AnyModel::OneSequence(model), Input::Text(text)) => match intervention {
                None => model.run_text_with(text, mask, options),
                Some(_) if mask != model.native_mask() => Err(EngineError::Intervention(format!(
                    "heads are changed under the model's own mask ({}), the one it was trained with",
                    model.native_mask().name()
                ))),
                Some(intervention) => Ok(model.change_text(text, intervention, |t| model.trace(t, max_tokens).map(Box::new))?.0),
            },
            (AnyModel::Translator(translator), Input::Text(text)) => {
                let shortlist = TranslateOptions::new(max_tokens.unwrap_or(DEFAULT_MAX_TOKENS), true);
                let options = TranslateOptions { scores_of_layer, value_norms, intervention: intervention.cloned(), ..shortlist };
                translator.translate_with(text, options, on_token)
            }
            (AnyModel::Transcriber(transcriber), Input::Sound(samples)) => {
                let options = TranscribeOptions { value_norms, intervention: intervention.cloned(), ..TranscribeOptions::default() };
                transcriber.transcribe_with(samples, options, on_token)
            }
            (AnyModel::Vision(vision), Input::Picture(picture, framing)) => {
                vision.look_with(picture, framing, &LookOptions { value_norms, intervention: intervention.cloned() })
            }
            (AnyModel::Aligner(_), Input::Text(_)) if intervention.is_some() => {
                Err(EngineError::Intervention("an RNN aligner's one attention has no heads to switch off".into()))
            }
            (AnyModel::Aligner(aligner), Input::Text(text)) => aligner.align(text, on_token),
            (AnyModel::FewShot(_), Input::Episode { .. }) if intervention.is_some() => {
                Err(EngineError::Intervention("a SNAIL's heads are not switched off here".into()))
            }
            (AnyModel::FewShot(snail), Input::Episode { examples, query }) => snail.read_episode(examples, query),
            (AnyModel::FewShot(_), _) => Err(EngineError::NeedsEpisode),
            (AnyModel::Transcriber(_), _) => Err(EngineError::NeedsSound),
            (AnyModel::Vision(_), _) => Err(EngineError::NeedsPicture),
            (_, Input::Sound(_)) => Err(EngineError::NeedsText { given: "sound" }),
            (_, Input::Picture(..)) => Err(EngineError::NeedsText { given: "a picture" }),
            (_, Input::Episode { .. }) => Err(EngineError::NeedsText { given: "an episode of drawings" }),
        }
    }
}

/// What a run is of: a text, a sound or a picture.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    Text(&'a str),
    /// Samples at 16 kHz, mono.
    Sound(&'a [f32]),
    /// A picture and how it is framed into the model's input.
    Picture(&'a Rgb, Framing),
    /// Labelled drawings (each with its class) and a query drawing, for a few-shot learner.
    Episode {
        examples: &'a [(Drawing, usize)],
        query: &'a Drawing,
    },
}
