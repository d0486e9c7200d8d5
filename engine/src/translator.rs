//! A translation model (an encoder–decoder): a source text in, its translation out,
//! with the encoder's self-attention over the source and every target token's
//! cross-attention over the source. Today: Marian's models as Bergamot ships them
//! (see [`crate::arch::marian`]).

use candle_core::Device;

use crate::arch::marian::{EncoderOptions, MarianNetwork, MarianSizes, Translated, EOS};
use crate::error::{EngineError, Result};
use crate::intervention::Intervention;
use crate::load::marian::{MarianFile, Shortlist};
use crate::load::tokenizer::TextTokenizer;
use crate::report::{AttentionReport, Mask, ModelInfo, Sequence, Site, Token, TranslationOutput, Truncation, ValueNorms};

/// The files of a translation model, as bytes.
pub struct TranslatorFiles<'a> {
    /// The Marian binary model (`model.*.intgemm.alphas.bin`).
    pub model: &'a [u8],
    /// The lexical shortlist (`lex.*.s2t.bin`), when there is one.
    pub shortlist: Option<&'a [u8]>,
    /// The SentencePiece vocabulary as a Hugging Face `tokenizer.json`.
    pub tokenizer: &'a [u8],
}

/// How a translation runs.
#[derive(Clone, Debug, PartialEq)]
pub struct TranslateOptions {
    /// The most source tokens, `</s>` included; a longer text is cut and the report says so.
    pub max_tokens: usize,
    /// Choose among the lexical shortlist's candidates (as the package does), or the whole vocabulary.
    pub shortlist: bool,
    /// Keep this encoder layer's raw scores q·k (for the arithmetic view).
    pub scores_of_layer: Option<usize>,
    /// Keep every encoder head's value norms (for value-weighted maps).
    pub value_norms: bool,
    /// Heads of the encoder to ablate; the report carries it. (Patching needs a second text's
    /// run, which a translation does not offer yet.)
    pub intervention: Option<Intervention>,
}

impl TranslateOptions {
    /// At most `max_tokens` source tokens, over the shortlist or not, keeping nothing else.
    pub fn new(max_tokens: usize, shortlist: bool) -> Self {
        Self { max_tokens, shortlist, scores_of_layer: None, value_norms: false, intervention: None }
    }
}

/// A loaded translation model.
pub struct Translator {
    pub name: String,
    network: MarianNetwork,
    shortlist: Option<Shortlist>,
    tokenizer: TextTokenizer,
}

impl Translator {
    /// The sinusoids its encoder and decoder add, the first `shown` rows.
    pub fn position_sets(&self, shown: usize) -> Vec<crate::report::positions::PositionSet> {
        self.network.position_sets(shown)
    }

    pub fn from_bytes(name: &str, files: TranslatorFiles) -> Result<Self> {
        let file = MarianFile::parse(files.model)?;
        let network = MarianNetwork::load(&file, &Device::Cpu)?;
        let shortlist = files.shortlist.map(Shortlist::parse).transpose()?;
        if let Some(list) = &shortlist {
            if list.vocab() != network.sizes.vocab {
                return Err(EngineError::BadModelFile(format!("the shortlist is for {} source tokens, the model has {}", list.vocab(), network.sizes.vocab)));
            }
        }
        let tokenizer = TextTokenizer::from_json(files.tokenizer)?;
        Ok(Self { name: name.to_string(), network, shortlist, tokenizer })
    }

    pub fn sizes(&self) -> MarianSizes {
        self.network.sizes
    }

    /// The source tokens of `text`, at most `limit` of them with the final `</s>`.
    pub fn source_tokens(&self, text: &str, limit: usize) -> Result<(Vec<Token>, Option<Truncation>)> {
        if text.trim().is_empty() {
            return Err(EngineError::EmptyText);
        }
        let limit = limit.max(2);
        let (mut tokens, truncated) = self.tokenizer.encode(text, limit - 1)?;
        // Each token as the model sees it: a character the vocabulary lacks is `<unk>`
        // (its span still says which characters it stands for).
        for token in &mut tokens {
            token.text = self.tokenizer.token_text(token.id);
        }
        let truncated = truncated.map(|t| Truncation { limit, total_tokens: t.total_tokens + 1 });
        tokens.push(self.token(EOS));
        Ok((tokens, truncated))
    }

    /// A token as the report shows it.
    fn token(&self, id: u32) -> Token {
        Token { id, text: self.tokenizer.token_text(id), span: None }
    }

    /// Translates source ids (ending with `</s>`) as they are.
    pub fn translate_ids(&self, source: &[u32], use_shortlist: bool) -> Result<Translated> {
        self.translate_ids_with(source, use_shortlist, None, |_, _, _| {})
    }

    /// [`Translator::translate_ids`], keeping an encoder layer's raw scores when asked,
    /// and telling `on_token(step, id, limit)` each target token as it is chosen.
    pub fn translate_ids_with(
        &self,
        source: &[u32],
        use_shortlist: bool,
        scores_of_layer: Option<usize>,
        on_token: impl FnMut(usize, u32, usize),
    ) -> Result<Translated> {
        let options = EncoderOptions { scores_of_layer, ..EncoderOptions::default() };
        self.network.translate(source, self.shortlist.as_ref().filter(|_| use_shortlist), &options, on_token)
    }

    /// The facts a report gives about the model: the encoder's layers and heads (the
    /// cross-attention site's own layer count is in its maps' shape).
    pub fn info(&self) -> ModelInfo {
        let sizes = self.network.sizes;
        ModelInfo {
            name: self.name.clone(),
            architecture: "marian".into(),
            layers: sizes.encoder_layers,
            heads: sizes.heads,
            kv_heads: sizes.heads,
            causal: false,
            // Sinusoidal positions have no end; u32's largest keeps the JSON readable everywhere (wasm's usize is 32 bits).
            max_positions: u32::MAX as usize,
            vocab_size: sizes.vocab,
            kind: crate::report::ModelKind::Translation,
            ..ModelInfo::default()
        }
    }

    /// Translates `text` greedily, over the shortlist unless `use_shortlist` is false
    /// (or the model came without one): a report with the `source` and `target`
    /// sequences, the `encoder` site (source over source) and the `cross` site (target
    /// over source), and the translation.
    pub fn translate(&self, text: &str, limit: usize, use_shortlist: bool) -> Result<AttentionReport> {
        self.translate_with(text, TranslateOptions::new(limit, use_shortlist), |_, _, _| {})
    }

    /// [`Translator::translate`] with every option, telling `on_token(step, token, limit)`
    /// each target token as it is chosen (with its text), so a page can show the
    /// translation growing.
    pub fn translate_with(&self, text: &str, options: TranslateOptions, mut on_token: impl FnMut(usize, &Token, usize)) -> Result<AttentionReport> {
        let (source, truncated) = self.source_tokens(text, options.max_tokens)?;
        let ids: Vec<u32> = source.iter().map(|t| t.id).collect();
        let heard = |step, id, limit| on_token(step, &self.token(id), limit);
        let encoding =
            EncoderOptions { scores_of_layer: options.scores_of_layer, value_norms: options.value_norms, intervention: options.intervention.as_ref() };
        let computed = self.network.translate(&ids, self.shortlist.as_ref().filter(|_| options.shortlist), &encoding, heard)?;
        let Translated { target, encoder, cross, encoder_scores, encoder_value_norms, cross_scores, cut_by_limit, .. } = computed;
        let heads = self.network.sizes.heads;
        let value_norms = encoder_value_norms.map(|flat| ValueNorms::from_flat(heads, ids.len(), &flat));
        let words: Vec<u32> = target.iter().copied().filter(|&id| id != EOS).collect();
        let text = self.tokenizer.decode(&words)?;
        let target = target.iter().map(|&id| self.token(id)).collect();
        let site = |name: &str, queries: &str, maps, scores| Site { scores, ..Site::whole(name, queries, "source", Mask::None, maps) };
        let sequences = vec![Sequence::text("source", source), Sequence::text("target", target)];
        let sites = vec![site("encoder", "source", encoder, encoder_scores.into_iter().collect()), site("cross", "target", cross, cross_scores)];
        Ok(AttentionReport {
            truncated,
            translation: Some(TranslationOutput { text, cut_by_limit }),
            value_norms,
            intervention: options.intervention,
            ..AttentionReport::of(self.info(), Mask::None, sequences, sites)
        })
    }
}
