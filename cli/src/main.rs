//! attnscope on the command line: run a text through a real model and print
//! every head's attention as the report's JSON, or every head's scores.
//!
//!     attnscope run --model NAME_OR_PATH [--mask causal|plain-causal|none] (--text TEXT | --ids 1,2,3 | --audio FILE.wav | --image FILE)
//!                   [--weights float32|quantized|fit] [--value-norms | --pool N] [--format json|hf] [--no-shortlist] [--out FILE]
//!     attnscope scores --model NAME_OR_PATH (--probe induction | --text TEXT) [--sort KEY] [--json]
//!     attnscope plot --model NAME_OR_PATH --text TEXT [--layer L --head H | --grid] [--site S] [--hide-sink]
//!                    [--words] [--scale linear|log] --out FILE.svg|FILE.png
//!     attnscope positions --model NAME_OR_PATH [--rows N] [--json]
//!     attnscope inspect NAME_OR_PATH
//!     attnscope ablate | sweep | attribute --model NAME_OR_PATH --text TEXT ... (see intervene.rs)
//!     attnscope train dates [--score additive|dot|general|concat|local] [--seed N] --out DIR [--steps N] [--until SHARE]
//!     attnscope train digits [--attention soft|hard] [--data digits.csv.gz] [--seed N] --out DIR [--steps N] [--until SHARE]
//!     attnscope train memory [--task 1|2] [--seed N] --out DIR [--steps N] [--until SHARE]
//!     attnscope train snail [--data OMNIGLOT_DIR] [--seed N] --out DIR [--steps N] [--until SHARE]
//!     attnscope run --model SNAIL_DIR --examples A.png,B.png,… --image QUERY.png
//!
//! Exit status: 0 on success, 2 on a usage or input error (one line on stderr),
//! 1 when the computation itself fails. The words are clap's to read (flags.rs: each
//! command's flags and their help); what they mean together is checked here and in each
//! command's file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engine::{AnyModel, AttentionReport, EngineError, Mask, Model, RunOptions, WeightChoice};

mod flags;
mod input;
mod intervene;
mod plot;
mod positions;
mod scores;
mod train;

use clap::Parser;
use engine::translator::TranslateOptions;
use flags::{Cli, Command, Format, RunFlags};
use input::Input;

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

/// A usage error: the message and where to read more.
pub(crate) fn usage(message: String) -> Failure {
    Failure::Input(format!("{message} (see `attnscope --help`)"))
}

/// The `run` command's flags, as they go together.
fn parse_run(flags: RunFlags) -> Result<RunArgs, Failure> {
    let RunFlags { model, mask, text, ids, whole, max_tokens, weights, value_norms, pool, format, no_shortlist, out } = flags;
    let format = format.unwrap_or(Format::Json);
    let input = Input::of(text, ids.map(|ids| ids.0), whole)?.ok_or_else(|| usage("give --text TEXT, --ids 1,2,3, --audio FILE.wav or --image FILE".into()))?;
    if pool.is_some() && (value_norms || format == Format::Hf) {
        return Err(usage("--pool keeps block means: it takes neither --value-norms nor --format hf (BertViz reads whole maps)".into()));
    }
    let model = model.ok_or_else(|| usage("--model is required".into()))?;
    let weights = weights.unwrap_or(WeightChoice::Float32);
    Ok(RunArgs { model, mask, input, max_tokens, value_norms, pool, format, shortlist: !no_shortlist, weights, out })
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
             (smollm2-135m, all-minilm-l6-v2, gemma3-270m, en-pt, pt-en, whisper-tiny-en, dinov2-small, khmer-translit; `make models` fetches them)"
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
    match load_any(name_or_path, WeightChoice::Float32)? {
        AnyModel::OneSequence(model) => Ok(model),
        other => Err(not_for(name_or_path, &other, "text models of one sequence")),
    }
}

/// A model that reads text: a text model of one sequence, or a translator.
pub(crate) fn load_text_model(name_or_path: &str) -> Result<AnyModel, Failure> {
    match load_any(name_or_path, WeightChoice::Float32)? {
        model @ (AnyModel::OneSequence(_) | AnyModel::Translator(_)) => Ok(model),
        other => Err(not_for(name_or_path, &other, "models that read text (a text model or a translator)")),
    }
}

/// Why a command that reads `reads` cannot take `model`, and which command shows its attention.
fn not_for(name_or_path: &str, model: &AnyModel, reads: &str) -> Failure {
    let (kind, shows) = match model {
        AnyModel::OneSequence(_) => ("a text model", "`run` shows its attention"),
        AnyModel::Translator(_) => ("a translator", "`run` shows a translator's attention"),
        AnyModel::Transcriber(_) => ("a speech model", "`run --audio` shows its attention"),
        AnyModel::Vision(_) => ("a vision model", "`run --image` shows its attention"),
        AnyModel::Aligner(_) => ("an RNN aligner", "`run --text` shows its alignment"),
        AnyModel::FewShot(_) => ("a few-shot learner", "`run --examples A.png,B.png,… --image QUERY.png` shows its attention"),
    };
    Failure::Input(format!("`{name_or_path}` is {kind}: this command reads {reads} ({shows})"))
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
                Input::Episode { .. } => return Err(usage(format!("`{}` reads text: --examples are for a few-shot learner (a SNAIL)", args.model))),
            })
        }
        AnyModel::Translator(translator) => {
            let Input::Text(text) = &args.input else {
                return Err(usage("a translator takes --text, not --ids, --audio or --image".into()));
            };
            if args.mask.is_some() || args.pool.is_some() {
                return Err(usage("a translator runs with its own masks and has no --pool".into()));
            }
            let limit = args.max_tokens.unwrap_or(engine::DEFAULT_MAX_TOKENS);
            let options = TranslateOptions { value_norms: args.value_norms, ..TranslateOptions::new(limit, args.shortlist) };
            Ok(translator.translate_with(text, options, |_, _, _| {})?)
        }
        AnyModel::Aligner(aligner) => {
            let Input::Text(text) = &args.input else {
                return Err(usage(format!("`{}` is an RNN aligner: give it --text", args.model)));
            };
            if args.mask.is_some() || args.pool.is_some() || args.value_norms {
                return Err(usage("an RNN aligner has one attention, over its whole source: no --mask, --pool or --value-norms".into()));
            }
            Ok(aligner.align(text, |_, _, _| {})?)
        }
        AnyModel::FewShot(snail) => {
            let Input::Episode { examples, query } = &args.input else {
                return Err(usage(format!(
                    "`{}` is a few-shot learner: give it --examples A.png,B.png,… (its labelled drawings) and --image QUERY.png",
                    args.model
                )));
            };
            if args.mask.is_some() || args.pool.is_some() || args.value_norms || args.format == Format::Hf {
                return Err(usage("a SNAIL runs under its own causal mask, whole, as a report: no --mask, --pool, --value-norms or --format hf".into()));
            }
            let shots = snail.config.shots;
            let examples = examples.iter().enumerate().map(|(i, path)| Ok((input::read_drawing(path)?, i / shots))).collect::<Result<Vec<_>, Failure>>()?;
            Ok(snail.read_episode(&examples, &input::read_drawing(query)?)?)
        }
        model @ (AnyModel::Transcriber(_) | AnyModel::Vision(_)) => {
            let (speech, flag) = if matches!(model, AnyModel::Transcriber(_)) { (true, "--audio FILE.wav") } else { (false, "--image FILE") };
            if !matches!((&args.input, speech), (Input::Audio(_), true) | (Input::Image(..), false)) {
                let kind = if speech { "a speech model" } else { "a vision model" };
                return Err(usage(format!("`{}` is {kind}: give it {flag}", args.model)));
            }
            if args.mask.is_some() || args.pool.is_some() {
                return Err(usage(if speech {
                    "a speech model runs with its own masks and has no --pool (its encoder's maps are pooled already)".into()
                } else {
                    "a vision model sees every patch from every patch and has no --mask or --pool".into()
                }));
            }
            let options = RunOptions { value_norms: args.value_norms, ..RunOptions::default() };
            Ok(model.run_input(args.input.read()?.as_input(), model.native_mask(), options, None, |_, _, _| {})?)
        }
    }
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
    let cli = match Cli::try_parse_from(std::iter::once("attnscope".to_string()).chain(args.iter().cloned())) {
        Ok(cli) => cli,
        Err(error) => match flags::refusal(&error, &args) {
            // Help, asked for: clap prints it.
            None => {
                let _ = error.print();
                return ExitCode::SUCCESS;
            }
            Some(failure) => return exit_with(Err(failure)),
        },
    };
    let result = match cli.command {
        Command::Run(flags) => parse_run(flags).and_then(run),
        Command::Scores(flags) => scores::parse(flags)
            .and_then(scores::run)
            .and_then(|text| std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Failure::Input(format!("cannot write the scores: {e}")))),
        Command::Plot(flags) => plot::parse(flags).and_then(plot::run),
        Command::Positions(flags) => positions::run(flags)
            .and_then(|text| std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Failure::Input(format!("cannot write the positions: {e}")))),
        Command::Ablate(flags) => intervene::ablate(flags),
        Command::Sweep(flags) => intervene::sweep(flags),
        Command::Attribute(flags) => intervene::attribute(flags),
        Command::Train(flags) => train::train(flags),
        Command::Inspect { model } => {
            locate(&model).and_then(|(_, path)| engine::inspect::inspect(&path).map_err(Failure::from)).map(|inspection| println!("{inspection}"))
        }
    };
    exit_with(result)
}

/// The exit status of a result, with its one line on stderr when it failed.
fn exit_with(result: Result<(), Failure>) -> ExitCode {
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
