//! Find induction heads: the standard probe (a first token, 50 random tokens, the
//! same 50 again, four seeds) run in the worker, every head ranked, and the selected
//! head's map on the probe with the induction cells marked, so that a person can see
//! why the top head earned its score. Longer probes (500 or 1,000 tokens a copy) run
//! pooled, as a long text does, and show the map in blocks.

use leptos::html::Canvas;
use leptos::prelude::*;
use report::analysis::probe::induction_cells;
use wasm_bindgen::JsCast;
use web_sys::CanvasRenderingContext2d;

use super::LabelledMap;
use crate::state::{Display, Probe, ProbeOutcome, ProbeState, Run, Selection};
use report::figure::colour::viridis;

/// The canvas's side in pixels, at most.
const SIDE: f64 = 420.0;

/// A cell's side in pixels for a probe of `n` tokens: whole pixels, so the squares stay sharp.
fn cell_px(n: usize) -> f64 {
    (SIDE / n.max(1) as f64).floor().max(2.0)
}

/// Draws one head's probe map, a square per weight (per block of tokens when the probe ran
/// pooled), and outlines the induction cells (marks the blocks that hold them).
fn draw(canvas: &web_sys::HtmlCanvasElement, outcome: &ProbeOutcome, layer: usize, head: usize) -> Option<()> {
    let maps = outcome.report.attention();
    let (n, block) = (maps.tokens(), pooled_block(outcome).unwrap_or(1));
    let cell = cell_px(n);
    let side = (cell * n as f64) as u32;
    canvas.set_width(side);
    canvas.set_height(side);
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let map = maps.head(layer, head);
    for q in 0..n {
        for k in 0..n {
            let (r, g, b) = viridis(map[q * n + k]);
            context.set_fill_style_str(&format!("rgb({r},{g},{b})"));
            context.fill_rect(k as f64 * cell, q as f64 * cell, cell, cell);
        }
    }
    context.set_stroke_style_str("rgb(230,57,70)");
    context.set_line_width(1.0);
    if block > 1 {
        // Blocks of a few pixels: outlines would hide them, so a line runs beside the blocks
        // that hold the induction cells, two blocks below them.
        let (first, last) = (induction_cells(outcome.offset, outcome.length).next()?, induction_cells(outcome.offset, outcome.length).last()?);
        let at = |(q, k): (usize, usize)| ((k / block) as f64 * cell + cell / 2.0, ((q / block) as f64 + 2.5) * cell);
        let ((x0, y0), (x1, y1)) = (at(first), at(last));
        context.begin_path();
        // (The canvas clips the end that falls past its edge.)
        context.move_to(x0, y0);
        context.line_to(x1, y1);
        context.stroke();
        return Some(());
    }
    for (q, k) in induction_cells(outcome.offset, outcome.length) {
        context.stroke_rect(k as f64 * cell + 0.5, q as f64 * cell + 0.5, cell - 1.0, cell - 1.0);
    }
    Some(())
}

/// The block size of a probe that ran pooled (its report's maps are block means).
fn pooled_block(outcome: &ProbeOutcome) -> Option<usize> {
    match outcome.report.sites.first()?.form {
        report::MapForm::Pooled { block, .. } => Some(block),
        _ => None,
    }
}

/// The probe view: the chosen head's map on the probe (the strongest induction head
/// until another row of the ranking is clicked), named, with its induction cells marked.
#[component]
fn ProbeView(
    /// The probe's result.
    outcome: std::sync::Arc<ProbeOutcome>,
) -> impl IntoView {
    let display = expect_context::<Display>();
    let probe = expect_context::<Probe>();
    let canvas = NodeRef::<Canvas>::new();
    let drawn = outcome.clone();
    Effect::new(move |_| {
        let (layer, head) = probe.head.get();
        if let Some(canvas) = canvas.get() {
            draw(&canvas, &drawn, layer, head);
        }
    });
    // The marked cells as "query,key" pairs, for whoever reads the page's data (tests).
    let cells: Vec<String> = induction_cells(outcome.offset, outcome.length).map(|(q, k)| format!("{q},{k}")).collect();
    let top = outcome.ranked().first().map(|s| (s.layer, s.head));
    let block = pooled_block(&outcome);
    let tokens: Vec<String> = outcome.report.tokens().iter().map(|t| t.text.clone()).collect();
    let (count, side_px) = (tokens.len(), cell_px(tokens.len()) * tokens.len() as f64);
    let tokens = Signal::stored(tokens);
    let caption = move || {
        let (layer, head) = probe.head.get();
        let score = outcome.scores.iter().find(|s| s.layer == layer && s.head == head).map_or(0.0, |s| s.induction);
        let which = if top == Some((layer, head)) { "the strongest induction head" } else { "an induction head" };
        match block {
            Some(b) => format!(
                "Layer {layer}, head {head}, {which} (score {score:.3}), on the first probe, its {count} tokens in blocks of {b} (each square the mean over its rows of the weight on its keys): an induction head's weight lies on the blocks just above the red line, from each token of the second copy to the token after its first occurrence."
            ),
            None => format!(
                "Layer {layer}, head {head}, {which} (score {score:.3}), on the first probe: red squares mark where an induction head looks, from each token of the second copy to the token after its first occurrence."
            ),
        }
    };
    let canvas_view = move || {
        match block {
        // Two thousand token labels would be unreadable: the pooled map stands alone.
        Some(_) => view! { <canvas node_ref=canvas role="img" aria-label="The head's map on the probe, pooled into blocks; a red line runs beside the induction pattern"></canvas> }.into_any(),
        None => view! {
            <LabelledMap queries=tokens keys=tokens side_px=side_px focus_bands=false>
                <canvas node_ref=canvas role="img" aria-label="The head's map on the probe; red squares mark the induction pattern"></canvas>
            </LabelledMap>
        }
        .into_any(),
    }
    };
    view! {
        <figure class="probe-view" data-testid="probe-view"
            data-layer=move || probe.head.get().0.to_string() data-head=move || probe.head.get().1.to_string()
            data-marked=cells.len().to_string() data-cells=cells.join(";")>
            {canvas_view()}
            <figcaption>{caption}
                // The induction cells are the model's: the map stays as computed.
                {move || (display.reading.get() != Default::default()).then_some(" The reading switches do not apply here: the map is as the model computed it, so the induction cells stand where the scores found them.")}
            </figcaption>
        </figure>
    }
}

#[component]
pub fn ProbePanel() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let probe = expect_context::<Probe>();
    let outcome = move || match probe.status.get() {
        ProbeState::Done(outcome) => Some(outcome),
        _ => None,
    };
    let busy = move || matches!(probe.status.get(), ProbeState::Running { .. } | ProbeState::Waiting) || selection.runs_own_masks();
    let status = move || match probe.status.get() {
        _ if selection.is_translator() => "The probe looks for induction heads in language models; a translator's encoder has none to find.".to_string(),
        _ if selection.is_speech() => "The probe looks for induction heads in language models; it does not run on a speech model.".to_string(),
        _ if selection.is_vision() => "The probe looks for induction heads in language models; a picture's patches have no order to copy.".to_string(),
        ProbeState::Idle => format!("Runs {} random tokens twice, four times, and ranks every head.", probe.length.get()),
        ProbeState::Waiting => "Waiting for the model to load; the probe runs as soon as it has.".to_string(),
        ProbeState::Running { done, total, layers: false } => format!("Probing: run {done} of {total}…"),
        ProbeState::Running { done, total, layers: true } => format!("Probing: {done} of {total} layers (four runs, their maps pooled)…"),
        ProbeState::Done(outcome) => format!("Probed in {:.1} s: {} tokens a run.", outcome.millis / 1000.0, outcome.report.tokens().len()),
        ProbeState::Failed(message) => format!("Error: {message}"),
    };
    let ranking = move |outcome: &ProbeOutcome| {
        let rows = outcome
            .ranked()
            .into_iter()
            .take(10)
            .map(|s| {
                let (layer, head) = (s.layer, s.head);
                view! {
                    <tr data-layer=layer.to_string() data-head=head.to_string() data-induction=format!("{:.6}", s.induction)
                        class:selected=move || probe.head.get() == (layer, head)
                        on:click=move |_| { probe.head.set((layer, head)); selection.layer.set(layer); selection.head.set(head); }>
                        <th scope="row">{format!("L{layer} H{head}")}</th>
                        <td>{format!("{:.4}", s.induction)}</td>
                        <td>{format!("{:.4}", s.previous_token)}</td>
                        <td data-positional=s.positional.map_or(String::new(), |p| format!("{p:.4}"))>{s.positional.map_or("—".to_string(), |p| format!("{p:.2}"))}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table data-testid="probe-table" class="weights probe">
                <caption>"The ten strongest induction heads (click one to see its pattern)"</caption>
                <thead><tr><th scope="col">"head"</th><th scope="col">"induction"</th><th scope="col">"previous token"</th>
                    <th scope="col" title="how much of the head's map over the first random copy its offset profile alone explains (the Offsets tab draws it)">"positional (random tokens)"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    };
    view! {
        <section class="probe-panel" aria-label="Induction heads">
            <h2>"Induction heads"</h2>
            <button class="toggle" data-testid="find-induction" disabled=busy
                on:click=move |_| {
                    // Without a model, and none loading (it failed), waiting would be forever.
                    let failed = run.loaded.with_untracked(Option::is_none) && matches!(run.status.get_untracked(), crate::state::Status::Failed(_));
                    probe.status.set(if failed { ProbeState::Failed("no model is loaded: choose one that loads".into()) } else { ProbeState::Waiting });
                }>"Find induction heads"</button>
            <label class="probe-length">"Random tokens a copy "
                <select data-testid="probe-length" disabled=busy
                    on:change=move |event| {
                        if let Ok(length) = event_target_value(&event).parse() {
                            probe.length.set(length);
                        }
                    }>
                    {crate::PROBE_LENGTHS.iter().map(|&length| view! {
                        <option value=length.to_string() selected=move || probe.length.get() == length>
                            {format!("{length}{}", if crate::probe_runs_pooled(length) { " (pooled, as a long text)" } else { "" })}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <span class="hint" data-testid="probe-status" role="status">{status}</span>
            // Nothing of the results is in the page until the probe has run.
            {move || outcome().map(|outcome| view! {
                <div class="probe-results">
                    {ranking(&outcome)}
                    <ProbeView outcome=outcome />
                </div>
            })}
        </section>
    }
}
