//! Figures of maps, drawn with plotters on whatever backend asks: the page's canvas, an
//! SVG (the page's export and the CLI: cells are `<rect>`s whose fill is their colour,
//! labels are `<text>`), a PNG natively. One drawing, so every copy is the same picture.

pub mod colour;
pub mod grid;
pub mod heatmap;
pub mod labels;
pub mod lines;
#[cfg(not(target_arch = "wasm32"))]
pub mod picture;

use plotters::prelude::*;

pub use colour::{ColourScale, ValueScale};
pub use grid::{GridFigure, Thumbnail};
pub use heatmap::{HeatmapFigure, Overlay};
pub use lines::LinesFigure;

use crate::analysis::reading::Reading;
pub use labels::token_label;

/// The paper and the ink a figure is drawn with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Theme {
    pub paper: RGBColor,
    pub ink: RGBColor,
}

impl Theme {
    /// Black on white: every exported figure.
    pub const LIGHT: Theme = Theme { paper: RGBColor(255, 255, 255), ink: RGBColor(0, 0, 0) };
    /// The page's panel colours under a dark system theme.
    pub const DARK: Theme = Theme { paper: RGBColor(30, 32, 41), ink: RGBColor(232, 233, 240) };
}

/// What the reading switches and the scale do to a map, said under every view and
/// figure; `None` for a map shown as computed, linearly.
pub fn reading_note(reading: Reading, value_scale: ValueScale) -> Option<String> {
    let mut said: Vec<String> = reading.describe().into_iter().collect();
    if value_scale == ValueScale::Log {
        said.push(format!("colour on a log scale over {} decades", ValueScale::DECADES));
    }
    (!said.is_empty()).then(|| format!("Shown: {}.", said.join("; ")))
}

/// A figure's title: the model, the place (`layer 3, head 5`, `every head`), the site
/// when the model has more than one, and what the values are.
pub fn title(model: &str, place: &str, site: Option<&str>, what: &str) -> String {
    match site {
        Some(site) => format!("{model} · {place} · {site} · {what}"),
        None => format!("{model} · {place} · {what}"),
    }
}

/// Standard base64 with padding (RFC 4648): a picture inside an SVG, maps inside the page's
/// offline snapshot.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How many steps a colour legend's bar is drawn in.
pub const LEGEND_STEPS: usize = 64;

/// The colour of each step of a legend's bar, bottom (or left) first.
pub fn legend_colours(colours: ColourScale) -> impl Iterator<Item = (u8, u8, u8)> {
    (0..LEGEND_STEPS).map(move |s| colours.colour((s as f32 + 0.5) / LEGEND_STEPS as f32))
}

/// Room for the title above a row of figures.
const ROW_TITLE: f64 = 30.0;

/// The height a figure's note takes under it, at zoom 1: a line per `NOTE_CHARACTERS`.
const NOTE_LINE: f64 = 17.0;
/// At 12 pixels, about this many characters fit in the narrowest figure (460 pixels).
const NOTE_CHARACTERS: usize = 68;

/// The lines of a note, broken at spaces.
fn note_lines(note: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in note.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= NOTE_CHARACTERS => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The room a note takes (zoom 1): nothing without one.
pub(crate) fn note_height(note: Option<&str>) -> f64 {
    note.map_or(0.0, |n| note_lines(n).len() as f64 * NOTE_LINE + 8.0)
}

/// Draws a figure's note, if it has one, in the `room` (zoom 1) at the bottom of a figure
/// `height` pixels high (zoomed), a line at a time from the left.
pub(crate) fn draw_note<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    note: Option<&str>,
    height: u32,
    room: f64,
    theme: Theme,
    zoom: f64,
) -> Result<(), String> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let Some(note) = note else { return Ok(()) };
    let top = height as f64 - room * zoom;
    let style = ("sans-serif", 12.0 * zoom).into_font().color(&theme.ink).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, line) in note_lines(note).into_iter().enumerate() {
        let y = top + (i as f64 + 0.5) * NOTE_LINE * zoom;
        area.draw(&Text::new(line, ((10.0 * zoom) as i32, y as i32), style.clone())).map_err(|e| format!("the note could not be drawn: {e}"))?;
    }
    Ok(())
}

/// Draws a figure's title, if it has one, at the left, centred on `y` (zoom 1).
pub(crate) fn draw_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: Option<&str>,
    y: f64,
    theme: Theme,
    zoom: f64,
) -> Result<(), String> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let Some(title) = title else { return Ok(()) };
    let style = ("sans-serif", 15.0 * zoom).into_font().color(&theme.ink).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new(title.to_string(), ((10.0 * zoom) as i32, (y * zoom) as i32), style)).map_err(|e| format!("the title could not be drawn: {e}"))
}

/// A figure that can be drawn on any backend at any zoom. Drawing never presents the
/// area (a figure may be one of several on it, in a row); whoever made the backend
/// presents it once, as [`Figure::svg`] and [`Figure::png`] do.
pub enum Figure {
    Heatmap(HeatmapFigure),
    Grid(GridFigure),
    Lines(LinesFigure),
    /// Figures side by side (the mask comparison's three maps), under one title.
    Row {
        title: Option<String>,
        figures: Vec<Figure>,
    },
}

impl Figure {
    /// Its size in pixels at `zoom`.
    pub fn size(&self, zoom: f64) -> (u32, u32) {
        match self {
            Figure::Heatmap(f) => heatmap::Layout::of(f, zoom).size(),
            Figure::Grid(f) => grid::Layout::of(f, zoom).size(),
            Figure::Lines(f) => lines::Layout::of(f, zoom).size(),
            Figure::Row { title, figures } => {
                let sizes: Vec<(u32, u32)> = figures.iter().map(|f| f.size(zoom)).collect();
                let above = if title.is_some() { (ROW_TITLE * zoom).round() as u32 } else { 0 };
                (sizes.iter().map(|s| s.0).sum(), above + sizes.iter().map(|s| s.1).max().unwrap_or(0))
            }
        }
    }

    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, plotters::coord::Shift>, theme: Theme, zoom: f64) -> Result<(), String> {
        match self {
            Figure::Heatmap(f) => heatmap::draw(area, f, theme, zoom),
            Figure::Grid(f) => grid::draw(area, f, theme, zoom),
            Figure::Lines(f) => lines::draw(area, f, theme, zoom),
            Figure::Row { title, figures } => {
                area.fill(&theme.paper).map_err(|e| format!("the figures could not be drawn: {e}"))?;
                draw_title(area, title.as_deref(), ROW_TITLE / 2.0, theme, zoom)?;
                let mut rest = area.clone();
                if title.is_some() {
                    rest = area.split_vertically((ROW_TITLE * zoom).round() as u32).1;
                }
                for figure in figures {
                    let (left, right) = rest.split_horizontally(figure.size(zoom).0);
                    figure.draw(&left, theme, zoom)?;
                    rest = right;
                }
                Ok(())
            }
        }
    }

    /// The figure as an SVG document: cells are `<rect>`s filled with their colour,
    /// labels `<text>`; black on white.
    pub fn svg(&self) -> Result<String, String> {
        let mut svg = String::new();
        {
            let area = SVGBackend::with_string(&mut svg, self.size(1.0)).into_drawing_area();
            self.draw(&area, Theme::LIGHT, 1.0)?;
            area.present().map_err(|e| format!("the SVG could not be written: {e}"))?;
        }
        Ok(svg)
    }

    /// The figure as a PNG, `zoom` times the size of the SVG (1, 2 or 4 for print).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn png(&self, zoom: u32) -> Result<Vec<u8>, String> {
        let zoom = zoom.clamp(1, 8);
        let (width, height) = self.size(zoom as f64);
        let mut rgb = vec![0u8; width as usize * height as usize * 3];
        register_fonts();
        {
            let area = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
            self.draw(&area, Theme::LIGHT, zoom as f64)?;
            area.present().map_err(|e| format!("the PNG could not be drawn: {e}"))?;
        }
        encode_png(&rgb, width, height)
    }
}

/// Natively, text is drawn with DejaVu Sans from inside the binary: a machine with no
/// fonts draws the same labels.
#[cfg(not(target_arch = "wasm32"))]
fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is the crate's own, known good: a failure here would be a broken build.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let fail = |e: png::EncodingError| format!("the PNG could not be written: {e}");
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(rgb).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_the_standard_alphabet_with_padding() {
        // RFC 4648's test vectors.
        let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    fn figure() -> HeatmapFigure {
        HeatmapFigure {
            rows: vec!["The".into(), " cat".into()],
            columns: vec!["The".into(), " cat".into()],
            values: vec![1.0, 0.0, 0.25, 0.75],
            top: 1.0,
            value_scale: ValueScale::Linear,
            colours: ColourScale::Viridis,
            focus: (None, None),
            title: Some("a & b <test>".into()),
            note: None,
            overlay: None,
        }
    }

    fn hex((r, g, b): (u8, u8, u8)) -> String {
        format!("#{r:02X}{g:02X}{b:02X}")
    }

    #[test]
    fn notes_break_at_spaces_to_fit_the_narrowest_figure() {
        let note = reading_note(Reading { hide_first_key: true, by_words: true }, ValueScale::Log).unwrap();
        let lines = note_lines(&note);
        assert!(lines.len() >= 3 && lines.iter().all(|l| l.chars().count() <= NOTE_CHARACTERS), "{lines:?}");
        assert_eq!(lines.join(" "), note);
        assert_eq!(note_height(None), 0.0);
    }

    #[test]
    fn the_svg_has_a_rect_per_cell_in_its_colour_and_the_labels_as_text() {
        let svg = Figure::Heatmap(figure()).svg().unwrap();
        for value in [1.0, 0.0, 0.25, 0.75] {
            let fill = hex(ColourScale::Viridis.colour(value));
            assert!(svg.contains(&format!("fill=\"{fill}\"")), "no cell filled {fill}");
        }
        assert_eq!(svg.matches(">\nThe\n</text>").count() + svg.matches(">The\n</text>").count(), 2, "{svg}");
        assert!(svg.contains("a &amp; b &lt;test&gt;"), "the title is escaped");
    }

    #[test]
    fn a_row_of_figures_is_one_svg_as_wide_as_its_figures() {
        let row = Figure::Row { title: Some("both".into()), figures: vec![Figure::Heatmap(figure()), Figure::Heatmap(figure())] };
        let svg = row.svg().unwrap();
        assert_eq!(svg.matches("</svg>").count(), 1, "one document");
        let one = Figure::Heatmap(figure()).size(1.0);
        assert_eq!(row.size(1.0), (2 * one.0, one.1 + ROW_TITLE as u32));
        // The second map's cells stand a figure's width to the right.
        let second = format!("x=\"{}\"", one.0 + 110);
        assert!(svg.contains(&second), "{second}");
    }

    #[test]
    fn the_png_is_zoomed_and_its_cells_are_their_colours() {
        let figure = figure();
        for zoom in [1, 2] {
            let bytes = Figure::Heatmap(figure.clone()).png(zoom).unwrap();
            let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
            let mut reader = decoder.read_info().unwrap();
            let mut pixels = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut pixels).unwrap();
            let layout = heatmap::Layout::of(&figure, zoom as f64);
            assert_eq!((info.width, info.height), layout.size());
            // The centre of cell (1, 1) is 0.75's colour.
            let (x, y) = ((layout.left + 1.5 * layout.cell) as usize, (layout.top + 1.5 * layout.cell) as usize);
            let at = (y * info.width as usize + x) * 3;
            assert_eq!((pixels[at], pixels[at + 1], pixels[at + 2]), ColourScale::Viridis.colour(0.75));
        }
    }
}
