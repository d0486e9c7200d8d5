//! What a command runs: a text, token ids, a sound file or a picture file, as the flags give
//! it, and read into what the engine takes.

use std::path::{Path, PathBuf};

use engine::any_model;
use engine::image::Rgb;
use engine::Framing;

use crate::flags::WholeInputFlags;
use crate::{usage, Failure};

/// The input as given.
pub(crate) enum Input {
    Text(String),
    Ids(Vec<u32>),
    Audio(PathBuf),
    Image(PathBuf, Framing),
    /// A few-shot learner's labelled drawings, class by class, and its query.
    Episode {
        examples: Vec<PathBuf>,
        query: PathBuf,
    },
}

impl Input {
    /// The one input of those given (`None` when none is), or why they do not go together.
    pub(crate) fn of(text: Option<String>, ids: Option<Vec<u32>>, whole: WholeInputFlags) -> Result<Option<Input>, Failure> {
        let WholeInputFlags { audio, image, framing, examples } = whole;
        if !examples.is_empty() {
            return match (text, ids, audio, image, framing) {
                (None, None, None, Some(query), None) => Ok(Some(Input::Episode { examples, query })),
                (_, _, _, None, _) => Err(usage("--examples are a few-shot learner's labelled drawings: give the query drawing with --image".into())),
                _ => Err(usage("an episode is --examples and --image (the query), without --text, --ids, --audio or --framing".into())),
            };
        }
        let input = match (text, ids, audio, image) {
            (Some(text), None, None, None) => Input::Text(text),
            (None, Some(ids), None, None) => Input::Ids(ids),
            (None, None, Some(audio), None) => Input::Audio(audio),
            (None, None, None, Some(image)) => Input::Image(image, framing.unwrap_or_default()),
            (None, None, None, None) => return Ok(None),
            _ => return Err(usage("give one of --text, --ids, --audio and --image".into())),
        };
        if framing.is_some() && !matches!(input, Input::Image(..)) {
            return Err(usage("--framing is for --image".into()));
        }
        Ok(Some(input))
    }

    /// The input read: a sound decoded (its first 30 s are heard, and stderr says so of a
    /// longer one), a picture decoded. Token ids are a one-sequence model's only.
    pub(crate) fn read(&self) -> Result<Read, Failure> {
        Ok(match self {
            Input::Text(text) => Read::Text(text.clone()),
            Input::Ids(_) => return Err(usage("--ids are for a text model of one sequence".into())),
            Input::Audio(path) => {
                let bytes = std::fs::read(path).map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
                let samples = engine::audio::wav::read_wav(&bytes)?;
                let seconds = samples.len() as f64 / f64::from(engine::audio::SAMPLE_RATE);
                if samples.len() > engine::audio::mel::CHUNK_SAMPLES {
                    eprintln!("note: the sound lasts {seconds:.1} s; the model hears its first 30 s");
                }
                Read::Sound(samples)
            }
            Input::Image(path, framing) => Read::Picture(read_image(path)?, *framing),
            Input::Episode { .. } => return Err(usage("--examples are for a few-shot learner (a SNAIL `attnscope train snail` wrote)".into())),
        })
    }
}

/// An input in memory, as the engine takes it.
pub(crate) enum Read {
    Text(String),
    /// 16 kHz mono.
    Sound(Vec<f32>),
    Picture(Rgb, Framing),
}

impl Read {
    pub(crate) fn as_input(&self) -> any_model::Input<'_> {
        match self {
            Read::Text(text) => any_model::Input::Text(text),
            Read::Sound(samples) => any_model::Input::Sound(samples),
            Read::Picture(picture, framing) => any_model::Input::Picture(picture, *framing),
        }
    }
}

/// A picture file of a handwritten character, as a few-shot learner reads it (28 × 28, 1 for
/// ink), or why it is not one.
pub(crate) fn read_drawing(path: &Path) -> Result<Vec<f32>, Failure> {
    engine::image::character::drawing(&read_image(path)?).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
}

/// An image file, decoded.
pub(crate) fn read_image(path: &Path) -> Result<Rgb, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
    engine::image::decode::decode(&bytes).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
}
