//! Which files make a model, decided once for every way a model arrives: a file or folder on
//! the command line, the files the page's catalogue names, the files a person picks or drops.
//! [`classify`] reads names only (`report::files`: the page says at once what is missing,
//! without the engine); [`open`] reads the files through a [`FileSource`] and loads the model
//! of whatever kind they hold.

use std::io::{Read, Seek};

pub use report::files::{classify, ModelFiles, WHAT_OPENS};

use crate::arch::registry;
use crate::error::{EngineError, Result};
use crate::report::ModelKind;
use crate::rnn::{Aligner, AlignerFiles};
use crate::transcriber::{Transcriber, TranscriberFiles};
use crate::translator::{Translator, TranslatorFiles};
use crate::vision::{VisionFiles, VisionModel};
use crate::{AnyModel, Model, WeightChoice};

/// A file read a piece at a time.
pub trait ReadSeek: Read + Seek {}

impl<T: Read + Seek> ReadSeek for T {}

/// Where the files' bytes come from: a folder, the page's fetched files, a person's files.
pub trait FileSource {
    /// File `index`'s name, for messages.
    fn name(&self, index: usize) -> String;

    /// File `index` whole (a config, a tokenizer, a model read whole).
    fn read(&mut self, index: usize) -> Result<Vec<u8>>;

    /// File `index` to read a piece at a time (a GGUF's or a safetensors file's tensors, one
    /// after another: the file's bytes need not all be in memory at once).
    fn reader(&mut self, index: usize) -> Result<Box<dyn ReadSeek>>;
}

/// The model `files` make, read through `source`, named `name` in its reports; a GGUF's
/// weights on `weights`' path.
pub fn open(name: &str, files: &ModelFiles, source: &mut dyn FileSource, weights: WeightChoice) -> Result<AnyModel> {
    match files {
        &ModelFiles::Gguf(i) => Ok(AnyModel::OneSequence(Model::from_gguf_reader_on(name, source.reader(i)?, weights)?)),
        &ModelFiles::Onnx(i) => Ok(AnyModel::Vision(VisionModel::from_bytes(name, VisionFiles::Onnx(&source.read(i)?))?)),
        &ModelFiles::CTranslate2 { model, config, tokenizer } => {
            let (model, config, tokenizer) = (source.read(model)?, source.read(config)?, source.read(tokenizer)?);
            Ok(AnyModel::Transcriber(Transcriber::from_bytes(
                name,
                TranscriberFiles::CTranslate2 { model: &model, config: Some(&config), tokenizer: &tokenizer },
            )?))
        }
        &ModelFiles::Marian { model, shortlist, tokenizer } => {
            let (model, tokenizer) = (source.read(model)?, source.read(tokenizer)?);
            let shortlist = shortlist.map(|i| source.read(i)).transpose()?;
            Ok(AnyModel::Translator(Translator::from_bytes(name, TranslatorFiles { model: &model, shortlist: shortlist.as_deref(), tokenizer: &tokenizer })?))
        }
        &ModelFiles::Aligner { config, vocabulary, weights } => {
            let (config, vocabulary, weights) = (source.read(config)?, source.read(vocabulary)?, source.read(weights)?);
            Ok(AnyModel::Aligner(Aligner::from_bytes(name, AlignerFiles { config: &config, vocabulary: &vocabulary, weights: &weights })?))
        }
        ModelFiles::HuggingFace { config, weights, tokenizer, generation, preprocessor } => {
            let config = source.read(*config)?;
            let optional = |source: &mut dyn FileSource, i: Option<usize>| i.map(|i| source.read(i)).transpose();
            let one_weights_file = |source: &mut dyn FileSource, kind: &str| match weights.as_slice() {
                [one] => source.read(*one),
                _ => Err(EngineError::BadModelFile(format!("a {kind}'s weights must be one model.safetensors"))),
            };
            match kind_of(&config) {
                ModelKind::Speech => {
                    let tokenizer =
                        source.read(tokenizer.ok_or_else(|| EngineError::BadModelFile("a speech model's files need its tokenizer.json".into()))?)?;
                    let weights = one_weights_file(source, "Whisper model")?;
                    let generation = optional(source, *generation)?;
                    let files = TranscriberFiles::HuggingFace { config: &config, weights: &weights, generation: generation.as_deref(), tokenizer: &tokenizer };
                    Ok(AnyModel::Transcriber(Transcriber::from_bytes(name, files)?))
                }
                ModelKind::Vision => {
                    let weights = one_weights_file(source, "Vision Transformer")?;
                    let preprocessor = optional(source, *preprocessor)?;
                    Ok(AnyModel::Vision(VisionModel::from_bytes(
                        name,
                        VisionFiles::HuggingFace { config: &config, weights: &weights, preprocessor: preprocessor.as_deref() },
                    )?))
                }
                ModelKind::FewShot => {
                    let weights = one_weights_file(source, "SNAIL")?;
                    Ok(AnyModel::FewShot(crate::rnn::snail::Snail::from_bytes(name, &config, &weights)?))
                }
                ModelKind::Text | ModelKind::Translation => {
                    let tokenizer = optional(source, *tokenizer)?;
                    let shards = weights.iter().map(|&i| source.reader(i)).collect::<Result<Vec<_>>>()?;
                    Ok(AnyModel::OneSequence(Model::from_safetensors_readers(name, &config, shards, tokenizer.as_deref())?))
                }
            }
        }
    }
}

/// The kind of model a config.json describes, by its family (a text model when its family
/// is not known: loading it then says so); the project's SNAIL by its architecture.
pub fn kind_of(config: &[u8]) -> ModelKind {
    let config = serde_json::from_slice::<serde_json::Value>(config).ok();
    let field = |name: &str| config.as_ref().and_then(|c| c.get(name)?.as_str().map(str::to_owned));
    if field("architecture").as_deref() == Some(crate::rnn::snail::ARCHITECTURE) {
        return ModelKind::FewShot;
    }
    field("model_type").and_then(|t| registry::by_model_type(&t)).map_or(ModelKind::Text, |f| f.kind)
}

/// The files of a folder or a file on disk, read as they are asked for.
#[cfg(not(target_arch = "wasm32"))]
pub struct Folder {
    paths: Vec<std::path::PathBuf>,
}

#[cfg(not(target_arch = "wasm32"))]
impl Folder {
    /// The file at `path`, or every file in the folder at `path` (sorted by name); with their names.
    pub fn at(path: &std::path::Path) -> Result<(Self, Vec<String>)> {
        let unreadable = |e: std::io::Error| EngineError::BadModelFile(format!("{}: {e}", path.display()));
        let mut paths: Vec<std::path::PathBuf> = if path.is_dir() {
            std::fs::read_dir(path).map_err(unreadable)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect()
        } else if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            return Err(EngineError::BadModelFile(format!("{}: no such file or folder", path.display())));
        };
        paths.sort();
        let names = paths.iter().map(|p| p.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned())).collect();
        Ok((Self { paths }, names))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource for Folder {
    fn name(&self, index: usize) -> String {
        self.paths.get(index).map_or(String::new(), |p| p.display().to_string())
    }

    fn read(&mut self, index: usize) -> Result<Vec<u8>> {
        let path = &self.paths[index];
        std::fs::read(path).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", path.display())))
    }

    fn reader(&mut self, index: usize) -> Result<Box<dyn ReadSeek>> {
        let path = &self.paths[index];
        let file = std::fs::File::open(path).map_err(|e| EngineError::BadModelFile(format!("{}: {e}", path.display())))?;
        Ok(Box::new(std::io::BufReader::new(file)))
    }
}

/// The model at `path` (a file, or a folder of a model's files), of whatever kind it is.
#[cfg(not(target_arch = "wasm32"))]
pub fn open_path(name: &str, path: &std::path::Path, weights: WeightChoice) -> Result<AnyModel> {
    let (mut folder, names) = Folder::at(path)?;
    let files = classify(&names).map_err(|why| EngineError::BadModelFile(format!("{}: {why}", path.display())))?;
    open(name, &files, &mut folder, weights)
}

// Each kind's loader from a path, here so that the kinds' own files need not know how files
// are told apart (this module knows them).

/// The model at `path` when it is of the kind `pick` takes; otherwise a bad file that holds
/// no `kind`.
#[cfg(not(target_arch = "wasm32"))]
fn open_kind<T>(name: &str, path: &std::path::Path, kind: &str, pick: impl FnOnce(AnyModel) -> Option<T>) -> Result<T> {
    pick(open_path(name, path, WeightChoice::Float32)?).ok_or_else(|| EngineError::BadModelFile(format!("{} holds no {kind}", path.display())))
}

impl Transcriber {
    /// Loads a folder: `model.bin` + `config.json` + `tokenizer.json` (faster-whisper's), or
    /// `config.json` + `model.safetensors` + `tokenizer.json` (+ `generation_config.json`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(name: &str, dir: &std::path::Path) -> Result<Self> {
        open_kind(name, dir, "Whisper model", |model| if let AnyModel::Transcriber(transcriber) = model { Some(transcriber) } else { None })
    }
}

impl Translator {
    /// Loads a folder holding `*.intgemm.alphas.bin` (or another `model*.bin`),
    /// `lex.*.s2t.bin` and `tokenizer.json`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(name: &str, dir: &std::path::Path) -> Result<Self> {
        open_kind(name, dir, "Marian model*.bin", |model| if let AnyModel::Translator(translator) = model { Some(translator) } else { None })
    }
}

impl VisionModel {
    /// Loads a folder (an `.onnx` graph, or config.json + model.safetensors, with
    /// preprocessor_config.json when there is one) or an `.onnx` file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(name: &str, path: &std::path::Path) -> Result<Self> {
        open_kind(name, path, "Vision Transformer", |model| if let AnyModel::Vision(vision) = model { Some(vision) } else { None })
    }
}
