//! `attnscope ablate`, `sweep` and `attribute`: which heads matter for what a causal
//! language model says next (see engine::intervention).
//!
//!     attnscope ablate --model M --text T --heads 18.6,17.3 [--mean [--means-from TEXT]] [--patch-from TEXT [--patterns]] [--json]
//!     attnscope sweep --model M --text T [--answer " Mary"] [--versus " John"] [--patch-from TEXT | --mean] [--top N] [--json]
//!     attnscope attribute --model M --text T [--answer " Mary"] [--versus " John"] [--top N] [--json]

use std::io::Write;

use engine::{Ablation, AttentionReport, HeadEffects, HeadId, Intervention, Model, NextToken, Sweep, Trace};

use super::{load_model, usage, Failure};

pub const USAGE: &str = "usage: attnscope ablate --model NAME_OR_PATH --text TEXT --heads L.H[,L.H...] [--mean [--means-from TEXT]]
                        [--patch-from TEXT [--patterns]] [--max-tokens N] [--json]
  the next tokens before and after the heads are changed: zeroed (default), replaced by their mean over
  the text's positions (--mean) or over another text's (--means-from), or taken from the run of another
  text as long in tokens (--patch-from: their outputs, or with --patterns their attention patterns).
  --json prints the changed run's report: its next tokens, and `intervention` with the unchanged ones

usage: attnscope sweep --model NAME_OR_PATH --text TEXT [--answer TOKEN] [--versus TOKEN]
                       [--patch-from TEXT | --mean] [--top N] [--max-tokens N] [--json]
  changes every head alone (zero-ablates it, mean-ablates it, or takes its output from the run of
  --patch-from) and ranks the heads by how much the answer's logit (minus --versus's) moved.
  --answer defaults to the likeliest next token; name tokens with their leading space (\" Mary\").
  --json prints the unchanged run's report with `head_effects`

usage: attnscope attribute --model NAME_OR_PATH --text TEXT [--answer TOKEN] [--versus TOKEN] [--top N] [--json]
  direct logit attribution: what each head (and each feed-forward, and the embeddings) writes toward
  the answer at the last position, through the final norm with its scale frozen; they add up to the logit";

/// What the three commands share.
struct Common {
    model: String,
    text: String,
    max_tokens: Option<usize>,
    json: bool,
    top: usize,
    answer: Option<String>,
    versus: Option<String>,
    patch_from: Option<String>,
    mean: bool,
    means_from: Option<String>,
    heads: Vec<HeadId>,
    patterns: bool,
}

fn parse(command: &str, args: &[String]) -> Result<Common, Failure> {
    let mut c = Common {
        model: String::new(),
        text: String::new(),
        max_tokens: None,
        json: false,
        top: 20,
        answer: None,
        versus: None,
        patch_from: None,
        mean: false,
        means_from: None,
        heads: Vec::new(),
        patterns: false,
    };
    let (mut model, mut text) = (None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| usage(format!("{flag} needs a value")));
        let number = |v: String| v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| usage(format!("{flag} takes a positive whole number, not `{v}`")));
        match (command, flag.as_str()) {
            (_, "--model") => model = Some(value()?),
            (_, "--text") => text = Some(value()?),
            (_, "--json") => c.json = true,
            (_, "--max-tokens") => c.max_tokens = Some(number(value()?)?),
            ("sweep" | "attribute", "--top") => c.top = number(value()?)?,
            ("sweep" | "attribute", "--answer") => c.answer = Some(value()?),
            ("sweep" | "attribute", "--versus") => c.versus = Some(value()?),
            ("sweep" | "ablate", "--patch-from") => c.patch_from = Some(value()?),
            ("sweep" | "ablate", "--mean") => c.mean = true,
            ("ablate", "--means-from") => c.means_from = Some(value()?),
            ("ablate", "--patterns") => c.patterns = true,
            ("ablate", "--heads") => {
                c.heads = value()?.split(',').map(|h| h.parse::<HeadId>().map_err(usage)).collect::<Result<_, _>>()?;
            }
            (_, other) => return Err(usage(format!("unknown argument `{other}` for `{command}`"))),
        }
    }
    c.model = model.ok_or_else(|| usage("--model is required".into()))?;
    c.text = text.ok_or_else(|| usage("--text is required".into()))?;
    if command == "ablate" && c.heads.is_empty() {
        return Err(usage("--heads is required: the heads to change, as 18.6,17.3".into()));
    }
    if c.patch_from.is_some() && (c.mean || c.means_from.is_some()) {
        return Err(usage("give --patch-from or --mean, not both".into()));
    }
    if c.patterns && c.patch_from.is_none() {
        return Err(usage("--patterns takes the patterns from --patch-from TEXT".into()));
    }
    if c.means_from.is_some() {
        c.mean = true;
    }
    Ok(c)
}

/// Runs `ablate`, `sweep` or `attribute` and prints its table or JSON.
pub fn run(command: &str, args: &[String]) -> Result<(), Failure> {
    let c = parse(command, args)?;
    let model = load_model(&c.model)?;
    let trace = model.trace(&c.text, c.max_tokens)?;
    let other = |text: &Option<String>| text.as_deref().map(|t| model.trace(t, c.max_tokens)).transpose();
    let (source, means) = (other(&c.patch_from)?, other(&c.means_from)?);
    let (report, table) = match command {
        "ablate" => {
            let intervention = intervention(&c);
            let report = model.change(&trace, &intervention, source.as_ref(), means.as_ref())?;
            let table = ablation_table(&report);
            (report, table)
        }
        _ => {
            let answer = model.answer_in(&trace, c.answer.as_deref(), c.versus.as_deref())?;
            let effects = if command == "attribute" { model.attribute(&trace, &answer)? } else { sweep(&model, &trace, &c, source.as_ref(), &answer)? };
            let table = effects_table(&effects, c.top);
            (AttentionReport { head_effects: Some(effects), ..trace.report }, table)
        }
    };
    let text = if c.json { serde_json::to_string(&report).map_err(|e| Failure::Internal(e.to_string()))? + "\n" } else { table };
    std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Failure::Input(format!("cannot write the result: {e}")))
}

fn intervention(c: &Common) -> Intervention {
    match (&c.patch_from, c.patterns) {
        (Some(source), true) => Intervention { patched_patterns: c.heads.clone(), source: Some(source.clone()), ..Intervention::default() },
        (Some(source), false) => Intervention { patched_outputs: c.heads.clone(), source: Some(source.clone()), ..Intervention::default() },
        (None, _) => {
            Intervention { means_from: c.means_from.clone(), ..Intervention::ablate(c.heads.clone(), if c.mean { Ablation::Mean } else { Ablation::Zero }) }
        }
    }
}

/// A sweep with its progress on stderr.
fn sweep(model: &Model, trace: &Trace, c: &Common, source: Option<&Trace>, answer: &engine::Answer) -> Result<HeadEffects, Failure> {
    let how = match source {
        Some(source) => Sweep::Patching(source),
        None => Sweep::Ablation(if c.mean { Ablation::Mean } else { Ablation::Zero }),
    };
    let mut stderr = std::io::stderr();
    let effects = model.sweep(trace, how, answer, |done, total| {
        let _ = write!(stderr, "\rsweep: {done}/{total} heads");
        true
    });
    let _ = writeln!(stderr);
    Ok(effects?)
}

fn next_line(rank: usize, token: &NextToken) -> String {
    format!("{rank:>4}  {:<16} {:>9.4} {:>8.2}%", format!("{:?}", token.text), token.logit, token.probability * 100.0)
}

/// The next tokens before and after, side by side.
fn ablation_table(report: &AttentionReport) -> String {
    let intervention = report.intervention.as_ref();
    let heads: Vec<String> =
        intervention.map(|i| i.ablated.iter().chain(&i.patched_outputs).chain(&i.patched_patterns).map(|h| h.to_string()).collect()).unwrap_or_default();
    let how = match intervention {
        Some(i) if !i.patched_patterns.is_empty() => "patterns patched from the other text".to_string(),
        Some(i) if !i.patched_outputs.is_empty() => "outputs patched from the other text".to_string(),
        Some(i) => format!("{}-ablated", i.ablation.name()),
        None => String::new(),
    };
    let mut out = format!("heads {} {how}\n", heads.join(", "));
    let before = intervention.and_then(|i| i.next_tokens_before.as_deref()).unwrap_or(&[]);
    let after = report.next_tokens.as_deref().unwrap_or(&[]);
    out += &format!("{:<41}  {}\n", "before: rank  token  logit  probability", "after");
    for i in 0..before.len().max(after.len()) {
        let cell = |list: &[NextToken]| list.get(i).map_or(String::new(), |t| next_line(i + 1, t));
        out += &format!("{:<41}  {}\n", cell(before), cell(after));
    }
    out
}

/// The heads ranked by effect, then (for attribution) the other writers.
fn effects_table(effects: &HeadEffects, top: usize) -> String {
    let what = match &effects.method {
        engine::EffectMethod::Ablation { ablation } => format!("{}-ablating each head alone: change of", ablation.name()),
        engine::EffectMethod::Patching { source } => format!("each head's output alone from {source:?}: change of"),
        engine::EffectMethod::DirectAttribution => "each head's direct contribution to".to_string(),
    };
    let mut out = format!("{what} {} (unchanged: {:.4})\n", effects.answer.describe(), effects.baseline);
    out += "rank  head    effect\n";
    for (rank, (head, effect)) in effects.ranked().into_iter().take(top).enumerate() {
        out += &format!("{:>4}  {:<6} {effect:>+9.4}\n", rank + 1, head.to_string());
    }
    if !effects.others.is_empty() {
        let heads: f64 = effects.per_head.iter().map(|&v| v as f64).sum();
        let sum_of = |prefix: &str| effects.others.iter().filter(|c| c.name.starts_with(prefix)).map(|c| c.value as f64).sum::<f64>();
        out += &format!(
            "all heads {heads:+.4}, feed-forwards {:+.4}, embeddings {:+.4}, biases {:+.4}\n",
            sum_of("feed-forward"),
            sum_of("embeddings"),
            sum_of("attention bias") + sum_of("final norm bias")
        );
    }
    out
}
