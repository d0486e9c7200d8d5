//! The model view: every layer × head as a thumbnail of its map, and each layer's
//! mean over its heads. Click a thumbnail to select the head; with the grid
//! focused, the arrow keys move the selection.

use leptos::html::Canvas;
use leptos::prelude::*;
use report::analysis::reading::{read, Side};
use report::analysis::summary::layer_mean;
use web_sys::KeyboardEvent;

use super::scores::{shown_scores, title};
use super::{ExportMenu, FocusBands, ReadingNote, Subject};
use crate::canvas::{paint_grid, CellImage, GridShape};
use crate::interventions::{EffectKind, SweepState};
use crate::state::Filling;
use crate::state::{AppState, GridColour};
use report::analysis::heads::HeadScores;
use report::figure::colour::{diverging, viridis, ColourScale, ValueScale};
use report::AttentionReport;
use std::sync::Arc;

/// While a long text's run goes on: its number and whether it has attended `layer` yet
/// (`None` when no long run is going on). What a thumbnail's attributes follow: the run's
/// later layers arriving change nothing here.
fn filling_of(state: AppState, layer: usize) -> Memo<Option<(u64, bool)>> {
    Memo::new(move |_| state.run.filling.with(|f| f.as_ref().map(|f| (f.run, f.layers.len() > layer))))
}

/// The colour of a thumbnail whose layer a long text's run has not attended yet.
const NOT_YET: (u8, u8, u8) = (236, 236, 236);

/// What every thumbnail shows, read from the state once for the whole grid.
struct GridPainting {
    colouring: GridColour,
    values: Option<Vec<Vec<f32>>>,
    scale: ColourScale,
    value_scale: ValueScale,
    filling: Option<Arc<Filling>>,
    report: Option<Arc<AttentionReport>>,
}

impl GridPainting {
    fn read(state: AppState) -> Self {
        Self {
            colouring: state.display.grid_colour.get(),
            values: state.display.grid_values.get(),
            scale: state.display.colour_scale.get(),
            value_scale: state.display.value_scale.get(),
            filling: state.run.filling.get(),
            report: state.run.report.get(),
        }
    }

    /// Whether the thumbnails show maps (not each head's value as one colour).
    fn shows_maps(&self) -> bool {
        self.values.is_none() || self.colouring == GridColour::Maps
    }

    /// One head's thumbnail.
    fn head(&self, state: AppState, layer: usize, head: usize) -> Option<CellImage> {
        let (scale, value_scale) = (self.scale, self.value_scale);
        // One flat colour: the head's value (look-ahead mass, a score, an effect) on the
        // scale of the largest; signed values blue–white–red around 0. Until the values are
        // there (the other mask still running, a sweep of this text not run), the maps.
        if let Some(values) = self.values.as_ref().filter(|_| !self.shows_maps()) {
            let value = values.get(layer).and_then(|l| l.get(head)).copied().unwrap_or(0.0);
            let top = values.iter().flatten().fold(f32::MIN_POSITIVE, |m, v| m.max(v.abs()));
            let colour = if self.colouring.is_signed() { diverging(value / top) } else { viridis(value / top) };
            return Some(CellImage::flat(colour));
        }
        // A long text's run going on: the layers it has attended, pooled as the report will
        // hold them (painted as they are); the layers still to come blank.
        if let Some(filling) = &self.filling {
            return Some(match filling.head(layer, head) {
                Some(map) => CellImage::thumbnail(map, (filling.blocks, filling.blocks), &|w| scale.colour(value_scale.fraction(w, 1.0))),
                None => CellImage::flat(NOT_YET),
            });
        }
        let report = self.report.as_ref()?;
        if layer >= report.attention().layers() || head >= report.attention().heads() {
            return None;
        }
        // Weighted and read as the heatmap is (by value norms, each on the scale of its
        // own largest cell; the first token hidden; by words).
        let map = state.map_of(report, layer, head);
        Some(CellImage::thumbnail(map.values(), (map.rows(), map.columns()), &|w| scale.colour(value_scale.fraction(w, map.top))))
    }

    /// A layer's mean over its heads.
    fn layer_mean(&self, state: AppState, layer: usize) -> Option<CellImage> {
        let (scale, value_scale) = (self.scale, self.value_scale);
        let colour = |w| scale.colour(value_scale.fraction(w, 1.0));
        if let Some(filling) = &self.filling {
            return Some(match filling.layer_mean(layer) {
                Some(mean) => CellImage::thumbnail(&mean, (filling.blocks, filling.blocks), &colour),
                None => CellImage::flat(NOT_YET),
            });
        }
        let report = self.report.as_ref()?;
        if layer >= report.attention().layers() {
            return None;
        }
        // Read as the heads are: the mean's rows renormalised without the first token
        // (pooling and the mean commute).
        let mean = layer_mean(report.attention(), layer);
        // A long text's maps are pooled blocks: its mean is painted as it is.
        if !report.sites[0].form.is_whole() {
            let blocks = report.attention().tokens();
            return Some(CellImage::thumbnail(&mean, (blocks, blocks), &colour));
        }
        let side = Side { tokens: report.tokens(), text: "" };
        let read = state.run.report_text.with(|text| read(&mean, Side { text, ..side }, Side { text, ..side }, state.display.reading.get(), true));
        Some(CellImage::thumbnail(&read.values, (read.rows.len(), read.columns.len()), &colour))
    }
}

/// What the grid's canvas shows of a long text's run going on: its layers up to `layers`
/// painted, in these colours, on squares of this shape.
#[derive(Clone, Copy, PartialEq)]
struct FillingPainted {
    run: u64,
    blocks: usize,
    colours: (ColourScale, ValueScale),
    shape: GridShape,
    layers: usize,
}

/// Every thumbnail and each layer's mean, painted on one canvas that lies under the grid's
/// cells (the cells above it take the clicks, the outline and the marks): `layers` rows of
/// `heads` thumbnails and a mean.
#[component]
fn GridCanvas(layers: usize, heads: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas = NodeRef::<Canvas>::new();
    // A long text's run paints each layer as it arrives, not the whole grid again each time.
    let painted = StoredValue::new(None::<FillingPainted>);
    Effect::new(move |_| {
        let Some(canvas) = canvas.get() else { return };
        let painting = GridPainting::read(state);
        let painting = &painting;
        let row =
            |layer: usize| (0..=heads).map(move |column| if column < heads { painting.head(state, layer, column) } else { painting.layer_mean(state, layer) });
        let filling = painting.filling.as_ref().filter(|_| painting.shows_maps());
        let colours = (painting.scale, painting.value_scale);
        let earlier = painted
            .get_value()
            .filter(|p| filling.is_some_and(|f| p.run == f.run && p.blocks == f.blocks && p.colours == colours && p.layers <= f.layers.len()));
        let (shape, first) = match earlier {
            Some(earlier) => {
                let arrived = filling.map_or(0, |f| f.layers.len()).min(layers);
                let cells: Vec<Option<CellImage>> = (earlier.layers..arrived).flat_map(row).collect();
                paint_grid(&canvas, earlier.shape, earlier.layers, &cells);
                (earlier.shape, arrived)
            }
            None => {
                let cells: Vec<Option<CellImage>> = (0..layers).flat_map(row).collect();
                let shape = GridShape::fitting(layers, heads + 1, &cells);
                paint_grid(&canvas, shape, 0, &cells);
                (shape, filling.map_or(0, |f| f.layers.len()))
            }
        };
        painted.set_value(filling.map(|f| FillingPainted { run: f.run, blocks: f.blocks, colours, shape, layers: first }));
    });
    view! {
        <canvas node_ref=canvas class="grid-canvas" data-testid="grid-canvas" aria-hidden="true"
            style=format!("grid-row: 2 / span {layers}; grid-column: 2 / span {}", heads + 1)></canvas>
    }
}

/// One head's cell of the grid, over its thumbnail.
#[component]
fn Thumb(layer: usize, head: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let filling_of_layer = filling_of(state, layer);
    let selected = move || state.selection.layer.get() == layer && state.selection.head.get() == head;
    let id = report::HeadId { layer, head };
    // While a long text's run goes on: whether this head's layer is shown yet, and where its
    // map looks on average (the weighted mean column block, what a test compares with the engine's).
    let filled = move || filling_of_layer.get().map(|(_, arrived)| arrived.to_string());
    let filled_centre = move || {
        filling_of_layer.get().filter(|(_, arrived)| *arrived)?;
        state.run.filling.with_untracked(|f| f.as_ref()?.head(layer, head).map(|map| format!("{:.6}", Filling::centre(map))))
    };
    let value = move || state.display.grid_values.with(|v| v.as_ref().and_then(|v| v.get(layer)?.get(head).copied())).map(|v| format!("{v:.6}"));
    view! {
        <div
            class="thumb"
            class:selected=selected
            class:ablated=move || state.interventions.is_ablated(id)
            data-ablated=move || state.interventions.is_ablated(id).to_string()
            data-value=value
            data-filled=filled
            data-filled-centre=filled_centre
            role="gridcell"
            aria-selected=move || selected().to_string()
            data-testid="head-thumb"
            data-layer=layer.to_string()
            data-head=head.to_string()
            title=format!("Layer {layer}, head {head}")
            on:click=move |_| {
                state.selection.layer.set(layer);
                state.selection.head.set(head);
            }
        >
            <FocusBands />
        </div>
    }
}

/// A layer's mean's cell of the grid.
#[component]
fn LayerMean(layer: usize) -> impl IntoView {
    view! {
        <div class="thumb mean" role="gridcell" data-testid="layer-mean" data-layer=layer.to_string()
             title=format!("Layer {layer}: mean of its heads")></div>
    }
}

/// Colours the grid by `choice`: `maps`, `lookahead` or a score's name.
fn pick_colouring(state: AppState, choice: &str) {
    let colouring = match choice {
        "lookahead" => {
            state.selection.compare.set(true); // the look-ahead mass needs the unmasked run
            GridColour::Lookahead
        }
        "change" => GridColour::Change,
        effect if EffectKind::from_name(effect).is_some() => {
            let kind = EffectKind::from_name(effect).unwrap_or(EffectKind::Ablation);
            // Colouring by a sweep not run yet runs it.
            if state.interventions.found_by(kind).is_none() {
                state.interventions.sweep.set(SweepState::Asked(kind));
            }
            GridColour::Effect(kind)
        }
        name => HeadScores::SHOWN.into_iter().find(|n| *n == name).map_or(GridColour::Maps, GridColour::Score),
    };
    state.display.grid_colour.set(colouring);
}

/// The grid of every head.
#[component]
pub fn HeadGrid() -> impl IntoView {
    let state = expect_context::<AppState>();
    let shape = move || state.run.loaded.get().map(|(info, _)| (info.layers, info.heads));

    let on_key = move |ev: KeyboardEvent| {
        let Some((layers, heads)) = shape() else { return };
        let (layer, head) = (state.selection.layer.get_untracked(), state.selection.head.get_untracked());
        let (layer, head) = match ev.key().as_str() {
            "ArrowRight" => (layer, (head + 1).min(heads - 1)),
            "ArrowLeft" => (layer, head.saturating_sub(1)),
            "ArrowDown" => ((layer + 1).min(layers - 1), head),
            "ArrowUp" => (layer.saturating_sub(1), head),
            _ => return,
        };
        ev.prevent_default(); // the arrows move the selection, not the page
        state.selection.layer.set(layer);
        state.selection.head.set(head);
    };

    move || {
        let (layers, heads) = shape()?;
        let rows = (0..layers)
            .map(|layer| {
                let thumbs = (0..heads).map(|head| view! { <Thumb layer=layer head=head /> }).collect_view();
                view! {
                    <div class="layer-label" role="rowheader">{format!("L{layer}")}</div>
                    {thumbs}
                    <LayerMean layer=layer />
                }
            })
            .collect_view();
        let header = (0..heads).map(|head| view! { <div class="head-label" role="columnheader">{format!("H{head}")}</div> }).collect_view();
        Some(view! {
            <section class="model-view" aria-label="Every head">
                <h2>"Every head"</h2>
                <p class="hint">"Click a head, or focus the grid and use the arrow keys. The last column is each layer's mean."<ReadingNote /></p>
                <label class="picker grid-picker">
                    <span class="label">"Grid shows"</span>
                    <select data-testid="score-select" on:change=move |ev| pick_colouring(state, &event_target_value(&ev))>
                        <option value="maps" selected=move || state.display.grid_colour.get() == GridColour::Maps>"each head's map"</option>
                        <option value="lookahead" selected=move || state.display.grid_colour.get() == GridColour::Lookahead>"look-ahead mass (mask off)"</option>
                        {move || {
                            let picture = state.selection.is_vision();
                            shown_scores(picture).iter().map(|&name| view! {
                                <option value=name selected=move || state.display.grid_colour.get() == GridColour::Score(name)>{title(name, picture)}</option>
                            }).collect_view()
                        }}
                        <option value="change" selected=move || state.display.grid_colour.get() == GridColour::Change
                            disabled=move || state.interventions.ablated.with(Vec::is_empty)>"change from every head on"</option>
                        {EffectKind::ALL.map(|kind| view! {
                            <option value=kind.name() selected=move || state.display.grid_colour.get() == GridColour::Effect(kind)>{kind.title()}</option>
                        })}
                    </select>
                </label>
                <ExportMenu subject=Subject::Grid test_id="grid-export" />
                <div
                    data-testid="head-grid"
                    class="head-grid"
                    role="grid"
                    tabindex="0"
                    aria-label="Heads by layer: arrow keys move the selection"
                    style=format!("grid-template-columns: auto repeat({}, 1fr)", heads + 1)
                    on:keydown=on_key
                >
                    <div></div>
                    {header}
                    <div class="head-label" role="columnheader">"mean"</div>
                    <GridCanvas layers=layers heads=heads />
                    {rows}
                </div>
            </section>
        })
    }
}
