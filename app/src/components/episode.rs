//! A few-shot learner's episode, as SNAIL's reader would want to see it: the labelled drawings
//! in the order it read them, the query last; under each drawing, the weight the query put on
//! it in every attention block and head (a bar and its number); and the query's answer with
//! each class's probability, against chance.

use leptos::prelude::*;
use report::{AttentionReport, Episode};

use crate::state::Run;

/// The episode of the SNAIL whose report the page shows.
#[component]
pub fn FewShotEpisode() -> impl IntoView {
    let run = expect_context::<Run>();
    move || {
        let report = run.report.get().filter(|r| r.episode.is_some())?;
        Some(view! { <EpisodeView report=(*report).clone() right=None id="episode".to_string() /> })
    }
}

/// A class's letter: A, B, C, …
fn letter(class: usize) -> String {
    Episode::class_name(class)
}

/// A drawing as an SVG of its inked pixels, `size` pixels a side.
#[component]
pub fn Drawing(pixels: Vec<u8>, side: usize, size: f64, #[prop(into)] label: String) -> impl IntoView {
    let ink = pixels.iter().enumerate().filter(|(_, &p)| p > 0).map(|(i, _)| format!("M{} {}h1v1h-1z", i % side.max(1), i / side.max(1))).collect::<String>();
    view! {
        <svg class="drawing" width=size height=size viewBox=format!("0 0 {side} {side}") role="img" aria-label=label>
            <rect x="0" y="0" width=side height=side class="paper" />
            <path d=ink class="ink" />
        </svg>
    }
}

/// The episode of `report`: its drawings, the query's attention on each per block and head,
/// and its answer. `right`: the drawing of the query's class, where it is known (a held-out
/// episode's).
#[component]
pub fn EpisodeView(report: AttentionReport, right: Option<usize>, id: String) -> impl IntoView {
    let Some(episode) = report.episode.clone() else { return ().into_any() };
    let Some(site) = report.sites.first().cloned() else { return ().into_any() };
    let [blocks, heads, steps, _] = site.maps.shape();
    let query = steps.saturating_sub(1);
    let Episode { side, drawings, labels, ways, probabilities, answer } = episode;
    // The query's row, in each block and head.
    let weight = |b: usize, h: usize, k: usize| site.maps.weight(b, h, query, k);
    let last_block_mean = |k: usize| (0..heads).map(|h| weight(blocks - 1, h, k)).sum::<f32>() / heads.max(1) as f32;
    let looked = (0..query).fold(0, |best, k| if last_block_mean(k) > last_block_mean(best) { k } else { best });
    let cards = drawings
        .iter()
        .zip(&labels)
        .enumerate()
        .map(|(k, (pixels, label))| {
            let is_query = label.is_none();
            let name = label.map_or("query".to_string(), letter);
            let bars = (0..blocks)
                .flat_map(|b| (0..heads).map(move |h| (b, h)))
                .map(|(b, h)| {
                    let w = weight(b, h, k);
                    view! {
                        <li class="episode-weight" data-block=b.to_string() data-head=h.to_string() data-weight=format!("{w:.4}")
                            title=format!("block {}, head {}: the query's weight on this drawing", b + 1, h + 1)>
                            <span class="episode-head">{format!("{}·{}", b + 1, h + 1)}</span>
                            <span class="hop-bar" style=format!("width: {:.1}%", 60.0 * w.clamp(0.0, 1.0)) />
                            <span class="hop-number">{format!("{w:.2}")}</span>
                        </li>
                    }
                })
                .collect_view();
            let picked = !is_query && k == looked;
            let is_right = right == Some(k);
            view! {
                <li class="episode-card" class:query=is_query class:picked=picked class:right-example=is_right
                    data-step=k.to_string() data-label=name.clone() data-picked=picked.to_string() data-right=is_right.to_string()>
                    <Drawing pixels=pixels.clone() side size=56.0 label=format!("drawing {}: {name}", k + 1) />
                    <span class="episode-label">{if is_right { format!("{name} ✓") } else { name.clone() }}</span>
                    <ul class="episode-weights">{bars}</ul>
                </li>
            }
        })
        .collect_view();
    let odds = (0..ways)
        .map(|c| {
            let p = probabilities.get(c).copied().unwrap_or(0.0);
            view! {
                <li class="episode-class" class:answer=c == answer data-class=letter(c) data-probability=format!("{p:.4}")>
                    {letter(c)}
                    <span class="hop-bar" style=format!("width: {:.1}%", 60.0 * p.clamp(0.0, 1.0)) />
                    {format!("{:.0}%", 100.0 * p)}
                </li>
            }
        })
        .collect_view();
    let verdict = match right.and_then(|k| labels.get(k).copied().flatten()) {
        Some(class) if class == answer => " — right".to_string(),
        Some(class) => format!(" — wrong: it is {}", letter(class)),
        None => String::new(),
    };
    let caption = format!(
        "The query is {}{verdict} (chance: 1 in {ways}). Under each drawing, the query's weight on it in each attention block · head (causal: the query reads \
         every drawing before it, and itself). Outlined: the drawing the last block's heads weigh most on average.",
        letter(answer)
    );
    view! {
        <figure class="episode" data-testid=id data-answer=letter(answer) data-looked=looked.to_string()>
            <ol class="episode-cards">{cards}</ol>
            <ul class="episode-classes" aria-label="the query's probability of each class">{odds}</ul>
            <figcaption>{caption}</figcaption>
        </figure>
    }
    .into_any()
}
