//! `attnscope ablate`, `sweep` and `attribute`: which heads matter for what a causal
//! language model says next (see engine::intervention).
//!
//!     attnscope ablate --model M --text T --heads 18.6,17.3 [--mean [--means-from TEXT]] [--patch-from TEXT [--patterns]] [--json]
//!     attnscope sweep --model M --text T [--answer " Mary"] [--versus " John"] [--patch-from TEXT | --mean] [--top N] [--json]
//!     attnscope attribute --model M --text T [--answer " Mary"] [--versus " John"] [--top N] [--json]

use std::io::Write;

use engine::{Ablation, AttentionReport, HeadEffects, HeadId, Intervention, Model, NextToken, Sweep, Trace};

use super::flags::{AblateFlags, AnswerFlags, AttributeFlags, ChangeFlags, SweepFlags};
use super::{load_model, usage, Failure};

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

impl Common {
    fn of(common: ChangeFlags) -> Self {
        let ChangeFlags { model, text, max_tokens, json } = common;
        Self {
            model: model.unwrap_or_default(),
            text: text.unwrap_or_default(),
            max_tokens,
            json,
            top: 20,
            answer: None,
            versus: None,
            patch_from: None,
            mean: false,
            means_from: None,
            heads: Vec::new(),
            patterns: false,
        }
    }

    fn answering(mut self, answer: AnswerFlags) -> Self {
        let AnswerFlags { answer, versus, top } = answer;
        (self.answer, self.versus, self.top) = (answer, versus, top.unwrap_or(self.top));
        self
    }
}

/// `ablate`'s flags, run.
pub fn ablate(flags: AblateFlags) -> Result<(), Failure> {
    let AblateFlags { common, heads, mean, means_from, patch_from, patterns } = flags;
    let given = (common.model.clone(), common.text.clone());
    let c = Common { heads: heads.map(|h| h.0).unwrap_or_default(), mean, means_from, patch_from, patterns, ..Common::of(common) };
    run("ablate", checked("ablate", given, c)?)
}

/// `sweep`'s flags, run.
pub fn sweep(flags: SweepFlags) -> Result<(), Failure> {
    let SweepFlags { common, answer, patch_from, mean } = flags;
    let given = (common.model.clone(), common.text.clone());
    let c = Common { patch_from, mean, ..Common::of(common).answering(answer) };
    run("sweep", checked("sweep", given, c)?)
}

/// `attribute`'s flags, run.
pub fn attribute(flags: AttributeFlags) -> Result<(), Failure> {
    let AttributeFlags { common, answer } = flags;
    let given = (common.model.clone(), common.text.clone());
    run("attribute", checked("attribute", given, Common::of(common).answering(answer))?)
}

/// The flags as they go together: `given` are the model and text as given (or not).
fn checked(command: &str, (model, text): (Option<String>, Option<String>), mut c: Common) -> Result<Common, Failure> {
    model.ok_or_else(|| usage("--model is required".into()))?;
    text.ok_or_else(|| usage("--text is required".into()))?;
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
fn run(command: &str, c: Common) -> Result<(), Failure> {
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
            let effects = if command == "attribute" { model.attribute(&trace, &answer)? } else { sweep_heads(&model, &trace, &c, source.as_ref(), &answer)? };
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
fn sweep_heads(model: &Model, trace: &Trace, c: &Common, source: Option<&Trace>, answer: &engine::Answer) -> Result<HeadEffects, Failure> {
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
