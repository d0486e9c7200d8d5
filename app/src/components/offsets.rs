//! Where the selected head looks by position: the mean weight its queries put on the key d
//! tokens back (d = 0: the query's own token; to the right of 0, d tokens ahead, where the mask
//! lets a query look ahead), and its positional score, how much of its map that profile alone
//! explains. The model's own weights, as the Math tab's (the reading switches leave it alone).
//! Once the induction probe has run, the same head over its random tokens beneath: a text with
//! no words to look by, so what is left is position.

use leptos::prelude::*;
use report::analysis::offsets::{positional_score, OffsetProfile};
use report::analysis::probe::random_part;

use crate::state::{Probe, ProbeState, Run, Selection, Tab};

/// The most offsets drawn each way (a longer text's far offsets hold little and few queries).
const MOST_OFFSETS: usize = 64;
const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 140.0;
const BOTTOM: f64 = 18.0;

#[component]
pub fn OffsetsView() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let probe = expect_context::<Probe>();
    move || {
        if selection.tab.get() != Tab::Offsets {
            return None;
        }
        let report = run.report.get()?;
        let maps = report.attention();
        let whole = report.sites.first().is_some_and(|s| s.form.is_whole());
        if !whole || maps.queries() != maps.keys() {
            return Some(
                view! { <p class="hint" data-testid="offsets-note">"Offsets need a head's whole map of a text's tokens over themselves."</p> }.into_any(),
            );
        }
        let (layer, head) = (selection.layer.get(), selection.head.get());
        if layer >= maps.layers() || head >= maps.heads() {
            return None;
        }
        let text = profile_figure(maps.head(layer, head), maps.keys(), (layer, head), "offsets", "the text");
        // The same head over random tokens, where it has no words to look by: the induction
        // probe's first run, up to the end of its first random copy (a causal map of its own).
        let random = match probe.status.get() {
            ProbeState::Done(outcome) if outcome.report.sites.first().is_some_and(|s| s.form.is_whole()) => {
                let maps = outcome.report.attention();
                let m = (outcome.offset + outcome.length).min(maps.keys());
                (layer < maps.layers() && head < maps.heads()).then(|| {
                    let part = random_part(maps.head(layer, head), maps.keys(), m);
                    profile_figure(&part, m, (layer, head), "offsets-random", &format!("{} random tokens (the induction probe's first copy)", outcome.length))
                })
            }
            _ => None,
        };
        let hint = random.is_none().then(|| {
            view! { <p class="hint" data-testid="offsets-random-hint">"Run “Find induction heads” below to see each head over random tokens too, where it has no words to look by."</p> }
        });
        Some(view! { {text} {random} {hint} }.into_any())
    }
}

/// One head's offset profile over a whole map [n, n] (`over`: what the map is of), as bars,
/// with its positional score.
fn profile_figure(map: &[f32], n: usize, (layer, head): (usize, usize), id: &'static str, over: &str) -> AnyView {
    let profile = OffsetProfile::of(map, n);
    let score = positional_score(map, n);
    // Offsets from the farthest ahead shown (negative) to the farthest back.
    let ahead = profile.ahead.iter().take(MOST_OFFSETS).rposition(|&w| w > 0.0).map_or(0, |i| i + 1);
    let back = profile.back.len().min(MOST_OFFSETS);
    let offsets: Vec<isize> = (-(ahead as isize)..0).chain(0..back as isize).collect();
    let step = WIDTH / offsets.len().max(1) as f64;
    let bars = offsets
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let w = profile.at(d);
            let tall = (HEIGHT - BOTTOM - 4.0) * f64::from(w.clamp(0.0, 1.0));
            let label = (d == 0 || d.unsigned_abs().is_multiple_of(if offsets.len() > 24 { 8 } else { 2 })).then(|| {
                view! { <text class="offset-label" x=format!("{:.1}", step * (i as f64 + 0.5)) y=format!("{:.1}", HEIGHT - 4.0)>{d.to_string()}</text> }
            });
            view! {
                <rect class="offset-bar" class:ahead=d < 0 x=format!("{:.1}", step * i as f64 + 0.5) y=format!("{:.1}", HEIGHT - BOTTOM - tall)
                    width=format!("{:.1}", (step - 1.0).max(0.5)) height=format!("{tall:.1}") data-offset=d.to_string() data-weight=format!("{w:.4}")>
                    <title>{format!("{d} back: mean weight {w:.4}")}</title>
                </rect>
                {label}
            }
        })
        .collect_view();
    let cut = (profile.back.len() > MOST_OFFSETS).then(|| format!(" (the first {MOST_OFFSETS} offsets of {})", profile.back.len()));
    view! {
        <figure class="offsets">
            <svg data-testid=id data-layer=layer.to_string() data-head=head.to_string() data-positional=format!("{score:.4}")
                width=WIDTH height=HEIGHT viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img"
                aria-label=format!("layer {layer}, head {head} over {over}: mean weight by offset; positional score {score:.2}")>
                {bars}
            </svg>
            <figcaption>
                {format!(
                    "Layer {layer}, head {head}, over {over}: the mean weight a query puts on the key d tokens back (0: itself; negative: ahead){}. \
                     Positional score {score:.2}: predicting each row from this profile alone gets {:.0}% of it right (1 − the mean \
                     total-variation distance); a previous-token head scores near 1, a head that looks by content far less.",
                    cut.unwrap_or_default(),
                    100.0 * score
                )}
            </figcaption>
        </figure>
    }
    .into_any()
}
