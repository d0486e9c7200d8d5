//! `attnscope ablate`, `sweep` and `attribute`: which heads matter for what a causal
//! language model says next (see engine::intervention).
//!
//!     attnscope ablate --model M --text T --heads 18.6,17.3 [--mean [--means-from TEXT]] [--patch-from TEXT [--patterns]] [--json]
//!     attnscope ablate --model M (--text T | --audio F.wav [--site encoder] | --image F) --heads 0.1,3.5 [--mean] [--json]   (a translator, speech or vision model)
//!     attnscope sweep --model M --text T [--answer " Mary"] [--versus " John"] [--patch-from TEXT | --mean] [--top N] [--json]
//!     attnscope attribute --model M --text T [--answer " Mary"] [--versus " John"] [--top N] [--json]

use std::io::Write;

use engine::{Ablation, AnyModel, AttentionReport, HeadEffects, HeadId, Intervention, Model, NextToken, RunOptions, Sweep, Trace, WeightChoice};

use super::flags::{AblateFlags, AnswerFlags, AttributeFlags, ChangeFlags, SweepFlags};
use super::input::Input;
use super::{load_any, load_model, usage, Failure};

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
    site: Option<String>,
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
            site: None,
        }
    }

    fn answering(mut self, answer: AnswerFlags) -> Self {
        let AnswerFlags { answer, versus, top } = answer;
        (self.answer, self.versus, self.top) = (answer, versus, top.unwrap_or(self.top));
        self
    }
}

/// `ablate`'s flags, run: a text model's run changed (see [`run_loaded`]), or a
/// translator's, a speech model's or a vision model's (see [`ablate_whole`]).
pub fn ablate(flags: AblateFlags) -> Result<(), Failure> {
    let AblateFlags { common, heads, mean, means_from, patch_from, patterns, site, whole } = flags;
    let input = Input::of(common.text.clone(), None, whole)?;
    let given = (common.model.clone(), input.is_some());
    let c = Common { heads: heads.map(|h| h.0).unwrap_or_default(), mean, means_from, patch_from, patterns, site, ..Common::of(common) };
    let c = checked("ablate", given, c)?;
    match (load_any(&c.model, WeightChoice::Float32)?, input) {
        (AnyModel::OneSequence(model), Some(Input::Text(_))) => run_loaded("ablate", &model, c),
        (AnyModel::OneSequence(_), _) => Err(usage(format!("`{}` reads text: --audio and --image are for a speech or a vision model", c.model))),
        (model, Some(input)) => ablate_whole(&model, &input, &c),
        (_, None) => Err(usage("--text is required".into())),
    }
}

/// Ablates a translator's encoder heads, a speech model's decoder heads or a vision
/// model's heads: the input runs unchanged, then changed, and the table shows what the
/// model wrote before and after, and the heads whose maps moved most.
fn ablate_whole(model: &AnyModel, input: &Input, c: &Common) -> Result<(), Failure> {
    let read = input.read()?;
    let options = RunOptions { max_tokens: c.max_tokens, ..RunOptions::default() };
    let run = |intervention: Option<&Intervention>| model.run_input(read.as_input(), model.native_mask(), options, intervention, |_, _, _| {});
    let changed = run(Some(&intervention(c)))?;
    let unchanged = run(None)?;
    let text = if c.json {
        serde_json::to_string(&changed).map_err(|e| Failure::Internal(e.to_string()))? + "\n"
    } else {
        whole_table(&unchanged, &changed, MOVED_HEADS)
    };
    std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Failure::Input(format!("cannot write the result: {e}")))
}

/// How many of the heads whose maps moved most `ablate` lists for a translator, a speech
/// model or a vision model.
const MOVED_HEADS: usize = 10;

/// What a model wrote before and after its heads changed, then the heads whose maps
/// moved most (total variation between rows, the mean over queries).
fn whole_table(unchanged: &AttentionReport, changed: &AttentionReport, top: usize) -> String {
    let mut out = changes_heading(changed);
    if let (Some(before), Some(after)) = (unchanged.written(), changed.written()) {
        out += &format!("before: {before}\nafter:  {after}\n");
    }
    let Some(moved) = engine::analysis::summary::map_change(changed.attention(), unchanged.attention()) else {
        return out + "the maps are of other lengths (the text written changed), so no head's move is measured\n";
    };
    let mut heads: Vec<(HeadId, f32)> =
        moved.iter().enumerate().flat_map(|(layer, row)| row.iter().enumerate().map(move |(head, &v)| (HeadId { layer, head }, v))).collect();
    heads.sort_by(|a, b| b.1.total_cmp(&a.1));
    out += "rank  head    map moved\n";
    for (rank, (head, value)) in heads.into_iter().take(top).enumerate() {
        out += &format!("{:>4}  {:<6} {value:>9.4}\n", rank + 1, head.to_string());
    }
    out
}

/// `sweep`'s flags, run.
pub fn sweep(flags: SweepFlags) -> Result<(), Failure> {
    let SweepFlags { common, answer, patch_from, mean } = flags;
    let given = (common.model.clone(), common.text.is_some());
    let c = Common { patch_from, mean, ..Common::of(common).answering(answer) };
    run("sweep", checked("sweep", given, c)?)
}

/// `attribute`'s flags, run.
pub fn attribute(flags: AttributeFlags) -> Result<(), Failure> {
    let AttributeFlags { common, answer } = flags;
    let given = (common.model.clone(), common.text.is_some());
    run("attribute", checked("attribute", given, Common::of(common).answering(answer))?)
}

/// The flags as they go together: `given` are the model as given (or not), and whether an
/// input (a text, or for `ablate` a sound or a picture) is.
fn checked(command: &str, (model, input): (Option<String>, bool), mut c: Common) -> Result<Common, Failure> {
    model.ok_or_else(|| usage("--model is required".into()))?;
    if !input {
        return Err(usage("--text is required".into()));
    }
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

/// Runs `ablate`, `sweep` or `attribute` on a text model and prints its table or JSON.
fn run(command: &str, c: Common) -> Result<(), Failure> {
    run_loaded(command, &load_model(&c.model)?, c)
}

fn run_loaded(command: &str, model: &Model, c: Common) -> Result<(), Failure> {
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
            let effects = if command == "attribute" { model.attribute(&trace, &answer)? } else { sweep_heads(model, &trace, &c, source.as_ref(), &answer)? };
            let table = effects_table(&effects, c.top);
            (AttentionReport { head_effects: Some(effects), ..trace.report }, table)
        }
    };
    let text = if c.json { serde_json::to_string(&report).map_err(|e| Failure::Internal(e.to_string()))? + "\n" } else { table };
    std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Failure::Input(format!("cannot write the result: {e}")))
}

fn intervention(c: &Common) -> Intervention {
    Intervention { site: c.site.clone(), ..changes(c) }
}

fn changes(c: &Common) -> Intervention {
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

/// The line that says which heads changed, and how.
fn changes_heading(report: &AttentionReport) -> String {
    let intervention = report.intervention.as_ref();
    let heads: Vec<String> =
        intervention.map(|i| i.ablated.iter().chain(&i.patched_outputs).chain(&i.patched_patterns).map(|h| h.to_string()).collect()).unwrap_or_default();
    let how = match intervention {
        Some(i) if !i.patched_patterns.is_empty() => "patterns patched from the other text".to_string(),
        Some(i) if !i.patched_outputs.is_empty() => "outputs patched from the other text".to_string(),
        Some(i) => format!("{}-ablated", i.ablation.name()),
        None => String::new(),
    };
    format!("heads {} {how}\n", heads.join(", "))
}

/// The next tokens before and after, side by side.
fn ablation_table(report: &AttentionReport) -> String {
    let intervention = report.intervention.as_ref();
    let mut out = changes_heading(report);
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
