//! Find induction heads: the standard probe (a first token, 50 random tokens, the
//! same 50 again, four seeds) run in the worker, every head ranked, and the selected
//! head's map on the probe with the induction cells marked, so that a person can see
//! why the top head earned its score.

use engine::analysis::probe::ProbeScores;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::CanvasRenderingContext2d;

use crate::colormap::viridis;
use crate::{AppState, ProbeOutcome, ProbeState};

/// The canvas's side in pixels, at most.
const SIDE: f64 = 420.0;

/// The (query, key) cells an induction head attends to on the probe: from each token
/// of the second copy to the token after its earlier occurrence.
pub fn induction_cells(offset: usize, length: usize) -> Vec<(usize, usize)> {
    (0..length).map(|i| (offset + length + i, offset + i + 1)).collect()
}

/// Draws one head's probe map, a square per weight, and outlines the induction cells.
fn draw(canvas: &web_sys::HtmlCanvasElement, outcome: &ProbeOutcome, layer: usize, head: usize) -> Option<()> {
    let n = outcome.report.tokens.len();
    let cell = (SIDE / n as f64).floor().max(2.0);
    let side = (cell * n as f64) as u32;
    canvas.set_width(side);
    canvas.set_height(side);
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let map = outcome.report.attention.head(layer, head);
    for q in 0..n {
        for k in 0..n {
            let (r, g, b) = viridis(map[q * n + k]);
            context.set_fill_style_str(&format!("rgb({r},{g},{b})"));
            context.fill_rect(k as f64 * cell, q as f64 * cell, cell, cell);
        }
    }
    context.set_stroke_style_str("rgb(230,57,70)");
    context.set_line_width(1.0);
    for (q, k) in induction_cells(outcome.offset, outcome.length) {
        context.stroke_rect(k as f64 * cell + 0.5, q as f64 * cell + 0.5, cell - 1.0, cell - 1.0);
    }
    Some(())
}

#[component]
pub fn ProbePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas = NodeRef::<Canvas>::new();
    let outcome = move || match state.probe.get() {
        ProbeState::Done(outcome) => Some(outcome),
        _ => None,
    };
    Effect::new(move |_| {
        if let (Some(canvas), Some(outcome)) = (canvas.get(), outcome()) {
            draw(&canvas, &outcome, state.layer.get(), state.head.get());
        }
    });
    let running = move || matches!(state.probe.get(), ProbeState::Running { .. });
    let status = move || match state.probe.get() {
        ProbeState::Idle => "Runs 50 random tokens twice, four times, and ranks every head.".to_string(),
        ProbeState::Running { done, total } => format!("Probing: run {done} of {total}…"),
        ProbeState::Done(outcome) => format!("Probed in {:.1} s: {} tokens a run.", outcome.millis / 1000.0, outcome.report.tokens.len()),
        ProbeState::Failed(message) => format!("Error: {message}"),
    };
    let ranking = move || {
        let outcome = outcome()?;
        let mut scores: Vec<ProbeScores> = outcome.scores.clone();
        scores.sort_by(|a, b| b.induction.total_cmp(&a.induction));
        let rows = scores
            .into_iter()
            .take(10)
            .map(|s| {
                let (layer, head) = (s.layer, s.head);
                view! {
                    <tr data-layer=layer.to_string() data-head=head.to_string() data-induction=format!("{:.6}", s.induction)
                        class:selected=move || state.layer.get() == layer && state.head.get() == head
                        on:click=move |_| { state.layer.set(layer); state.head.set(head); }>
                        <th scope="row">{format!("L{layer} H{head}")}</th>
                        <td>{format!("{:.4}", s.induction)}</td>
                        <td>{format!("{:.4}", s.previous_token)}</td>
                    </tr>
                }
            })
            .collect_view();
        Some(view! {
            <table data-testid="probe-table" class="weights probe">
                <caption>"The ten strongest induction heads (click one to see its pattern)"</caption>
                <thead><tr><th scope="col">"head"</th><th scope="col">"induction"</th><th scope="col">"previous token"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        })
    };
    view! {
        <section class="probe-panel" aria-label="Induction heads">
            <h2>"Induction heads"</h2>
            <button class="toggle" data-testid="find-induction" disabled=running
                on:click=move |_| state.probe_asked.update(|n| *n += 1)>"Find induction heads"</button>
            <span class="hint" data-testid="probe-status">{status}</span>
            <div class="probe-results" class:hidden=move || outcome().is_none()>
                {ranking}
                <figure class="probe-view" data-testid="probe-view"
                    data-layer=move || state.layer.get().to_string() data-head=move || state.head.get().to_string()
                    data-marked=move || outcome().map(|o| o.length.to_string())>
                    <canvas node_ref=canvas role="img" aria-label="The selected head on the probe; red squares mark the induction pattern"></canvas>
                    <figcaption>{move || format!(
                        "Layer {}, head {} on the probe: red squares mark where an induction head looks (each second-copy token to the token after its first occurrence).",
                        state.layer.get(), state.head.get())}</figcaption>
                </figure>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::induction_cells;

    #[test]
    fn the_induction_cells_point_past_the_earlier_occurrence() {
        // First token, copy "A B", copy "A B": the second A (3) looks at the first B (2).
        assert_eq!(induction_cells(1, 2), vec![(3, 2), (4, 3)]);
    }
}
