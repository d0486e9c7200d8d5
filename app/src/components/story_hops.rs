//! A memory network's hops over a story, as Sukhbaatar et al.'s figure draws them: a row per
//! sentence, a column per hop, each cell the weight the hop put on that sentence (a bar and
//! its number); the supporting facts marked where they are known, and the question and the
//! answer under it.

use leptos::prelude::*;
use report::AttentionReport;

use crate::state::Run;

/// The hops of the memory network whose report the page shows, over the story typed.
#[component]
pub fn MemoryHops() -> impl IntoView {
    let run = expect_context::<Run>();
    move || {
        let report = run.report.get().filter(|r| is_memory_network(r))?;
        Some(view! { <StoryHops report=(*report).clone() supporting=Vec::new() id="story-hops".to_string() /> })
    }
}

/// Whether a report is a memory network's: it has the `question` its hops asked over the
/// `source` sentences (no other model's report has one).
pub fn is_memory_network(report: &AttentionReport) -> bool {
    report.sequence("question").is_some()
}

#[component]
pub fn StoryHops(report: AttentionReport, supporting: Vec<usize>, id: String) -> impl IntoView {
    let texts = |name: &str| report.sequence(name).map(|s| s.tokens.iter().map(|t| t.text.clone()).collect::<Vec<_>>()).unwrap_or_default();
    let (sentences, question) = (texts("source"), texts("question").concat());
    let answer = report.translation.as_ref().map_or(String::new(), |t| t.text.clone());
    let Some(site) = report.site("cross").cloned() else { return ().into_any() };
    let hops = site.maps.shape()[0];
    let header = (0..hops).map(|h| view! { <th scope="col">{format!("hop {}", h + 1)}</th> }).collect_view();
    let rows = sentences
        .iter()
        .enumerate()
        .map(|(j, sentence)| {
            let is_fact = supporting.contains(&j);
            let cells = (0..hops)
                .map(|h| {
                    let w = site.maps.weight(h, 0, 0, j);
                    view! {
                        <td class="hop-weight" data-hop=h.to_string() data-weight=format!("{w:.4}")>
                            <span class="hop-bar" style=format!("width: {:.1}%", 100.0 * w.clamp(0.0, 1.0)) />
                            <span class="hop-number">{format!("{w:.2}")}</span>
                        </td>
                    }
                })
                .collect_view();
            view! {
                <tr class="story-sentence" class:supporting=is_fact data-supporting=is_fact.to_string()>
                    <th scope="row">{if is_fact { "★ " } else { "" }}{sentence.clone()}</th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    let facts_note = if supporting.is_empty() { "" } else { " ★ marks the story's supporting facts." };
    view! {
        <figure class="story-hops">
            <table data-testid=id data-answer=answer.clone()>
                <thead><tr><th scope="col">"sentence (oldest first)"</th>{header}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <figcaption>{format!("{question} → {answer}. Each hop's weights over the sentences sum to 1.{facts_note}")}</figcaption>
        </figure>
    }
    .into_any()
}
