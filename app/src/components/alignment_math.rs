//! The arithmetic of one step of an RNN aligner's attention (issue 31), from the queries and
//! keys its run kept: each source slot's score as a sum of one term a unit, the softmax that
//! makes the weights (local-p: its window and Gaussian), beside the model's own weight; and the
//! most-weighed slot's score taken apart term by term.

use leptos::prelude::*;
use report::analysis::alignment_math::{AlignmentArithmetic, Term};
use report::AttentionMaps;

use super::token_label;

/// How many of a score's terms are listed, the largest first.
const TERMS_SHOWN: usize = 8;

pub fn aligner_step(arithmetic: &AlignmentArithmetic, maps: &AttentionMaps, step: usize, source: &[String]) -> impl IntoView {
    let (scores, weights) = (arithmetic.scores(step), arithmetic.weights(step));
    let local = arithmetic.local.as_ref().and_then(|l| l.get(step)).copied();
    let rows = source
        .iter()
        .enumerate()
        .map(|(slot, label)| {
            let model = maps.weight(0, 0, step, slot);
            view! {
                <tr data-slot=slot.to_string()>
                    <th scope="row">{token_label(label)}</th>
                    <td class="score">{format!("{:.4}", scores.get(slot).copied().unwrap_or(f32::NAN))}</td>
                    <td class="weight">{format!("{:.4}", weights.get(slot).copied().unwrap_or(f32::NAN))}</td>
                    <td class="model">{format!("{model:.4}")}</td>
                </tr>
            }
        })
        .collect_view();
    let best = weights.iter().enumerate().fold(0, |b, (j, &w)| if w > weights[b] { j } else { b });
    let terms = arithmetic.terms(step, best);
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_by(|&a, &b| terms[b].abs().total_cmp(&terms[a].abs()));
    let (q, k) =
        (&arithmetic.queries[step.min(arithmetic.queries.len().saturating_sub(1))], &arithmetic.keys[best.min(arithmetic.keys.len().saturating_sub(1))]);
    let additive = match &arithmetic.term {
        Term::Additive { v } => Some(v.clone()),
        Term::Product => None,
    };
    let term_header = if additive.is_some() { "v_a · tanh(q_a + k_ja)" } else { "q_a · k_ja" };
    let term_rows = order
        .iter()
        .take(TERMS_SHOWN)
        .map(|&a| {
            let v = additive.as_ref().map(|v| view! { <td class="v">{format!("{:.4}", v[a])}</td> });
            view! {
                <tr data-unit=a.to_string()>
                    <th scope="row">{a.to_string()}</th>
                    <td class="q">{format!("{:.4}", q[a])}</td>
                    <td class="k">{format!("{:.4}", k[a])}</td>
                    {v}
                    <td class="term">{format!("{:.4}", terms[a])}</td>
                </tr>
            }
        })
        .collect_view();
    let rest = terms.len().saturating_sub(TERMS_SHOWN);
    let rest_sum: f32 = order.iter().skip(TERMS_SHOWN).map(|&a| terms[a]).sum();
    let weighting = match local {
        Some(w) => format!(
            "softmax over the slots within {} of the predicted position p = {:.2}, each times exp(−(j − p)² / (2 · {:.1}²)), not normalised again",
            w.window,
            w.position,
            w.window as f32 / 2.0
        ),
        None => "softmax over every slot".to_string(),
    };
    view! {
        <div class="aligner-math" data-testid="aligner-math" data-step=step.to_string()>
            <p class="formula">{arithmetic.formula.clone()}</p>
            <p class="hint">{format!("q: {}. k_j: {}.", arithmetic.query_is, arithmetic.key_is)}</p>
            <table class="weights math" data-testid="aligner-math-slots">
                <caption>{format!("Each slot's score, the sum of {} terms; the weights: {weighting}", terms.len())}</caption>
                <thead><tr><th scope="col">"source"</th><th scope="col">"score"</th><th scope="col">"weight"</th><th scope="col">"model"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <table class="weights math" data-testid="aligner-math-terms" data-slot=best.to_string()>
                <caption>{format!("The score of \"{}\" (slot {best}, weighed most), term by term: the {} largest of {}", source.get(best).map(|s| token_label(s)).unwrap_or_default(), TERMS_SHOWN.min(terms.len()), terms.len())}</caption>
                <thead><tr>
                    <th scope="col">"unit a"</th><th scope="col">"q_a"</th><th scope="col">"k_ja"</th>
                    {additive.is_some().then(|| view! { <th scope="col">"v_a"</th> })}
                    <th scope="col">{term_header}</th>
                </tr></thead>
                <tbody>{term_rows}</tbody>
            </table>
            <p class="hint" data-testid="aligner-math-sum">{format!(
                "… and {rest} more terms adding {rest_sum:.4}: the score is {:.4}",
                terms.iter().sum::<f32>()
            )}</p>
        </div>
    }
}
