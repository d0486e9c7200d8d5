//! What a model file is, read from its headers alone (no weights): `attnscope inspect`.
//! A GGUF's metadata and tensor table; a Hugging Face folder's config.json and its
//! safetensors headers; a Marian translator's folder. It says what attnscope can show of
//! the model, or why not.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::arch::family::Builder;
use crate::arch::llama::LlamaConfig;
use crate::arch::registry;
use crate::error::{first_line, EngineError, Result};
use crate::load::gguf_hf;
use crate::load::path::safetensors_files;
use crate::load::safetensors_file::SafetensorsFile;
use crate::report::{ModelInfo, ModelKind, Scoring};
use crate::translator::Translator;

/// What a model file or folder is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inspection {
    /// "GGUF file", "Hugging Face folder" or "Marian translator folder".
    pub format: String,
    /// The architecture as the file names it.
    pub architecture: String,
    /// The model's facts, when attnscope knows the architecture.
    pub info: Option<ModelInfo>,
    /// Each head's query/key size and how its scores are scaled, where known.
    pub head_dim: Option<usize>,
    pub scoring: Option<Scoring>,
    /// How many tensors of each type, and the parameters they hold.
    pub tensor_types: BTreeMap<String, usize>,
    pub parameters: u64,
    /// The tokenizer, in words.
    pub tokenizer: String,
    /// Whether text can be run (else token ids only).
    pub reads_text: bool,
    /// Why attnscope cannot load it, if it cannot.
    pub unsupported: Option<String>,
}

impl Inspection {
    /// What attnscope can show of the model, in a sentence.
    pub fn shows(&self) -> String {
        if let Some(why) = &self.unsupported {
            return format!("nothing yet: {why}");
        }
        let Some(info) = &self.info else { return "nothing: its facts are missing".into() };
        let heads = format!("every head's attention ({} layers × {} heads)", info.layers, info.heads);
        let masks = if self.format == "Marian translator folder" {
            "the encoder's self-attention and each translated token's cross-attention".to_string()
        } else if !info.layer_windows.is_empty() {
            "under its own mask (sliding windows included), plain causal and none".to_string()
        } else if info.causal {
            "under the causal mask and none, with the next-token guess".to_string()
        } else {
            "unmasked (its own mode) and causal".to_string()
        };
        let input = if self.reads_text { "from text" } else { "from token ids only (--ids; see the tokenizer line)" };
        format!("{heads}, {masks}, {input}")
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        writeln!(f, "format:        {}", self.format)?;
        writeln!(f, "architecture:  {}", self.architecture)?;
        if let Some(info) = &self.info {
            writeln!(f, "layers:        {}", info.layers)?;
            writeln!(f, "heads:         {} query, {} key/value", info.heads, info.kv_heads)?;
            if let Some(d) = self.head_dim {
                writeln!(f, "head size:     {d}")?;
            }
            if let Some(s) = self.scoring {
                let cap = s.softcap.map_or(String::new(), |c| format!(", then capped at {c}·tanh(·/{c})"));
                writeln!(f, "scores:        × {}{cap}", s.scale)?;
            }
            let windowed: Vec<String> = info.layer_windows.iter().enumerate().filter_map(|(l, w)| w.map(|w| format!("{l}:{w}"))).collect();
            let windows = if windowed.is_empty() {
                "none".to_string()
            } else {
                format!("{} of {} layers (layer:window) {}", windowed.len(), info.layers, windowed.join(" "))
            };
            writeln!(f, "windows:       {windows}")?;
            let mask = match (self.architecture.as_str(), info.causal) {
                ("marian", _) => "none in the encoder; each translated token sees the whole source",
                (_, true) => "causal (a decoder)",
                (_, false) => "none (an encoder)",
            };
            writeln!(f, "mask:          {mask}")?;
            writeln!(f, "vocabulary:    {}", info.vocab_size)?;
            if info.max_positions < u32::MAX as usize {
                writeln!(f, "positions:     {}", info.max_positions)?;
            }
        }
        if !self.tensor_types.is_empty() {
            let types: Vec<String> = self.tensor_types.iter().map(|(t, n)| format!("{t} × {n}")).collect();
            writeln!(f, "tensors:       {} ({} parameters)", types.join(", "), self.parameters)?;
        }
        writeln!(f, "tokenizer:     {}", self.tokenizer)?;
        write!(f, "attnscope:     {}", self.shows())
    }
}

fn unreadable(path: &Path, e: impl fmt::Display) -> EngineError {
    EngineError::BadModelFile(format!("{}: {}", path.display(), first_line(&e)))
}

/// Inspects a .gguf file, a Hugging Face folder or a Marian translator's folder.
pub fn inspect(path: &Path) -> Result<Inspection> {
    if path.is_file() {
        return inspect_gguf(path);
    }
    if !path.is_dir() {
        return Err(EngineError::BadModelFile(format!("{}: no such file or folder", path.display())));
    }
    if path.join("config.json").is_file() {
        return inspect_hf(path);
    }
    let files = crate::load::files::Folder::at(path).ok().and_then(|(_, names)| crate::load::files::classify(&names).ok());
    if matches!(files, Some(crate::load::files::ModelFiles::Marian { .. })) {
        let translator = Translator::from_dir("translator", path)?;
        let sizes = translator.sizes();
        return Ok(Inspection {
            format: "Marian translator folder".into(),
            architecture: "marian".into(),
            head_dim: Some(sizes.width / sizes.heads),
            scoring: Some(Scoring::standard(sizes.width / sizes.heads)),
            info: Some(translator.info()),
            tokenizer: "tokenizer.json (SentencePiece unigram)".into(),
            reads_text: true,
            ..Inspection::default()
        });
    }
    match std::fs::read_dir(path)
        .map_err(|e| unreadable(path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "gguf"))
    {
        Some(gguf) => inspect_gguf(&gguf),
        None => Err(EngineError::BadModelFile(format!("{}: holds neither config.json nor a .gguf file", path.display()))),
    }
}

fn inspect_gguf(path: &Path) -> Result<Inspection> {
    use candle_core::quantized::gguf_file::Content;
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| unreadable(path, e))?);
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(EngineError::BadModelFile(format!("{}: not a GGUF file (it does not start with `GGUF`)", path.display())));
    }
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| unreadable(path, e))?);
    let content = Content::read(&mut file).map_err(|e| unreadable(path, e))?;
    let metadata = &content.metadata;
    let text = |key: &str| metadata.get(key).and_then(|v| v.to_string().ok()).cloned();
    let architecture = text("general.architecture").unwrap_or_else(|| "unknown".into());
    let mut inspection = Inspection { format: "GGUF file".into(), architecture: architecture.clone(), ..Inspection::default() };
    for tensor in content.tensor_infos.values() {
        *inspection.tensor_types.entry(format!("{:?}", tensor.ggml_dtype)).or_default() += 1;
        inspection.parameters += crate::load::gguf::elements(tensor).unwrap_or(0) as u64;
    }
    let tokens = metadata.get("tokenizer.ggml.tokens").and_then(|v| v.to_vec().ok()).map_or(0, Vec::len);
    let model = text("tokenizer.ggml.model").unwrap_or_else(|| "none".into());
    let pre = text("tokenizer.ggml.pre").map_or(String::new(), |p| format!(", pre-tokenizer `{p}`"));
    // Byte-level BPE (`gpt2`) and SentencePiece (`llama`) vocabularies are built from GGUF metadata.
    inspection.reads_text = crate::load::gguf_tokenizer::KINDS.contains(&model.as_str());
    let read = if inspection.reads_text {
        String::new()
    } else {
        format!("; attnscope builds tokenizers only of the kinds {:?} from GGUF", crate::load::gguf_tokenizer::KINDS)
    };
    inspection.tokenizer = format!("`{model}` in the metadata, {tokens} tokens{pre}{read}");
    match registry::by_gguf(&architecture).filter(|f| f.kind == ModelKind::Text).map(|f| (f, f.builder)) {
        Some((_, Builder::Llama)) => {
            let cfg = LlamaConfig::from_gguf(&architecture, metadata, tokens)?;
            inspection.head_dim = Some(cfg.head_dim);
            inspection.scoring = Some(cfg.scoring);
            inspection.info = Some(cfg.info(&architecture));
        }
        Some((family, Builder::Whole { .. })) => {
            // Read as the config.json Hugging Face would have (see load::gguf_hf).
            let token_types = content.tensor_infos.get("token_types.weight").and_then(|t| t.shape.dims().first().copied()).unwrap_or(0);
            let config = gguf_hf::hf_config(&architecture, metadata, tokens, token_types)?;
            let (info, head_dim) = family.facts(&architecture, &config)?.ok_or_else(|| EngineError::unsupported(architecture.clone()))?;
            inspection.scoring = Some(Scoring::standard(head_dim));
            inspection.head_dim = Some(head_dim);
            inspection.info = Some(info);
        }
        _ => inspection.unsupported = Some(EngineError::unsupported(architecture).to_string()),
    }
    Ok(inspection)
}

fn inspect_hf(folder: &Path) -> Result<Inspection> {
    let config = std::fs::read(folder.join("config.json")).map_err(|e| unreadable(folder, e))?;
    let value: serde_json::Value = serde_json::from_slice(&config).map_err(|e| EngineError::BadModelFile(format!("config.json: {e}")))?;
    let architecture = value.get("model_type").and_then(|m| m.as_str()).unwrap_or("unknown").to_string();
    let mut inspection = Inspection { format: "Hugging Face folder".into(), architecture: architecture.clone(), ..Inspection::default() };
    for path in safetensors_files(folder)? {
        let file = std::io::BufReader::new(std::fs::File::open(&path).map_err(|e| unreadable(&path, e))?);
        for entry in SafetensorsFile::open(file)?.entries {
            *inspection.tensor_types.entry(format!("{:?}", entry.dtype).to_uppercase()).or_default() += 1;
            inspection.parameters += entry.shape.iter().product::<usize>() as u64;
        }
    }
    let tokenizer = folder.join("tokenizer.json");
    inspection.reads_text = tokenizer.is_file();
    inspection.tokenizer = if inspection.reads_text { "tokenizer.json".into() } else { "none: this folder has no tokenizer.json".into() };
    let name = folder.file_name().map_or("model".into(), |n| n.to_string_lossy().to_string());
    let family = registry::by_model_type(&architecture).filter(|f| f.kind == ModelKind::Text);
    if let Some(Builder::Llama) = family.map(|f| f.builder) {
        inspection.scoring = Some(LlamaConfig::from_hf(&config)?.scoring);
    }
    let Some((info, head_dim)) = family.map(|f| f.facts(&name, &config)).transpose()?.flatten() else {
        inspection.unsupported = Some(EngineError::unsupported(architecture).to_string());
        return Ok(inspection);
    };
    inspection.scoring = inspection.scoring.or(Some(Scoring::standard(head_dim)));
    inspection.head_dim = Some(head_dim);
    inspection.info = Some(info);
    Ok(inspection)
}
