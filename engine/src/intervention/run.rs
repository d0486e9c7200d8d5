//! Changed runs of a one-sequence model. An unchanged run is kept as a [`Trace`]: its
//! report, its logits, the residual stream entering every layer, every head's output
//! and the last position split by writer. A changed run starts from the trace at the
//! first layer it changes (everything before would come out the same), so a sweep that
//! changes each head alone costs about half of (heads × one run).

use candle_core::Tensor;

pub use report::intervention::{Answer, AnswerToken, EffectMethod, HeadEffects};

use super::attribution::{attribute, LastPosition};
use super::trace::Tracing;
use super::{check, Ablation, Changes, HeadId, Intervention, NextTokenChange, Taken};
use crate::error::{EngineError, Result};
use crate::forward::{Pass, Start};
use crate::observe::KeepMaps;
use crate::report::{AttentionMaps, AttentionReport, Token, Truncation};
use crate::Model;

/// The most rows (copies × tokens) a sweep runs at once.
const BATCH_ROWS: usize = 2048;

/// One unchanged run, kept whole for changed runs, sweeps and attribution to start from.
pub struct Trace {
    /// The run's report, as [`Model::run_text`] gives it.
    pub report: AttentionReport,
    /// The text it ran (for the record of a patch or a mean taken from it).
    pub text: String,
    ids: Vec<u32>,
    logits: Option<Vec<f32>>,
    /// The residual stream entering each layer, [t, hidden].
    residuals: Vec<Tensor>,
    /// Each layer's head outputs, [heads, t, d] (its patterns are the report's maps).
    outputs: Vec<Tensor>,
    last: LastPosition,
}

impl Trace {
    /// How many tokens ran.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The last position's logits, [vocab] (`None` for a model with no language-model head).
    pub fn logits(&self) -> Option<&[f32]> {
        self.logits.as_deref()
    }

    fn taken(&self) -> Taken<'_> {
        Taken { outputs: &self.outputs, maps: self.report.attention() }
    }
}

/// Whether `answer`'s tokens are among a model's `vocab` logits: an answer is data (the
/// page sends one, a file may hold one) and a tokenizer may add tokens past the model's
/// embedding rows, so every run that measures one checks it first.
pub fn check_answer(answer: &Answer, vocab: usize) -> Result<()> {
    match std::iter::once(&answer.token).chain(&answer.versus).find(|t| t.id as usize >= vocab) {
        Some(t) => Err(EngineError::TokenOutOfRange { id: t.id, vocab }),
        None => Ok(()),
    }
}

/// What a sweep does to each head in turn.
pub enum Sweep<'a> {
    Ablation(Ablation),
    /// Takes the head's output from this run (of a text as long in tokens).
    Patching(&'a Trace),
}

impl Model {
    /// Runs `text` under the model's own mask and keeps it whole as a [`Trace`].
    pub fn trace(&self, text: &str, max_tokens: Option<usize>) -> Result<Trace> {
        let (tokens, truncated) = self.tokens_of(text, max_tokens)?;
        self.trace_tokens(text, tokens, truncated)
    }

    /// The same for token ids as they are (a model without a tokenizer, a probe).
    pub fn trace_ids(&self, ids: &[u32]) -> Result<Trace> {
        let tokens = self.tokens_of_ids(ids)?;
        let text = tokens.iter().map(|t| t.text.as_str()).collect::<String>();
        self.trace_tokens(&text, tokens, None)
    }

    fn trace_tokens(&self, text: &str, tokens: Vec<Token>, truncated: Option<Truncation>) -> Result<Trace> {
        let (layers, heads, t) = (self.info.layers, self.info.heads, tokens.len());
        let ids = self.checked_ids(&tokens)?;
        let mask = self.native_mask();
        let mut pass = Pass::new().observing(KeepMaps::with_capacity(layers * heads * t * t)).observing(Tracing::default());
        let logits = pass.run(&*self.network, &ids, mask, None, Start::Embeddings, None)?.logits()?;
        let probabilities = pass.observers.take::<KeepMaps>().map(KeepMaps::into_flat).unwrap_or_default();
        let traced = pass.observers.take::<Tracing>().ok_or_else(|| candle_core::Error::Msg("the run kept no trace".into()))?;
        if traced.residuals.len() != layers || traced.outputs.len() != layers {
            return Err(EngineError::Intervention(format!("the {} network cannot be changed head by head yet", self.info.architecture)));
        }
        let attention = AttentionMaps::from_flat(layers, heads, t, probabilities)
            .ok_or_else(|| candle_core::Error::Msg("the network returned attention of the wrong size".into()))?;
        let report = self.assemble(tokens, truncated, mask, attention, logits.as_deref());
        Ok(Trace { report, text: text.to_string(), ids, logits, residuals: traced.residuals, outputs: traced.outputs, last: traced.last })
    }

    /// The run of `trace` with `intervention` made: patches taken from `source`, means
    /// (for mean ablation) from `means` (else from the run itself). Its report carries the
    /// intervention, with the unchanged run's next tokens beside its own.
    pub fn change(&self, trace: &Trace, intervention: &Intervention, source: Option<&Trace>, means: Option<&Trace>) -> Result<AttentionReport> {
        let (layers, heads, t) = (self.info.layers, self.info.heads, trace.len());
        super::site_of(intervention, &["self"])?;
        check(intervention, layers, heads)?;
        same_length(trace, source)?;
        if intervention.means_from.is_some() && means.is_none() {
            return Err(EngineError::Intervention("mean ablation over another text needs that text's run".into()));
        }
        if !(intervention.patched_outputs.is_empty() && intervention.patched_patterns.is_empty()) && source.is_none() {
            return Err(EngineError::Intervention("patching needs the run of the text the patches come from".into()));
        }
        let mut record = Intervention { next_tokens_before: trace.report.next_tokens.clone(), ..intervention.clone() };
        let Some(from) = intervention.first_layer() else {
            return Ok(AttentionReport { intervention: Some(record), ..trace.report.clone() });
        };
        let changes = Changes::new(intervention, layers, source.map(Trace::taken).as_ref(), means.map(Trace::taken).as_ref())?;
        let mut pass = Pass::new().observing(KeepMaps::with_capacity((layers - from) * heads * t * t)).changing(vec![changes]);
        let logits = pass.run(&*self.network, &trace.ids, trace.report.mask, None, Start::Layer(from, trace.residuals[from].clone()), None)?.logits()?;
        // The layers before `from` ran as in the unchanged run: their maps are the trace's.
        let mut flat = trace.report.attention().as_flat()[..from * heads * t * t].to_vec();
        flat.extend(pass.observers.take::<KeepMaps>().map(KeepMaps::into_flat).unwrap_or_default());
        let attention = AttentionMaps::from_flat(layers, heads, t, flat)
            .ok_or_else(|| candle_core::Error::Msg("the network returned attention of the wrong size".into()))?;
        let mut report = self.assemble(trace.report.tokens().to_vec(), trace.report.truncated.clone(), trace.report.mask, attention, logits.as_deref());
        if let (Some(before), Some(after), Some(ranked_before), Some(ranked_after)) =
            (trace.logits(), logits.as_deref(), &trace.report.next_tokens, &report.next_tokens)
        {
            let mut ids: Vec<u32> = ranked_before.iter().map(|t| t.id).collect();
            ids.extend(ranked_after.iter().map(|t| t.id).filter(|id| !ranked_before.iter().any(|t| t.id == *id)));
            record.next_token_changes = NextTokenChange::compare(&ids, |id| self.token_text(id), before, after);
        }
        report.intervention = Some(record);
        Ok(report)
    }

    /// The run of `text` with `intervention` made, and the unchanged run it started from: the
    /// text's trace, and the traces of the texts it names (patches from `source`, means from
    /// `means_from`), each got from `trace_of` (which may keep them, as the page's worker does).
    pub fn change_text<T: std::ops::Deref<Target = Trace>>(
        &self,
        text: &str,
        intervention: &Intervention,
        mut trace_of: impl FnMut(&str) -> Result<T>,
    ) -> Result<(AttentionReport, T)> {
        let trace = trace_of(text)?;
        let mut other = |text: &Option<String>| text.as_deref().map(&mut trace_of).transpose();
        let (source, means) = (other(&intervention.source)?, other(&intervention.means_from)?);
        Ok((self.change(&trace, intervention, source.as_deref(), means.as_deref())?, trace))
    }

    /// Changes every head alone as `sweep` says and measures `answer` after each:
    /// `progress(done, total)` after each head; when it returns false the sweep stops
    /// with [`EngineError::Cancelled`].
    pub fn sweep(&self, trace: &Trace, sweep: Sweep, answer: &Answer, mut progress: impl FnMut(usize, usize) -> bool) -> Result<HeadEffects> {
        let (layers, heads) = (self.info.layers, self.info.heads);
        trace.logits().ok_or(EngineError::NoLogits)?;
        let mut per_head = Vec::with_capacity(layers * heads);
        for layer in 0..layers {
            per_head.extend(self.sweep_layer(trace, &sweep, answer, layer)?);
            if !progress(per_head.len(), layers * heads) {
                return Err(EngineError::Cancelled);
            }
        }
        self.swept(trace, &sweep, answer, per_head)
    }

    /// A sweep's finding from its layers' effects (`per_head`, flat [layer, head], as
    /// [`Model::sweep_layer`] gives them layer after layer).
    pub fn swept(&self, trace: &Trace, sweep: &Sweep, answer: &Answer, per_head: Vec<f32>) -> Result<HeadEffects> {
        let (layers, heads) = (self.info.layers, self.info.heads);
        if per_head.len() != layers * heads {
            return Err(EngineError::Intervention(format!("a sweep of {} heads where the model has {}", per_head.len(), layers * heads)));
        }
        check_answer(answer, self.info.vocab_size)?;
        let baseline = answer.measure(trace.logits().ok_or(EngineError::NoLogits)?);
        let method = match sweep {
            Sweep::Ablation(ablation) => EffectMethod::Ablation { ablation: *ablation },
            Sweep::Patching(source) => EffectMethod::Patching { source: source.text.clone() },
        };
        Ok(HeadEffects { method, answer: answer.clone(), baseline, layers, heads, per_head, others: Vec::new() })
    }

    /// One layer of a sweep: each head of `layer` changed alone, and how far the measure
    /// moved for each (a caller that must stay responsive, as the page's worker, runs a
    /// sweep a layer at a time).
    pub fn sweep_layer(&self, trace: &Trace, sweep: &Sweep, answer: &Answer, layer: usize) -> Result<Vec<f32>> {
        let (layers, heads, vocab) = (self.info.layers, self.info.heads, self.info.vocab_size);
        if layer >= layers {
            return Err(EngineError::NoSuchLayer { layer, layers });
        }
        check_answer(answer, self.info.vocab_size)?;
        let baseline = answer.measure(trace.logits().ok_or(EngineError::NoLogits)?);
        let source = match sweep {
            Sweep::Patching(source) => {
                same_length(trace, Some(source))?;
                Some(source.taken())
            }
            Sweep::Ablation(_) => None,
        };
        // The heads run together, as copies of the input each changed its own way: the
        // projections then read their weights once per group, not once per head.
        let group = (BATCH_ROWS / trace.len()).clamp(1, heads);
        let mut effects = Vec::with_capacity(heads);
        for first in (0..heads).step_by(group) {
            let changes = (first..(first + group).min(heads))
                .map(|head| {
                    let id = HeadId { layer, head };
                    let intervention = match sweep {
                        Sweep::Ablation(ablation) => Intervention::ablate(vec![id], *ablation),
                        Sweep::Patching(source) => Intervention { patched_outputs: vec![id], source: Some(source.text.clone()), ..Intervention::default() },
                    };
                    Changes::new(&intervention, layers, source.as_ref(), None)
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            let copies = changes.len();
            let residual = trace.residuals[layer].repeat((copies, 1))?; // [copies · t, hidden]
            let mut pass = Pass::new().changing(changes);
            let logits =
                pass.run(&*self.network, &trace.ids, trace.report.mask, None, Start::Layer(layer, residual), None)?.logits()?.ok_or(EngineError::NoLogits)?;
            if logits.len() != copies * vocab {
                return Err(EngineError::Intervention(format!("the {} network cannot run heads side by side yet", self.info.architecture)));
            }
            effects.extend(logits.chunks(vocab).map(|logits| answer.measure(logits) - baseline));
        }
        Ok(effects)
    }

    /// Each head's direct contribution to `answer` at the last position of `trace` (see
    /// [`super::attribution`]); with the other writers' they add up to the measure.
    pub fn attribute(&self, trace: &Trace, answer: &Answer) -> Result<HeadEffects> {
        check_answer(answer, self.info.vocab_size)?;
        let logits = trace.logits().ok_or(EngineError::NoLogits)?;
        let ids: Vec<u32> = std::iter::once(&answer.token).chain(&answer.versus).map(|t| t.id).collect();
        let readout = self.network.readout(&ids)?.ok_or(EngineError::NoLogits)?;
        let split = attribute(&trace.last, &readout, self.info.heads);
        let (layers, heads) = (self.info.layers, self.info.heads);
        let logit = |token: &AnswerToken| readout.uncapped(logits[token.id as usize]);
        Ok(HeadEffects {
            method: EffectMethod::DirectAttribution,
            answer: answer.clone(),
            baseline: logit(&answer.token) - answer.versus.as_ref().map_or(0.0, logit),
            layers,
            heads,
            per_head: split.per_head,
            others: split.others,
        })
    }

    /// The answer a person names by its text (" Mary", a leading space included), which
    /// must be one token, and the token it is measured against, if any.
    pub fn answer(&self, text: &str, versus: Option<&str>) -> Result<Answer> {
        let one = |text: &str| -> Result<AnswerToken> {
            let tokens: Vec<Token> = self.tokenize(text)?.into_iter().filter(|t| t.span.is_some()).collect();
            match tokens.as_slice() {
                [token] => Ok(AnswerToken { id: token.id, text: token.text.clone() }),
                [] => Err(EngineError::Intervention(format!("the answer {text:?} gives no token"))),
                many => {
                    let pieces: Vec<&str> = many.iter().map(|t| t.text.as_str()).collect();
                    Err(EngineError::Intervention(format!(
                        "the answer {text:?} is {} tokens ({}): name one token, such as {:?}",
                        many.len(),
                        pieces.join(" | "),
                        pieces[0]
                    )))
                }
            }
        };
        let answer = Answer { token: one(text)?, versus: versus.map(one).transpose()? };
        check_answer(&answer, self.info.vocab_size)?;
        Ok(answer)
    }

    /// The answer to measure in `trace`: `answer` by its text (the likeliest next token
    /// when `None`), measured against `versus`. A text among the run's likeliest next tokens
    /// is that token, whatever tokenizing it again would give.
    pub fn answer_in(&self, trace: &Trace, answer: Option<&str>, versus: Option<&str>) -> Result<Answer> {
        let ranked = trace.report.next_tokens.as_deref().unwrap_or(&[]);
        let one = |text: &str| match ranked.iter().find(|t| t.text == text) {
            Some(t) => Ok(AnswerToken { id: t.id, text: t.text.clone() }),
            None => self.answer(text, None).map(|a| a.token),
        };
        let token = match answer {
            Some(text) => one(text)?,
            None => self.likeliest_answer(trace)?.token,
        };
        Ok(Answer { token, versus: versus.map(one).transpose()? })
    }

    /// The likeliest next token of `trace` as the answer.
    pub fn likeliest_answer(&self, trace: &Trace) -> Result<Answer> {
        let next = trace.report.next_tokens.as_deref().and_then(<[_]>::first).ok_or(EngineError::NoLogits)?;
        Ok(Answer { token: AnswerToken { id: next.id, text: next.text.clone() }, versus: None })
    }
}

/// Patching needs the same positions in both runs.
fn same_length(trace: &Trace, source: Option<&Trace>) -> Result<()> {
    match source {
        Some(source) if source.len() != trace.len() => Err(EngineError::Intervention(format!(
            "patching needs two texts of the same length in tokens: this one has {}, the other {}",
            trace.len(),
            source.len()
        ))),
        _ => Ok(()),
    }
}
