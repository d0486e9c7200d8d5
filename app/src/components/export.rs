//! Taking a view away: the figure on screen as an SVG (labels as text, each cell a
//! rectangle of its colour) or a PNG at 1×, 2× or 4×, drawn by the same figure code as
//! the page and the CLI; the run's report as JSON, or under the Hugging Face / BertViz
//! names for a notebook.

use super::alignment::read_cross;
use crate::snapshot::SiteMaps;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use report::analysis::shown::{ShownMap, Weighting};
use report::figure::{reading_note, ColourScale, Figure, GridFigure, HeatmapFigure, LinesFigure, Theme, Thumbnail, ValueScale};
use wasm_bindgen::JsCast;

use crate::state::{AppState, Tab};

/// What the menu can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    Svg,
    Png(u32),
    Report,
    Hf,
    /// One HTML file that shows this run's maps offline.
    Html,
}

impl Export {
    const ALL: [(Export, &'static str, &'static str); 7] = [
        (Export::Svg, "svg", "SVG (vector)"),
        (Export::Png(1), "png1", "PNG 1×"),
        (Export::Png(2), "png2", "PNG 2×"),
        (Export::Png(4), "png4", "PNG 4×"),
        (Export::Report, "json", "Report (JSON)"),
        (Export::Hf, "hf", "BertViz / Hugging Face (JSON)"),
        (Export::Html, "html", "Offline page (HTML)"),
    ];
}

/// Which figure an export menu makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The selected head, as its tab shows it (the lines tab as lines, the others as a heatmap).
    SelectedHead,
    /// Every head.
    Grid,
    /// The selected head under both masks, and their difference.
    Compare,
    /// A translation's cross-attention as the alignment view shows it.
    Alignment,
}

impl AppState {
    /// The model's name and the figure's title, as the CLI titles its figures.
    fn titled(&self, report: &report::AttentionReport, place: &str) -> (String, String) {
        let model = report.model.name.clone();
        // The page's head views show the first site (a translator's encoder): named when there are more.
        let site = (report.sites.len() > 1).then(|| report.sites[0].name.as_str());
        let title = report::figure::title(&model, place, site, self.weighting_shown(report).title());
        (model, title)
    }

    /// What the maps really show: norms only when the report carries them.
    fn weighting_shown(&self, report: &report::AttentionReport) -> Weighting {
        match report.value_norms {
            Some(_) => self.display.weighting.get_untracked(),
            None => Weighting::Attention,
        }
    }

    /// The grid as the page colours it by one value per head ([layer][head]): what the
    /// values are in its title; an effect's blue–white–red around 0.
    fn values_grid(&self, report: &report::AttentionReport, values: &[Vec<f32>], note: Option<String>) -> (Figure, String) {
        let colouring = self.display.grid_colour.get_untracked();
        let top = values.iter().flatten().fold(f32::MIN_POSITIVE, |m, v| m.max(v.abs()));
        let heads = values.iter().map(|layer| layer.iter().map(|&v| Thumbnail { rows: 1, columns: 1, values: vec![v], top }).collect()).collect();
        let (what, slug) = match colouring {
            crate::state::GridColour::Effect(kind) => {
                let answer = self.interventions.found_by(kind).map(|f| format!(" on the {}", f.effects.answer.describe())).unwrap_or_default();
                (format!("{}{answer}", kind.title()), kind.name().to_string())
            }
            crate::state::GridColour::Change => ("change of each map with the heads switched off".to_string(), "change".to_string()),
            crate::state::GridColour::Lookahead => ("look-ahead mass".to_string(), "lookahead".to_string()),
            crate::state::GridColour::Score(name) => (super::scores::title(name, report.picture.is_some()), name.to_string()),
            crate::state::GridColour::Maps => (String::new(), String::new()),
        };
        let (value_scale, colours) =
            if colouring.is_signed() { (ValueScale::Signed, ColourScale::Diverging) } else { (ValueScale::Linear, ColourScale::Viridis) };
        let model = report.model.name.clone();
        let grid = GridFigure {
            heads,
            value_scale,
            colours,
            selected: Some((self.selection.layer.get_untracked(), self.selection.head.get_untracked())),
            title: Some(format!("{model}: every head, {what}")),
            note,
        };
        (Figure::Grid(grid), format!("attnscope-{model}-grid-{slug}"))
    }

    /// The figure an export of `subject` saves, and the file name it goes under (without
    /// its extension).
    pub fn figure_of(&self, subject: Subject) -> Option<(Figure, String)> {
        let note = reading_note(self.display.reading.get_untracked(), self.display.value_scale.get_untracked());
        match subject {
            Subject::SelectedHead => {
                let (report, layer, head, map) = self.run.shown_map()?;
                let (model, title) = self.titled(&report, &format!("layer {layer}, head {head}"));
                let name = format!("attnscope-{model}-L{layer}H{head}");
                if self.selection.tab.get_untracked() == Tab::Overlay {
                    let heads = self.display.overlay_heads.get_untracked().iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", ");
                    let (_, title) = self.titled(&report, &format!("layer {layer}, heads {heads}"));
                    let figure = HeatmapFigure { title: Some(title), note, ..self.overlay_figure()? };
                    return Some((Figure::Heatmap(figure), format!("attnscope-{model}-L{layer}-overlay")));
                }
                if self.selection.tab.get_untracked() == Tab::Lines {
                    let weights = map.values().iter().map(|v| v / map.top).collect();
                    let lines = LinesFigure { left: map.read.rows.labels.clone(), right: map.read.columns.labels.clone(), weights, title: Some(title), note };
                    return Some((Figure::Lines(lines), format!("{name}-lines")));
                }
                let figure = HeatmapFigure { title: Some(title), note, ..self.heatmap_figure(&map) };
                Some((Figure::Heatmap(figure), name))
            }
            Subject::Grid => {
                let report = self.run.report.get_untracked()?;
                // Coloured by a value per head (a score, an effect), the grid is a flat square per head.
                if let Some(values) = self.display.grid_values.get_untracked() {
                    return Some(self.values_grid(&report, &values, note));
                }
                let maps = report.attention();
                let heads = (0..maps.layers()).map(|l| (0..maps.heads()).map(|h| Thumbnail::of(&self.map_of(&report, l, h))).collect()).collect();
                let (model, title) = self.titled(&report, "every head");
                let grid = GridFigure {
                    heads,
                    value_scale: self.display.value_scale.get_untracked(),
                    colours: self.display.colour_scale.get_untracked(),
                    selected: Some((self.selection.layer.get_untracked(), self.selection.head.get_untracked())),
                    title: Some(title),
                    note,
                };
                Some((Figure::Grid(grid.fitted()), format!("attnscope-{model}-grid")))
            }
            Subject::Compare => {
                let (causal, unmasked) = self.run.both_masks()?;
                let (layer, head) = (self.selection.layer.get_untracked(), self.selection.head.get_untracked());
                let (value_scale, colours) = (self.display.value_scale.get_untracked(), self.display.colour_scale.get_untracked());
                let map = |report: &report::AttentionReport| {
                    self.run
                        .report_text
                        .with_untracked(|text| ShownMap::of(report, layer, head, Weighting::Attention, self.display.reading.get_untracked(), text))
                };
                let (causal, unmasked) = (map(&causal), map(&unmasked));
                let titled = |map: &ShownMap, title: &str, value_scale, colours| HeatmapFigure {
                    title: Some(title.into()),
                    ..HeatmapFigure::of(map, value_scale, colours)
                };
                let difference = HeatmapFigure {
                    values: report::analysis::summary::difference(unmasked.values(), causal.values()),
                    note: note.clone(),
                    ..titled(&unmasked, "difference (red: the unmasked run looks more)", ValueScale::Signed, ColourScale::Diverging)
                };
                let figures = vec![
                    Figure::Heatmap(titled(&causal, "causal mask", value_scale, colours)),
                    Figure::Heatmap(titled(&unmasked, "no mask", value_scale, colours)),
                    Figure::Heatmap(difference),
                ];
                let (model, title) = self.titled(&*self.run.report.get_untracked()?, &format!("layer {layer}, head {head} under both masks"));
                Some((Figure::Row { title: Some(title), figures }, format!("attnscope-{model}-L{layer}H{head}-masks")))
            }
            Subject::Alignment => {
                let report = self.run.report.get_untracked()?;
                let cross = report.site("cross")?;
                // As the view shows it: a choice the maps lack falls back to every head's mean.
                let choice = Some(self.display.alignment.get_untracked()).filter(|a| a.map(&cross.maps).is_some()).unwrap_or(crate::state::Alignment::AllHeads);
                let values = choice.map(&cross.maps)?;
                let shown = self.run.report_text.with_untracked(|input| read_cross(&report, &values, self.display.reading.get_untracked(), input));
                let focus = self.selection.focused_target().and_then(|t| shown.rows.index_of(t));
                let model = report.model.name.clone();
                let figure = HeatmapFigure {
                    rows: shown.rows.labels,
                    columns: shown.columns.labels,
                    values: shown.values,
                    top: 1.0,
                    value_scale: self.display.value_scale.get_untracked(),
                    colours: self.display.colour_scale.get_untracked(),
                    focus: (focus, None),
                    title: Some(report::figure::title(&model, &choice.title(), Some("cross"), Weighting::Attention.title())),
                    note: reading_note(self.display.reading.get_untracked(), self.display.value_scale.get_untracked()),
                    overlay: None,
                };
                Some((Figure::Heatmap(figure), format!("attnscope-{model}-alignment-{}", choice.name())))
            }
        }
    }
}

/// Hands `blob` to the browser as a download called `name`.
fn download_blob(blob: &web_sys::Blob, name: &str) -> Option<()> {
    let url = web_sys::Url::create_object_url_with_blob(blob).ok()?;
    download_url(&url, name);
    let _ = web_sys::Url::revoke_object_url(&url);
    Some(())
}

fn download_url(url: &str, name: &str) -> Option<()> {
    let document = web_sys::window()?.document()?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a").ok()?.dyn_into().ok()?;
    anchor.set_href(url);
    anchor.set_download(name);
    anchor.click();
    Some(())
}

/// A download of `bytes` as a file called `name`.
pub fn download_bytes(bytes: &[u8], name: &str) -> Option<()> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).ok()?;
    download_blob(&blob, name)
}

/// A download of `text` as a file of type `mime`.
pub fn download_text(text: &str, mime: &str, name: &str) -> Option<()> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    download_blob(&blob, name)
}

/// The figure drawn on a canvas of its own at `zoom`, saved as a PNG.
fn download_png(figure: &Figure, zoom: u32, name: &str) -> Option<()> {
    let document = web_sys::window()?.document()?;
    let canvas: web_sys::HtmlCanvasElement = document.create_element("canvas").ok()?.dyn_into().ok()?;
    let (width, height) = figure.size(zoom as f64);
    canvas.set_width(width);
    canvas.set_height(height);
    {
        let area = CanvasBackend::with_canvas_object(canvas.clone())?.into_drawing_area();
        figure.draw(&area, Theme::LIGHT, zoom as f64).ok()?;
        area.present().ok()?;
    }
    download_url(&canvas.to_data_url_with_type("image/png").ok()?, name)
}

/// Makes and downloads one export; says why not when it cannot.
fn export(state: AppState, subject: Subject, what: Export) -> Result<(), String> {
    let report = state.run.report.get_untracked().ok_or("there is no map to export yet")?;
    let model = state.selection.model.get_untracked();
    let done = match what {
        Export::Report => {
            // With the effects the grid shows (else the last found), as the CLI's sweep writes them.
            let shown = match state.display.grid_colour.get_untracked() {
                crate::state::GridColour::Effect(kind) => state.interventions.found_by(kind),
                _ => None,
            };
            let effects = shown.or_else(|| state.interventions.found.with_untracked(|f| f.last().cloned())).map(|f| (*f.effects).clone());
            let report = report::AttentionReport { head_effects: effects.or_else(|| report.head_effects.clone()), ..(*report).clone() };
            let json = serde_json::to_string(&report).map_err(|e| e.to_string())?;
            download_text(&json, "application/json", &format!("attnscope-{model}-report.json"))
        }
        Export::Hf => {
            let json = serde_json::to_string(&report::export::Hf::of(&report)?).map_err(|e| e.to_string())?;
            download_text(&json, "application/json", &format!("attnscope-{model}-hf.json"))
        }
        Export::Html => {
            // Every site, every head: attention α, read as the page reads it.
            let (text, reading) = (state.run.report_text.get_untracked(), state.display.reading.get_untracked());
            let sites: Vec<SiteMaps> = report
                .sites
                .iter()
                .enumerate()
                .map(|(i, site)| SiteMaps {
                    name: site.name.clone(),
                    maps: (0..site.maps.layers())
                        .map(|l| (0..site.maps.heads()).filter_map(|h| ShownMap::of_site(&report, i, l, h, Weighting::Attention, reading, &text)).collect())
                        .collect(),
                })
                .collect();
            let tokens: Vec<String> = report.tokens().iter().map(|t| t.text.clone()).collect();
            let note = reading_note(reading, ValueScale::Linear);
            let html = crate::snapshot::snapshot(&report.model.name, &text, &tokens, &sites, note.as_deref(), state.display.colour_scale.get_untracked());
            download_text(&html, "text/html", &format!("attnscope-{model}-snapshot.html"))
        }
        Export::Svg | Export::Png(_) => {
            let (figure, name) = state.figure_of(subject).ok_or("there is no map to export yet")?;
            match what {
                Export::Svg => download_text(&figure.svg()?, "image/svg+xml", &format!("{name}.svg")),
                Export::Png(zoom) => download_png(&figure, zoom, &format!("{name}@{zoom}x.png")),
                _ => unreachable!("handled above"),
            }
        }
    };
    done.ok_or_else(|| "the browser refused the download".to_string())
}

/// A menu of exports of `subject`: choosing one downloads it and the menu resets.
#[component]
pub fn ExportMenu(
    /// What the figures show.
    subject: Subject,
    /// The test id of the `<select>`.
    test_id: &'static str,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let failed = RwSignal::new(None::<String>);
    let on_change = move |ev: leptos::ev::Event| {
        let target: web_sys::HtmlSelectElement = event_target(&ev);
        let chosen = Export::ALL.into_iter().find(|e| e.1 == target.value()).map(|e| e.0);
        target.set_value("");
        if let Some(what) = chosen {
            failed.set(export(state, subject, what).err());
        }
    };
    view! {
        <label class="picker export-picker">
            <span class="label">"Export"</span>
            <select data-testid=test_id on:change=on_change disabled=move || state.run.report.with(Option::is_none)>
                <option value="" selected=true>"Save as…"</option>
                {Export::ALL.map(|(_, value, text)| view! { <option value=value>{text}</option> })}
            </select>
            {move || failed.get().map(|why| view! { <span class="export-error" role="alert">{format!("Not exported: {why}")}</span> })}
        </label>
    }
}
