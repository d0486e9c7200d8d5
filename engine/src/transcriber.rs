//! A speech model: sound in, its transcript out, with every attention the model paid
//! on the way (see [`crate::arch::whisper`]), as sites of the report:
//! - `decoder`: the transcript's causal self-attention (first, so the views of one
//!   sequence show it);
//! - `cross`: each transcript token's attention over the 1500 frames of 20 ms;
//! - `encoder`: the encoder's self-attention over the sound, pooled into blocks of
//!   [`ENCODER_BLOCK`] frames (a layer's whole maps are 1500 × 1500 per head: one is
//!   computed when a view asks, [`Transcriber::encoder_map`]).
//!
//! The transcript sequence holds the decoder's inputs: the prompt, the text, and the end
//! of text (its row is there: openai-whisper aligns words over it). Row i of a map is the
//! decoder reading token i, which writes token i + 1. The report also holds each word's time
//! in the sound, as openai-whisper finds it ([`crate::analysis::word_timing`]).

use std::sync::Mutex;

use candle_core::{Device, Tensor};

use crate::analysis::word_timing::{alignment_matrix, find_alignment, group_words, tidy};
use crate::arch::whisper::{argmax, Encoded, StepOptions, Whisper};
use crate::audio::mel::{log_mel, CHUNK_SAMPLES, HOP};
use crate::audio::SAMPLE_RATE;
use crate::error::{EngineError, Result};
use crate::intervention::{ablation_only, site_of, Ablation, Intervention};
use crate::load::tokenizer::TextTokenizer;
use crate::load::whisper::{self, DecodingRules, WhisperWeights};
use crate::report::{AttentionMaps, AttentionReport, Mask, ModelInfo, Sequence, Site, Spectrogram, Token, Transcript, ValueNorms};

/// Encoder frames pooled into one block of the `encoder` site: 10 frames, 0.2 s.
pub const ENCODER_BLOCK: usize = 10;
/// The most tokens written after the prompt (openai-whisper's sample length: half the
/// decoder's 448 positions).
pub const MAX_NEW_TOKENS: usize = 224;

/// The files of a speech model, as bytes.
pub enum TranscriberFiles<'a> {
    /// CTranslate2's `model.bin` with faster-whisper's `config.json`.
    CTranslate2 { model: &'a [u8], config: Option<&'a [u8]>, tokenizer: &'a [u8] },
    /// Hugging Face's `config.json`, `model.safetensors`, `generation_config.json`.
    HuggingFace { config: &'a [u8], weights: &'a [u8], generation: Option<&'a [u8]>, tokenizer: &'a [u8] },
}

/// How a transcription runs.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscribeOptions {
    /// The most tokens written after the prompt.
    pub max_new_tokens: usize,
    /// Keep every decoder self-attention head's value norms (for value-weighted maps).
    pub value_norms: bool,
    /// Heads of the decoder's self-attention to zero while it writes; the report carries it.
    /// (Their mean is not offered: written a token at a time, a head has no mean over the
    /// positions until the transcription ends. Patching needs a second recording.)
    pub intervention: Option<Intervention>,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self { max_new_tokens: MAX_NEW_TOKENS, value_norms: false, intervention: None }
    }
}

/// The special tokens a transcription starts and ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Specials {
    /// `<|startoftranscript|>` (then `<|en|>` `<|transcribe|>` on a multilingual model),
    /// `<|notimestamps|>`.
    prompt: Vec<u32>,
    end_of_text: u32,
}

/// A loaded speech model.
pub struct Transcriber {
    pub name: String,
    network: Whisper,
    tokenizer: TextTokenizer,
    rules: DecodingRules,
    specials: Specials,
    /// What the last run's encoder kept, for whole encoder maps on demand.
    last_encoded: Mutex<Option<Encoded>>,
}

impl Transcriber {
    /// Its encoder's and decoder's position tables, their first `shown` rows.
    pub fn position_sets(&self, shown: usize) -> Result<Vec<crate::report::positions::PositionSet>> {
        self.network.position_sets(shown)
    }

    pub fn from_bytes(name: &str, files: TranscriberFiles) -> Result<Self> {
        let (weights, tokenizer) = match files {
            TranscriberFiles::CTranslate2 { model, config, tokenizer } => (whisper::from_ctranslate2(model, config)?, tokenizer),
            TranscriberFiles::HuggingFace { config, weights, generation, tokenizer } => {
                (whisper::from_hugging_face(config, std::io::Cursor::new(weights), generation)?, tokenizer)
            }
        };
        Self::new(name, weights, TextTokenizer::from_json(tokenizer)?)
    }

    fn new(name: &str, weights: WhisperWeights, tokenizer: TextTokenizer) -> Result<Self> {
        let rules = weights.rules.clone();
        let network = Whisper::load(weights, &Device::Cpu)?;
        let id = |token: &str| tokenizer.id_of(token).ok_or_else(|| EngineError::BadModelFile(format!("the tokenizer has no {token}")));
        // A multilingual model (a vocabulary of 51,865 or more) is told the language and task.
        let mut prompt = vec![id("<|startoftranscript|>")?];
        if network.sizes.vocab_size >= 51_865 {
            prompt.extend([id("<|en|>")?, id("<|transcribe|>")?]);
        }
        prompt.push(id("<|notimestamps|>")?);
        let specials = Specials { prompt, end_of_text: id("<|endoftext|>")? };
        if let Some(&(layer, head)) =
            rules.alignment_heads.iter().find(|&&(l, h)| l >= network.sizes.decoder_layers || h >= network.sizes.decoder_attention_heads)
        {
            return Err(EngineError::BadModelFile(format!("alignment head ({layer}, {head}) is not in the decoder")));
        }
        Ok(Self { name: name.into(), network, tokenizer, rules, specials, last_encoded: Mutex::new(None) })
    }

    /// The facts a report gives about the model: the decoder's layers and heads (its
    /// self-attention is the report's first site; the encoder's are in its site's shape).
    pub fn info(&self) -> ModelInfo {
        let s = self.network.sizes;
        ModelInfo {
            name: self.name.clone(),
            architecture: "whisper".into(),
            layers: s.decoder_layers,
            heads: s.decoder_attention_heads,
            kv_heads: s.decoder_attention_heads,
            causal: true,
            max_positions: s.max_target_positions,
            vocab_size: s.vocab_size,
            kind: crate::report::ModelKind::Speech,
            ..ModelInfo::default()
        }
    }

    /// The decoder's (layer, head) pairs whose cross-attention follows the words.
    pub fn alignment_heads(&self) -> &[(usize, usize)] {
        &self.rules.alignment_heads
    }

    /// A token as the report shows it: special tokens by name.
    fn token(&self, id: u32) -> Token {
        Token { id, text: self.tokenizer.token_text(id), span: None }
    }

    /// Transcribes `samples` (16 kHz mono; the first 30 s are heard).
    pub fn transcribe(&self, samples: &[f32]) -> Result<AttentionReport> {
        self.transcribe_with(samples, TranscribeOptions::default(), |_, _, _| {})
    }

    /// [`Transcriber::transcribe`] with its options, telling `on_token(step, token, limit)`
    /// each token as it is written.
    pub fn transcribe_with(&self, samples: &[f32], options: TranscribeOptions, mut on_token: impl FnMut(usize, &Token, usize)) -> Result<AttentionReport> {
        if samples.is_empty() {
            return Err(EngineError::BadAudio("there is no sound: the recording or file is empty".into()));
        }
        if samples.iter().any(|s| !s.is_finite()) {
            return Err(EngineError::BadAudio("the sound holds values that are not numbers".into()));
        }
        let heard = &samples[..samples.len().min(CHUNK_SAMPLES)];
        let seconds = |n: usize| n as f64 / f64::from(SAMPLE_RATE);
        let cut_from_seconds = (samples.len() > CHUNK_SAMPLES).then(|| seconds(samples.len()));
        let s = self.network.sizes;
        let mel = log_mel(heard, s.num_mel_bins);
        let mel_tensor = Tensor::from_vec(mel.values.clone(), (mel.mels, mel.frames), self.network.device())?;
        let (layers, heads) = (s.decoder_layers, s.decoder_attention_heads);
        // The decoder's heads (the default), or the encoder's: its heads change as it attends
        // pooled, a head's output zeroed or replaced by its mean over the 1,500 frames.
        let site = options.intervention.as_ref().map(|i| site_of(i, &["decoder", "encoder"])).transpose()?;
        let (changes, encoder_changes) = match (&options.intervention, site) {
            (Some(i), Some("encoder")) => (None, Some(ablation_only(i, s.encoder_layers, s.encoder_attention_heads, "recording")?)),
            (Some(i), _) if i.ablation == Ablation::Mean && !i.ablated.is_empty() => {
                return Err(EngineError::Intervention(
                    "a recording's decoder heads can be zeroed; their mean is not offered, as the decoder writes a token at a time and a head has no mean over positions until it ends (the encoder's heads can be averaged)".into(),
                ))
            }
            (Some(intervention), _) => (Some(ablation_only(intervention, layers, heads, "recording")?), None),
            (None, _) => (None, None),
        };
        // Value norms are read from the last step only (its values are every fed token's):
        // the steps before keep none, so a step costs what it did without them.
        let step_options = |last: bool| StepOptions { changes: changes.as_ref(), value_norms: options.value_norms && last };
        let mut encoded = self.network.encode(&mel_tensor, ENCODER_BLOCK, encoder_changes.as_ref())?;

        // Greedy decoding from the prompt; the end of text is fed too, so that its row of
        // attention is there (openai-whisper aligns words over it).
        let Specials { prompt, end_of_text } = self.specials.clone();
        let room = s.max_target_positions.saturating_sub(prompt.len() + 1);
        let limit = options.max_new_tokens.min(room);
        let mut cache = self.network.start_decoder(&encoded)?;
        let mut ids = prompt.clone();
        let mut steps = Vec::new();
        let mut probabilities = Vec::new();
        let mut next_input = prompt.clone();
        let mut ended = false;
        loop {
            let written = ids.len() - prompt.len();
            // The step that reads the end of text is the last (a transcription cut by the limit
            // feeds it once more below).
            let step = self.network.decode_with(&next_input, &mut cache, step_options(ended))?;
            let choice = if ended || written >= limit { None } else { Some(self.choose(&step.logits, written == 0)) };
            if let Some(choice) = choice {
                probabilities.push(text_probability(&step.logits, choice, end_of_text));
            }
            steps.push(step);
            let Some(choice) = choice else { break };
            ids.push(choice);
            on_token(written, &self.token(choice), limit);
            ended = choice == end_of_text;
            next_input = vec![choice];
        }
        let cut_by_limit = !ended;
        if cut_by_limit {
            // Aligning words needs the end of text's row: fed, though the model did not write it.
            steps.push(self.network.decode_with(&[end_of_text], &mut cache, step_options(true))?);
            ids.push(end_of_text);
        }
        let frames = s.max_source_positions;
        let (self_maps, cross_maps) = assemble(&steps, s.decoder_layers, s.decoder_attention_heads, ids.len(), frames)?;
        // The last step's values are every fed token's (the cache holds them all).
        let value_norms = steps.last().and_then(|step| step.value_norms.as_ref()).map(|flat| ValueNorms::from_flat(heads, ids.len(), flat));
        let text_ids: Vec<u32> = ids[prompt.len()..ids.len() - 1].to_vec();
        let text = self.tokenizer.decode(&text_ids)?;

        let mel_frames = heard.len() / HOP;
        let (words, path) = self.words(&cross_maps, &text_ids, &probabilities, prompt.len(), mel_frames)?;
        let transcript = Transcript {
            text,
            cut_by_limit,
            audio_seconds: seconds(heard.len()),
            cut_from_seconds,
            words,
            alignment_heads: self.rules.alignment_heads.iter().map(|&(l, h)| [l, h]).collect(),
            path,
            spectrogram: spectrogram(&mel.values, mel.mels, mel.frames, heard.len().div_ceil(HOP).min(mel.frames)),
        };
        let layers_heads = (s.encoder_layers, s.encoder_attention_heads);
        let wrong = || candle_core::Error::Msg("the transcriber kept attention of the wrong size".into());
        let encoder_maps = AttentionMaps::from_shape([layers_heads.0, layers_heads.1, encoded.blocks, encoded.blocks], std::mem::take(&mut encoded.pooled))
            .ok_or_else(wrong)?;
        let t = ids.len();
        let decoder_maps = AttentionMaps::from_shape([s.decoder_layers, s.decoder_attention_heads, t, t], self_maps).ok_or_else(wrong)?;
        let cross = AttentionMaps::from_shape([s.decoder_layers, s.decoder_attention_heads, t, frames], cross_maps).ok_or_else(wrong)?;
        let blocks = encoded.blocks;
        *self.last_encoded.lock().unwrap_or_else(|e| e.into_inner()) = Some(encoded);
        let site = Site::whole;
        let frame_seconds = (HOP * 2) as f64 / f64::from(SAMPLE_RATE);
        // The transcript and its self-attention first: the views of one sequence show them.
        let sequences = vec![
            Sequence::text("transcript", ids.iter().map(|&id| self.token(id)).collect()),
            Sequence::timed("audio", frames, frame_seconds),
            Sequence::timed("audio-blocks", blocks, frame_seconds * ENCODER_BLOCK as f64),
        ];
        let sites = vec![
            site("decoder", "transcript", "transcript", Mask::Causal, decoder_maps),
            site("cross", "transcript", "audio", Mask::None, cross),
            site("encoder", "audio-blocks", "audio-blocks", Mask::None, encoder_maps),
        ];
        Ok(AttentionReport {
            transcript: Some(transcript),
            value_norms,
            intervention: options.intervention,
            ..AttentionReport::of(self.info(), Mask::Causal, sequences, sites)
        })
    }

    /// The next token: the likeliest one the rules allow.
    fn choose(&self, logits: &[f32], first: bool) -> u32 {
        let mut logits = logits.to_vec();
        let banned = self.rules.suppress.iter().chain(first.then_some(&self.rules.suppress_at_begin).into_iter().flatten());
        for &id in banned {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        argmax(&logits).map_or(self.specials.end_of_text, |i| i as u32)
    }

    /// The words and their times: the alignment heads' cross-attention from the row that
    /// wrote the first text token (the prompt's last) to the one that wrote the end of text,
    /// over the encoder frames that hold the `mel_frames` frames of sound heard.
    fn words(
        &self,
        cross: &[f32],
        text: &[u32],
        probabilities: &[f32],
        prompt: usize,
        mel_frames: usize,
    ) -> Result<(Vec<crate::report::WordTiming>, Vec<[u32; 2]>)> {
        let s = self.network.sizes;
        let frames_heard = mel_frames / 2;
        let (rows, frames) = (prompt + text.len() + 1, s.max_source_positions);
        if text.is_empty() || self.rules.alignment_heads.is_empty() || frames_heard == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let per_head = rows * frames;
        let maps: Vec<&[f32]> =
            self.rules.alignment_heads.iter().map(|&(layer, head)| &cross[(layer * s.decoder_attention_heads + head) * per_head..][..per_head]).collect();
        let matrix = alignment_matrix(&maps, rows, frames, frames_heard);
        let frames_heard = frames_heard.min(frames);
        let matrix = &matrix[(prompt - 1) * frames_heard..(rows - 1) * frames_heard];
        let mut tokens = text.to_vec();
        tokens.push(self.specials.end_of_text);
        let pieces = self.pieces(&tokens)?;
        // Pieces to words, and each word's pieces to its text tokens.
        let mut piece_tokens = Vec::with_capacity(pieces.len());
        let mut at = 0;
        for (_, count, _) in &pieces {
            piece_tokens.push((at..at + count).collect::<Vec<_>>());
            at += count;
        }
        let texts: Vec<(String, bool)> = pieces.iter().map(|(text, _, special)| (text.clone(), *special)).collect();
        let words: Vec<(String, Vec<usize>)> =
            group_words(&texts).into_iter().map(|(word, pieces)| (word, pieces.iter().flat_map(|&p| piece_tokens[p].clone()).collect())).collect();
        let (aligned, path) = find_alignment(matrix, frames_heard, &words, probabilities);
        let duration = (mel_frames * HOP) as f64 / f64::from(SAMPLE_RATE);
        let path = path.into_iter().map(|(t, f)| [t as u32, f as u32]).collect();
        Ok((tidy(aligned, duration, prompt), path))
    }

    /// The tokens in groups that decode to whole characters (a character split over tokens
    /// decodes to U+FFFD until its last byte), as openai-whisper's `split_tokens_on_unicode`:
    /// (text, how many tokens, whether special).
    fn pieces(&self, tokens: &[u32]) -> Result<Vec<(String, usize, bool)>> {
        let full: Vec<char> = self.tokenizer.decode(tokens)?.chars().collect();
        let mut pieces = Vec::new();
        let (mut current, mut offset) = (Vec::new(), 0usize);
        for &id in tokens {
            current.push(id);
            let decoded = self.tokenizer.decode(&current)?;
            let whole = match decoded.chars().position(|c| c == '\u{FFFD}') {
                None => true,
                Some(at) => full.get(offset + at) == Some(&'\u{FFFD}'),
            };
            if whole {
                offset += decoded.chars().count();
                pieces.push((decoded, current.len(), current[0] >= self.specials.end_of_text));
                current.clear();
            }
        }
        Ok(pieces)
    }

    /// Encoder layer `layer`'s whole self-attention for head `head`, flat [1500, 1500], from
    /// the last transcription.
    pub fn encoder_map(&self, layer: usize, head: usize) -> Result<Vec<f32>> {
        let kept = self.last_encoded.lock().unwrap_or_else(|e| e.into_inner());
        let encoded = kept.as_ref().ok_or_else(|| EngineError::BadAudio("nothing has been transcribed yet".into()))?;
        self.network.encoder_map(encoded, layer, head)
    }
}

/// The probability of `id` among the text tokens (those before the end of text), as
/// openai-whisper weighs a word's tokens.
fn text_probability(logits: &[f32], id: u32, end_of_text: u32) -> f32 {
    let text = &logits[..(end_of_text as usize).min(logits.len())];
    let max = text.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = text.iter().map(|&l| f64::from(l - max).exp()).sum();
    match text.get(id as usize) {
        Some(&l) => (f64::from(l - max).exp() / total) as f32,
        None => 0.0,
    }
}

/// The decoder's steps' attention put together: self-attention flat [layer, head, t, t]
/// (zeros where a query may not look) and cross-attention flat [layer, head, t, frames].
fn assemble(steps: &[crate::arch::whisper::DecoderStep], layers: usize, heads: usize, t: usize, frames: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut self_maps = vec![0.0f32; layers * heads * t * t];
    let mut cross_maps = vec![0.0f32; layers * heads * t * frames];
    let mut row = 0;
    for step in steps {
        let mut new_rows = 0;
        for layer in 0..layers {
            let probs = step.self_attention[layer].to_vec3::<f32>()?; // [heads, new, keys]
            let cross = step.cross_attention[layer].to_vec3::<f32>()?; // [heads, new, frames]
            for h in 0..heads {
                new_rows = probs[h].len();
                for (r, keys) in probs[h].iter().enumerate() {
                    let at = ((layer * heads + h) * t + row + r) * t;
                    self_maps[at..at + keys.len()].copy_from_slice(keys);
                    let at = ((layer * heads + h) * t + row + r) * frames;
                    cross_maps[at..at + frames].copy_from_slice(&cross[h][r]);
                }
            }
        }
        row += new_rows;
    }
    Ok((self_maps, cross_maps))
}

/// The first `frames` frames of a spectrogram [mels, all] (the sound heard, not the padding).
fn spectrogram(values: &[f32], mels: usize, all: usize, frames: usize) -> Spectrogram {
    let values = (0..mels).flat_map(|m| values[m * all..m * all + frames].iter().copied()).collect();
    Spectrogram { mels, frames, seconds_per_frame: HOP as f64 / f64::from(SAMPLE_RATE), values }
}
