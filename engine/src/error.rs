//! The engine's one error type. Every message is meant to be read by a person
//! and to say what to do about it.

/// What can go wrong while loading a model or running a text.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The text is empty or only white space, so there is nothing to run.
    #[error("the text is empty: type a sentence to see its attention")]
    EmptyText,

    /// The text gave no tokens at all (every character was dropped by the tokenizer).
    #[error("the text gives no tokens for this model: try letters or digits")]
    NoTokens,

    /// The text has none of the characters a model reads (an aligner of letters a-z, say).
    #[error("the text has nothing this model reads: it reads {reads}")]
    NothingToRead { reads: &'static str },

    /// The induction probe draws random tokens, and the vocabulary has too few.
    #[error("the induction probe draws random tokens from the vocabulary, and this model's has {vocab} (it needs two at least)")]
    VocabularyTooSmall { vocab: usize },

    /// A token id is not in the model's vocabulary.
    #[error("token id {id} is out of range: this model's vocabulary has {vocab} tokens (0..{vocab})")]
    TokenOutOfRange { id: u32, vocab: usize },

    /// More token ids than the model has positions for.
    #[error("{given} token ids are more than this model's {limit} positions")]
    TooManyTokens { given: usize, limit: usize },

    /// A layer was asked for that the model does not have.
    #[error("layer {layer} does not exist: this model has {layers} layers (0..{layers})")]
    NoSuchLayer { layer: usize, layers: usize },

    /// A head was asked for that the layer does not have.
    #[error("head {head} does not exist: this model has {heads} heads per layer (0..{heads})")]
    NoSuchHead { head: usize, heads: usize },

    /// Running a text needs a tokenizer and this model came without one.
    #[error("this model has no tokenizer (no tokenizer.json beside it): give token ids instead of text")]
    NoTokenizer,

    /// The file's architecture is not one the engine knows.
    /// (Made by `EngineError::unsupported`, which lists what is supported.)
    #[error("this model's architecture `{architecture}` is not supported; supported: {supported}")]
    UnsupportedArchitecture { architecture: String, supported: String },

    /// The model file could not be read: truncated, corrupt, or not the format it claims.
    #[error("cannot read the model file: {0}")]
    BadModelFile(String),

    /// The data a training learns from could not be read (scikit-learn's digits, say).
    #[error("cannot read the training data: {0}")]
    BadData(String),

    /// A memory network's story cannot be answered as typed: no question, a word it never
    /// learned, someone the story never mentions.
    #[error("cannot read the story: {0}")]
    BadStory(String),

    /// A few-shot learner's episode cannot be read: empty, the wrong number of examples of a
    /// class, a drawing with no ink, a picture that is not a character.
    #[error("cannot read the episode: {0}")]
    BadEpisode(String),

    /// The sound could not be read: not audio, a format the engine does not decode, or cut short.
    #[error("cannot read the sound: {0}")]
    BadAudio(String),

    /// A speech model was given text.
    #[error("this model listens: give it sound (a recording or an audio file), not text")]
    NeedsSound,

    /// A vision model was given text or sound.
    #[error("this model looks: give it a picture (a photo or an image file), not text")]
    NeedsPicture,

    /// A few-shot learner was given text, sound or one picture.
    #[error("this model learns from an episode: give it labelled drawings, one of each class, and a query drawing")]
    NeedsEpisode,

    /// A model that reads text was given sound or a picture (`given`).
    #[error("this model reads text: give it a text, not {given}")]
    NeedsText { given: &'static str },

    /// The picture could not be read: not an image, cut short, or of no size.
    #[error("cannot read the picture: {0}")]
    BadImage(String),

    /// A setting the architecture needs is missing from the model's metadata or config.json.
    #[error("the model's {source_name} lacks `{key}`")]
    MissingSetting { source_name: &'static str, key: String },

    /// An intervention that cannot be made as asked (its message says why).
    #[error("{0}")]
    Intervention(String),

    /// Something that reads the next-token logits was asked of a model without them.
    #[error("this model has no next-token logits (an encoder, or a run under a mask that sees ahead): sweeps and attribution need a causal language model")]
    NoLogits,

    /// A long computation was stopped before it ended.
    #[error("cancelled")]
    Cancelled,

    /// The tokenizer could not be built or failed on the text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A tensor operation failed; a bug or a model whose shapes do not fit its config.
    #[error("compute: {}", first_line(.0))]
    Compute(#[from] candle_core::Error),
}

/// The first line of an error's message: candle appends a backtrace to some of its
/// errors, which is noise to a person reading one line on stderr or in the page.
pub(crate) fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().trim_end().to_string()
}

pub type Result<T> = std::result::Result<T, EngineError>;

impl From<report::image::BadImage> for EngineError {
    fn from(bad: report::image::BadImage) -> Self {
        Self::BadImage(bad.0)
    }
}
