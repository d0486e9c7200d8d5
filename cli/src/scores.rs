//! `attnscope scores`: every head's scores, ranked, on the induction probe or on a text.
//!
//!     attnscope scores --model NAME_OR_PATH (--probe induction | --text TEXT | --audio FILE.wav | --image FILE) [--sort KEY] [--json]
//!
//! On a text, a text model's heads are scored, or a translator's encoder heads; on a sound,
//! a speech model's decoder heads over what it wrote; on a picture, a vision model's heads.
//!                      [--mask causal|none] [--seeds N] [--length N]

use engine::analysis::heads::{score_report, Exclusions, HeadScores};
use engine::analysis::probe::ProbeSpec;
use engine::{Mask, RunOptions};
use serde_json::Value;

use super::flags::ScoresFlags;
use super::input::Input;
use super::{load_any, load_model, load_text_model, usage, Failure};

/// The parsed `scores` command.
pub struct ScoresArgs {
    model: String,
    source: Source,
    sort: String,
    json: bool,
    mask: Option<Mask>,
}

enum Source {
    Probe(ProbeSpec),
    Text(String),
    /// A sound or a picture.
    Whole(Input),
}

impl Source {
    /// The scores each source gives, in the order the table shows them.
    fn keys(&self) -> &'static [&'static str] {
        match self {
            Source::Probe(_) => &["induction", "previous_token", "positional"],
            Source::Text(_) | Source::Whole(_) => &HeadScores::SHOWN,
        }
    }
}

/// The `scores` command's flags, as they go together.
pub fn parse(flags: ScoresFlags) -> Result<ScoresArgs, Failure> {
    let ScoresFlags { model, probe, text, sort, json, mask, seeds, length, whole } = flags;
    let mut spec = ProbeSpec::default();
    if let Some(seeds) = seeds {
        spec.seeds = (0..seeds as u64).collect();
    }
    if let Some(length) = length {
        spec.length = length;
    }
    let whole = Input::of(None, None, whole)?;
    if whole.is_some() && mask.is_some() {
        return Err(usage("a sound or a picture runs under its model's own masks: --mask is for a text".into()));
    }
    let source = match (probe.as_deref(), text, whole) {
        (Some("induction"), None, None) => Source::Probe(spec),
        (Some(other), None, None) => return Err(usage(format!("unknown probe `{other}`: the probe is `induction`"))),
        (None, Some(text), None) => Source::Text(text),
        (None, None, Some(whole)) => Source::Whole(whole),
        (Some(_), Some(_), _) => return Err(usage("give --probe or --text, not both".into())),
        (None, None, None) => {
            return Err(usage("give --probe induction or --text TEXT (or, for a speech or a vision model, --audio FILE.wav or --image FILE)".into()))
        }
        _ => return Err(usage("give one of --probe, --text, --audio and --image".into())),
    };
    let model = model.ok_or_else(|| usage("--model is required".into()))?;
    let sort = sort.unwrap_or_else(|| "induction".into());
    if !source.keys().contains(&sort.as_str()) {
        return Err(usage(format!("cannot sort by `{sort}`: the scores here are {}", source.keys().join(", "))));
    }
    if let (Source::Probe(spec), "positional") = (&source, sort.as_str()) {
        if spec.length > WHOLE_PROBE_LENGTH {
            return Err(usage(format!(
                "a probe of {} tokens a copy runs pooled, and a pooled map has no offsets to score: sort by positional with --length {WHOLE_PROBE_LENGTH} or less",
                spec.length
            )));
        }
    }
    Ok(ScoresArgs { model, source, sort, json, mask })
}

/// The longest probe (random tokens a copy) run with whole maps.
const WHOLE_PROBE_LENGTH: usize = 256;

/// A longer probe's maps are pooled to at most this many blocks across (as the page's are).
const POOLED_ACROSS: usize = 128;

/// Every head's scores as JSON objects ({layer, head, score…}), in (layer, head) order.
fn scores(args: &ScoresArgs) -> Result<Vec<Value>, Failure> {
    let rows: Vec<Value> = match &args.source {
        // A long probe runs pooled (its whole maps would be 270 × 2,001² floats, 4.3 GB, at
        // 1,000 tokens a copy of SmolLM2), its heads scored as they attend: the same scores.
        Source::Probe(spec) if spec.length > WHOLE_PROBE_LENGTH => {
            let model = load_model(&args.model)?;
            let block = (2 * spec.length + 2).div_ceil(POOLED_ACROSS);
            let (scores, _) = model.induction_probe_pooled(spec, block, |done, total| eprint!("\rprobe: {done} of {total} layers"))?;
            eprintln!();
            scores.iter().map(|s| serde_json::to_value(s).expect("scores serialize")).collect()
        }
        Source::Probe(spec) => {
            let model = load_model(&args.model)?;
            let (scores, _) = model.induction_probe(spec, |done, total| eprintln!("probe: run {done} of {total}"))?;
            scores.iter().map(|s| serde_json::to_value(s).expect("scores serialize")).collect()
        }
        // A text model's heads, or a translator's encoder heads (the report's first site).
        Source::Text(text) => {
            let model = load_text_model(&args.model)?;
            let report = model.run_text(text, args.mask.unwrap_or_else(|| model.native_mask()), RunOptions::default(), |_, _, _| {})?;
            scored(&report)
        }
        // A speech model's decoder heads (the report's first site: the transcript's own
        // attention), or a vision model's heads.
        Source::Whole(input) => {
            let model = load_any(&args.model, engine::WeightChoice::Float32)?;
            let report = model.run_input(input.read()?.as_input(), model.native_mask(), RunOptions::default(), None, |_, _, _| {})?;
            scored(&report)
        }
    };
    Ok(rows)
}

/// The heads of a report's first site scored, with TransformerLens's defaults (nothing left out).
fn scored(report: &engine::AttentionReport) -> Vec<Value> {
    score_report(report, Exclusions::default()).iter().map(|s| serde_json::to_value(s).expect("scores serialize")).collect()
}

/// Sorts by `key`, highest first.
fn rank(mut rows: Vec<Value>, key: &str) -> Vec<Value> {
    let score = |row: &Value| row[key].as_f64().unwrap_or(f64::NEG_INFINITY);
    rows.sort_by(|a, b| score(b).total_cmp(&score(a)));
    rows
}

/// A plain table: rank, layer, head, then each score with four decimals.
fn table(rows: &[Value], keys: &[&str]) -> String {
    let mut out = format!("{:>4} {:>5} {:>4}", "rank", "layer", "head");
    for key in keys {
        out.push_str(&format!(" {key:>15}"));
    }
    out.push('\n');
    for (rank, row) in rows.iter().enumerate() {
        let index = |name: &str| row[name].as_u64().unwrap_or_default();
        out.push_str(&format!("{:>4} {:>5} {:>4}", rank + 1, index("layer"), index("head")));
        for key in keys {
            // A score a run does not give (a pooled probe's positional) shows as a dash.
            match row[*key].as_f64() {
                Some(value) => out.push_str(&format!(" {value:>15.4}")),
                None => out.push_str(&format!(" {:>15}", "—")),
            }
        }
        out.push('\n');
    }
    out
}

pub fn run(args: ScoresArgs) -> Result<String, Failure> {
    let rows = rank(scores(&args)?, &args.sort);
    if args.json {
        Ok(serde_json::to_string(&rows).map_err(|e| Failure::Internal(e.to_string()))? + "\n")
    } else {
        Ok(table(&rows, args.source.keys()))
    }
}
