//! Where each translated token looked: a translation's cross-attention as the picture
//! Bahdanau et al. (2014, figure 3) made famous, the translation's tokens as rows and
//! the source's as columns, for one head, a layer's mean or the mean of every head; and
//! a grid of every cross-attention head to choose from. Hovering a translated token
//! lights its row; hovering a source token in the token strip, its column.

use leptos::html::Canvas;
use leptos::prelude::*;
use report::analysis::arithmetic::{scoring_text, steps, Recipe};
use report::analysis::reading::{read, ReadMap, Reading, Side};
use report::{AttentionMaps, AttentionReport, LayerScores};

use super::lines::LinePairs;
use super::{token_label, ExportMenu, LabelledMap, ReadingNote, Subject};
use crate::canvas::paint_pixels;
use crate::state::{Alignment, Display, Run, Selection};

/// The alignment map's larger side in CSS pixels.
const ALIGNMENT_PX: f64 = 360.0;

/// A map of the report's cross-attention ([target, source]) read as every map is: the
/// first source token hidden, pieces as words (the translation's from its own text).
pub fn read_cross(report: &AttentionReport, values: &[f32], reading: Reading, input: &str) -> ReadMap {
    let translation = report.translation.as_ref().map_or("", |t| t.text.as_str());
    let tokens_of = |name: &str| report.sequence(name).map_or(&[][..], |s| s.tokens.as_slice());
    let (queries, keys) = report.site("cross").map_or(("target", "source"), |c| (c.queries.as_str(), c.keys.as_str()));
    read(values, Side { tokens: tokens_of(queries), text: translation }, Side { tokens: tokens_of(keys), text: input }, reading, true)
}

/// A map painted a pixel per weight, scaled up by CSS to `width` × `height`.
#[component]
fn PixelMap(values: Vec<f32>, rows: usize, columns: usize, width: f64, height: f64, label: String) -> impl IntoView {
    let display = expect_context::<Display>();
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let (scale, value_scale) = (display.colour_scale.get(), display.value_scale.get());
        if let Some(canvas) = canvas.get() {
            paint_pixels(&canvas, &values, (rows, columns), &|w| scale.colour(value_scale.fraction(w, 1.0)));
        }
    });
    view! { <canvas node_ref=canvas role="img" aria-label=label style=format!("width: {width:.0}px; height: {height:.0}px")></canvas> }
}

/// The arithmetic of one row of a cross-attention head: for a translated token, every
/// source token's raw q·k (q from the decoder, k from the encoder), scaled as the model does (1/√d_k)
/// and softmaxed (nothing is masked: the decoder sees the whole source), beside the
/// model's own weight.
fn row_arithmetic(scores: &LayerScores, maps: &AttentionMaps, head: usize, query: usize, source: &[String]) -> impl IntoView {
    let dot = &scores.dot[head][query];
    let row = steps(dot, &vec![true; dot.len()], scores.scoring, Recipe::default());
    let scaling = scoring_text(scores.scoring, scores.head_dim);
    let rows = source
        .iter()
        .enumerate()
        .map(|(k, label)| {
            let model = maps.weight(scores.layer, head, query, k);
            view! {
                <tr data-key=k.to_string()>
                    <th scope="row">{token_label(label)}</th>
                    <td class="dot">{format!("{:.4}", row.dot[k])}</td>
                    <td class="scaled">{format!("{:.4}", row.scaled[k])}</td>
                    <td class="weight">{format!("{:.4}", row.weights[k])}</td>
                    <td class="model">{format!("{model:.4}")}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table data-testid="alignment-math" class="weights math">
            <caption>{format!("q·k with q from the decoder and k from the encoder, {scaling}, softmax over the source")}</caption>
            <thead><tr><th scope="col">"source token"</th><th scope="col">"q·k"</th><th scope="col">{scaling.clone()}</th><th scope="col">"softmax"</th><th scope="col">"model"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
pub fn AlignmentView() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let run = expect_context::<Run>();
    // The translated token whose row the arithmetic shows.
    let math_query = RwSignal::new(0usize);
    move || {
        let report = run.report.get()?;
        // A translation's block: a speech model's cross-attention reads 1,500 frames of sound,
        // which the speech views pool and label with times.
        report.translation.as_ref()?;
        let cross = report.site("cross")?.clone();
        let labels = |name: &str| -> Vec<String> { report.sequence(name).map(|s| s.tokens.iter().map(|t| t.text.clone()).collect()).unwrap_or_default() };
        // The model's own source tokens, for the arithmetic of a row (which the reading leaves alone).
        let (model_target, model_source) = (labels(&cross.queries), labels(&cross.keys));
        let [layers, heads, ..] = cross.maps.shape();
        let choice = display.alignment.get();
        let choice = if choice.map(&cross.maps).is_some() { choice } else { Alignment::AllHeads };
        let (reading, input) = (display.reading.get(), run.report_text.get());
        let read_map = |values: &[f32]| read_cross(&report, values, reading, &input);
        let shown = read_map(&choice.map(&cross.maps).unwrap_or_default());
        let (target, source) = (shown.rows.labels.clone(), shown.columns.labels.clone());
        let (rows, columns) = (target.len(), source.len());
        let values = shown.values.clone();
        // Square cells, the larger side ALIGNMENT_PX at most.
        let cell = (ALIGNMENT_PX / rows.max(columns).max(1) as f64).min(40.0);
        let (width, height) = (cell * columns as f64, cell * rows as f64);
        let (row_axis, column_axis) = (shown.rows.clone(), shown.columns.clone());
        let focus = Signal::derive(move || {
            let row = selection.focused_target().and_then(|i| row_axis.index_of(i)).map(|i| (i, rows));
            let column = run.focused_token(&selection).and_then(|i| column_axis.index_of(i)).map(|i| (i, columns));
            (row, column)
        });
        let (layer_attr, head_attr) = choice.attributes();
        let options =
            Alignment::all(layers, heads).into_iter().map(|a| view! { <option value=a.name() selected=a == choice>{a.title()}</option> }).collect_view();
        let thumb = |a: Alignment, maps: &AttentionMaps| {
            let values = read_map(&a.map(maps).unwrap_or_default()).values;
            let (layer, head) = a.attributes();
            view! {
                <button class="thumb cross-thumb" class:selected=move || display.alignment.get() == a
                    data-testid="cross-thumb" data-layer=layer data-head=head title=a.title()
                    on:click=move |_| display.alignment.set(a)>
                    <PixelMap values=values rows=rows columns=columns width=44.0 height=44.0 label=a.title() />
                </button>
            }
        };
        let grid = (0..layers)
            .map(|l| {
                let cells = (0..heads).map(|h| thumb(Alignment::Head(l, h), &cross.maps)).collect_view();
                view! { <div class="cross-row"><span class="cross-layer">{format!("L{l}")}</span>{cells}{thumb(Alignment::LayerMean(l), &cross.maps)}</div> }
            })
            .collect_view();
        let all_heads = thumb(Alignment::AllHeads, &cross.maps);
        // The numbers, as the table's text alternative to the picture.
        let header = source.iter().map(|l| view! { <th scope="col">{token_label(l)}</th> }).collect_view();
        let body = target
            .iter()
            .enumerate()
            .map(|(q, label)| {
                let cells = values[q * columns..(q + 1) * columns].iter().map(|w| view! { <td>{format!("{w:.4}")}</td> }).collect_view();
                view! { <tr><th scope="row">{token_label(label)}</th>{cells}</tr> }
            })
            .collect_view();
        // The same weights as lines: the source on the left, the translation on the right.
        let mut by_source = vec![0.0; rows * columns];
        for (q, row) in values.chunks(columns.max(1)).enumerate() {
            for (k, &w) in row.iter().enumerate() {
                by_source[k * rows + q] = w;
            }
        }
        let (row_axis, column_axis) = (shown.rows.clone(), shown.columns.clone());
        let outside = Signal::derive(move || {
            (run.focused_token(&selection).and_then(|i| column_axis.index_of(i)), selection.focused_target().and_then(|i| row_axis.index_of(i)))
        });
        let lines = view! {
            <LinePairs left=source.clone() right=target.clone() weights=by_source outside=outside test_id="cross-lines"
                classes=("source-token", "target-token")
                label=format!("Cross-attention, {}, as lines from the source (left) to the translation (right)", choice.title())
                caption="Left: the source. Right: the translation. A line's strength is how much the decoder looked at that source token while writing that translated token." />
        };
        // For one head: the arithmetic of a row, from the real scores; an RNN aligner's one
        // attention from the queries and keys its run kept.
        let query = math_query.get().min(model_target.len().saturating_sub(1));
        let choices = model_target
            .iter()
            .enumerate()
            .map(|(i, t)| view! { <option value=i.to_string() selected=i == query>{format!("{i}: {}", token_label(t))}</option> })
            .collect_view();
        let worked = match (&report.alignment_arithmetic, choice) {
            (Some(arithmetic), _) => Some(super::alignment_math::aligner_step(arithmetic, &cross.maps, query, &model_source).into_any()),
            (None, Alignment::Head(layer, head)) => {
                cross.scores_of(layer).filter(|s| head < s.dot.len()).map(|scores| row_arithmetic(scores, &cross.maps, head, query, &model_source).into_any())
            }
            _ => None,
        };
        let arithmetic = worked.map(|worked| {
            view! {
                <details class="alignment-arithmetic" open>
                    <summary>"The arithmetic of a row"</summary>
                    <label class="picker">
                        <span class="label">"Translated token"</span>
                        <select data-testid="alignment-math-query" on:change=move |ev| math_query.set(event_target_value(&ev).parse().unwrap_or(0))>{choices}</select>
                    </label>
                    {worked}
                </details>
            }
        });
        let table = view! {
            <details class="alignment-numbers">
                <summary>"The numbers"</summary>
                <div class="table-wrap">
                    <table data-testid="alignment-table" class="weights">
                        <caption>{format!("Cross-attention, {}: rows are the translation's tokens, columns the source's", choice.title())}</caption>
                        <thead><tr><th scope="col">"target \\ source"</th>{header}</tr></thead>
                        <tbody>{body}</tbody>
                    </table>
                </div>
            </details>
        };
        let title = format!("Cross-attention of the translation over the source: {}", choice.title());
        // An RNN aligner has one attention: no head to choose, no grid of heads to choose from.
        let one_head = layers * heads == 1;
        let heading = if super::story_hops::is_memory_network(&report) {
            "Where the question looked, hop by hop (a hop is a layer)"
        } else {
            "Where each translated token looked"
        };
        Some(view! {
            <section class="alignment" aria-label=heading>
                <h2>{heading}</h2>
                <label class="picker" class:hidden=one_head>
                    <span class="label">"Cross-attention"</span>
                    <select data-testid="alignment-select" on:change=move |ev| {
                        if let Some(a) = Alignment::from_name(&event_target_value(&ev)) {
                            display.alignment.set(a);
                        }
                    }>{options}</select>
                </label>
                <ExportMenu subject=Subject::Alignment test_id="alignment-export" />
                <div class="alignment-body">
                    <figure class="alignment-map" data-testid="alignment-map" data-site=cross.name.clone()
                        data-layer=layer_attr data-head=head_attr data-rows=rows.to_string() data-columns=columns.to_string()>
                        <LabelledMap queries=target keys=source side_px=width height_px=height focus=focus>
                            <PixelMap values=values rows=rows columns=columns width=width height=height label=title />
                        </LabelledMap>
                        <figcaption>"Rows: the translation's tokens. Columns: the source's. Each row is where the decoder looked"
                            {if one_head { String::new() } else { format!(", over {},", choice.title()) }}" while it wrote that token."<ReadingNote /></figcaption>
                        {table}
                        {arithmetic}
                    </figure>
                    <div class="cross-grid" class:hidden=one_head data-testid="cross-grid" role="group" aria-label="Every cross-attention head">
                        {grid}
                        <div class="cross-row"><span class="cross-layer">"all"</span>{all_heads}</div>
                    </div>
                    {lines}
                </div>
            </section>
        })
    }
}
