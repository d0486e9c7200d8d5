//! One map as a heatmap: queries as rows, keys as columns, labels on both axes, a colour
//! legend. Drawn on any plotters backend, so the page's canvas, the exported SVG and the
//! CLI's PNG are one picture.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::colour::{overlay, ColourScale, ValueScale, HEAD_HUES};
use super::labels::{label_stride, tick, token_label};
use super::Theme;
use crate::analysis::shown::ShownMap;

/// The figure's width in pixels (at zoom 1).
pub const WIDTH: u32 = 640;
/// Room for the query labels (left) and the key labels (bottom).
const LABELS: f64 = 110.0;
/// Room for the legend (right).
const LEGEND: f64 = 70.0;
/// The largest side of the grid: what the width leaves beside labels and legend.
const GRID: f64 = WIDTH as f64 - LABELS - LEGEND - 10.0;
/// Room for a title above the grid.
const TITLE: f64 = 28.0;

/// What a heatmap shows.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatmapFigure {
    /// The rows' labels (queries), as the text has them ([`token_label`] makes them short).
    pub rows: Vec<String>,
    /// The columns' labels (keys).
    pub columns: Vec<String>,
    /// [rows, columns] row-major.
    pub values: Vec<f32>,
    /// The top of the colour scale (1 for attention).
    pub top: f32,
    pub value_scale: ValueScale,
    pub colours: ColourScale,
    /// A row and a column outlined (the focused token).
    pub focus: (Option<usize>, Option<usize>),
    /// Above the grid (an exported figure says what it is; the page has its pickers).
    pub title: Option<String>,
    /// Under the labels: what the reading did to the map.
    pub note: Option<String>,
    /// Several heads at once: each cell's own colour, and the legend's heads instead of
    /// the scale (see [`super::colour::overlay`]).
    pub overlay: Option<Overlay>,
}

/// The cells' colours of several heads drawn as one, and which hue is which head.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlay {
    /// [rows, columns].
    pub colours: Vec<(u8, u8, u8)>,
    /// Each head's name (`L3 H5`) and hue, for the legend.
    pub heads: Vec<(String, (u8, u8, u8))>,
}

impl HeatmapFigure {
    /// A head's map as shown, untitled and unfocused.
    pub fn of(map: &ShownMap, value_scale: ValueScale, colours: ColourScale) -> Self {
        Self {
            rows: map.read.rows.labels.clone(),
            columns: map.read.columns.labels.clone(),
            values: map.values().to_vec(),
            top: map.top,
            value_scale,
            colours,
            focus: (None, None),
            title: None,
            note: None,
            overlay: None,
        }
    }

    /// Several heads of `layer` drawn as one: each cell the hue of the head that attends
    /// most there (see [`super::colour::overlay`]). `heads` pairs each head's number with its
    /// map; `None` when there is none.
    pub fn overlaid(layer: usize, heads: &[(usize, ShownMap)], value_scale: ValueScale, colours: ColourScale) -> Option<Self> {
        let (_, first) = heads.first()?;
        let pairs: Vec<(usize, &[f32])> = heads.iter().map(|(h, m)| (*h, m.values())).collect();
        let top = heads.iter().map(|(_, m)| m.top).fold(0.0, f32::max);
        let names = heads.iter().map(|(h, _)| (format!("L{layer} H{h}"), HEAD_HUES[h % HEAD_HUES.len()])).collect();
        Some(Self { top, overlay: Some(Overlay { colours: overlay(&pairs, value_scale, top), heads: names }), ..Self::of(first, value_scale, colours) })
    }
}

/// Where the grid of cells sits: shared by drawing and hit-testing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub left: f64,
    pub top: f64,
    pub cell: f64,
    pub rows: usize,
    pub columns: usize,
    /// Everything is drawn this many times larger (a PNG at 2×).
    pub zoom: f64,
    titled: bool,
    /// The room the note takes under the figure (zoom 1).
    note: f64,
}

impl Layout {
    pub fn of(figure: &HeatmapFigure, zoom: f64) -> Self {
        let (rows, columns) = (figure.rows.len(), figure.columns.len());
        let cell = GRID / rows.max(columns).max(1) as f64;
        let (titled, note) = (figure.title.is_some(), super::note_height(figure.note.as_deref()));
        let top = 10.0 + if titled { TITLE } else { 0.0 };
        Self { left: LABELS * zoom, top: top * zoom, cell: cell * zoom, rows, columns, zoom, titled, note }
    }

    /// The figure's size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let height = self.top / self.zoom + GRID + LABELS + self.note;
        ((WIDTH as f64 * self.zoom).round() as u32, (height * self.zoom).round() as u32)
    }

    /// The (row, column) cell under a point, if any.
    pub fn cell_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let column = ((x - self.left) / self.cell).floor();
        let row = ((y - self.top) / self.cell).floor();
        (column >= 0.0 && row >= 0.0 && (row as usize) < self.rows && (column as usize) < self.columns).then_some((row as usize, column as usize))
    }

    /// The label font size (pixels, zoomed) and which labels to draw (every `n`th): when
    /// cells are too small for a readable font, labels are thinned rather than shrunk.
    pub fn labels(&self) -> (f64, usize) {
        let (font, every) = label_stride(self.cell / self.zoom);
        (font * self.zoom, every)
    }

    fn x(&self, column: usize) -> i32 {
        (self.left + column as f64 * self.cell).round() as i32
    }

    fn y(&self, row: usize) -> i32 {
        (self.top + row as f64 * self.cell).round() as i32
    }
}

/// The colour of cell (r, c): the overlay's, or the map's value on the figure's scale.
fn cell_colour(figure: &HeatmapFigure, r: usize, c: usize) -> (u8, u8, u8) {
    let columns = figure.columns.len();
    let value = figure.values.get(r * columns + c).copied().unwrap_or(0.0);
    let painted = figure.overlay.as_ref().and_then(|o| o.colours.get(r * columns + c).copied());
    painted.unwrap_or_else(|| figure.colours.colour(figure.value_scale.fraction(value, figure.top)))
}

/// The cells as [`draw`]'s rectangles cover them: cell c spans pixels x(c)..x(c + 1), rows
/// likewise (a cell narrower than a pixel covers none, as its rectangle fills none).
fn cell_pixels(figure: &HeatmapFigure, layout: &Layout) -> CellPixels {
    let (rows, columns) = (layout.rows, layout.columns);
    let (left, top) = (layout.x(0), layout.y(0));
    let (width, height) = ((layout.x(columns) - left).max(0) as usize, (layout.y(rows) - top).max(0) as usize);
    // Which cell each pixel column and row lies in.
    let spans = |count: usize, edge: &dyn Fn(usize) -> i32, start: i32, pixels: usize| -> Vec<usize> {
        let mut of = vec![0; pixels];
        for cell in 0..count {
            let (from, to) = ((edge(cell) - start).max(0) as usize, ((edge(cell + 1) - start).max(0) as usize).min(pixels));
            of[from.min(to)..to].fill(cell);
        }
        of
    };
    let (column_of, row_of) = (spans(columns, &|c| layout.x(c), left, width), spans(rows, &|r| layout.y(r), top, height));
    let colours: Vec<(u8, u8, u8)> = (0..rows * columns).map(|i| cell_colour(figure, i / columns.max(1), i % columns.max(1))).collect();
    let mut rgba = Vec::with_capacity(width * height * 4);
    for &r in &row_of {
        for &c in &column_of {
            let (red, green, blue) = colours[r * columns + c];
            rgba.extend([red, green, blue, 255]);
        }
    }
    CellPixels { left, top, width: width as u32, height: height as u32, rgba }
}

/// Draws `figure` on `area` (sized as [`Layout::size`] says, at `zoom`).
pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, figure: &HeatmapFigure, theme: Theme, zoom: f64) -> Result<(), String> {
    draw_with_cells(area, figure, theme, zoom, None)
}

/// The cells of a heatmap as one block of pixels: its left and top, its width and height, and
/// RGBA, each pixel the colour of the cell whose rectangle [`draw`] fills over it (from
/// its left or top edge up to the next cell's).
pub struct CellPixels {
    pub left: i32,
    pub top: i32,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// What puts a heatmap's cells where a backend takes them as one image.
pub type PutCells<'a> = dyn Fn(&CellPixels) -> Result<(), String> + 'a;

/// [`draw`], its cells put by `put_cells` as one block of pixels where it is given: a
/// canvas then takes one image where a map of 257 × 257 was 66 thousand rectangles (a sixth
/// of a picture's wait in the page, drawing and rasterising them). The same pixels.
pub fn draw_with_cells<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: &HeatmapFigure,
    theme: Theme,
    zoom: f64,
    put_cells: Option<&PutCells<'_>>,
) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("the heatmap could not be drawn: {e}");
    let layout = Layout::of(figure, zoom);
    let (rows, columns) = (layout.rows, layout.columns);
    let px = |v: f64| (v * zoom).round() as i32;
    area.fill(&theme.paper).map_err(fail)?;
    let font = |size: f64| ("sans-serif", size).into_font().color(&theme.ink);

    super::draw_title(area, figure.title.as_deref(), 10.0 + TITLE / 2.0, theme, zoom)?;
    match put_cells {
        Some(put) => put(&cell_pixels(figure, &layout))?,
        None => {
            for r in 0..rows {
                for c in 0..columns {
                    let (red, green, blue) = cell_colour(figure, r, c);
                    let corners = [(layout.x(c), layout.y(r)), (layout.x(c + 1), layout.y(r + 1))];
                    area.draw(&Rectangle::new(corners, RGBColor(red, green, blue).filled())).map_err(fail)?;
                }
            }
        }
    }

    // The focused token: its row (what it attends to) and column (what attends to it).
    let outline = ShapeStyle::from(&RGBColor(230, 57, 70)).stroke_width((2.0 * zoom).round() as u32);
    if let Some(r) = figure.focus.0.filter(|&r| r < rows) {
        area.draw(&Rectangle::new([(layout.x(0), layout.y(r)), (layout.x(columns), layout.y(r + 1))], outline)).map_err(fail)?;
    }
    if let Some(c) = figure.focus.1.filter(|&c| c < columns) {
        area.draw(&Rectangle::new([(layout.x(c), layout.y(0)), (layout.x(c + 1), layout.y(rows))], outline)).map_err(fail)?;
    }

    let (font_px, every) = layout.labels();
    let grid_bottom = layout.y(rows);
    for (r, label) in figure.rows.iter().enumerate().step_by(every) {
        let centre = layout.top + (r as f64 + 0.5) * layout.cell;
        let style = font(font_px).pos(Pos::new(HPos::Right, VPos::Center));
        area.draw(&Text::new(token_label(label), (layout.left as i32 - px(6.0), centre as i32), style)).map_err(fail)?;
    }
    for (c, label) in figure.columns.iter().enumerate().step_by(every) {
        let centre = layout.left + (c as f64 + 0.5) * layout.cell;
        let style = font(font_px).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center));
        area.draw(&Text::new(token_label(label), (centre as i32, grid_bottom + px(6.0)), style)).map_err(fail)?;
    }

    // The legend: the bottom of the scale at the bottom, its top (1 for attention) at the
    // top; for an overlay, a swatch per head.
    let (x0, x1) = (px(WIDTH as f64 - LEGEND + 16.0), px(WIDTH as f64 - LEGEND + 34.0));
    let (top, bottom) = (layout.y(0), layout.y(rows.max(columns)));
    let tick_style = font(12.0 * zoom).pos(Pos::new(HPos::Left, VPos::Center));
    if let Some(overlay) = &figure.overlay {
        for (i, (name, hue)) in overlay.heads.iter().enumerate() {
            let y = top + px(22.0 * i as f64);
            area.draw(&Rectangle::new([(x0, y), (x0 + px(14.0), y + px(14.0))], RGBColor(hue.0, hue.1, hue.2).filled())).map_err(fail)?;
            area.draw(&Text::new(name.clone(), (x0 + px(18.0), y + px(7.0)), tick_style.clone())).map_err(fail)?;
        }
    } else {
        let steps = super::LEGEND_STEPS;
        let y = |fraction: f64| bottom - ((bottom - top) as f64 * fraction).round() as i32;
        for (s, (red, green, blue)) in super::legend_colours(figure.colours).enumerate() {
            let corners = [(x0, y((s + 1) as f64 / steps as f64)), (x1, y(s as f64 / steps as f64))];
            area.draw(&Rectangle::new(corners, RGBColor(red, green, blue).filled())).map_err(fail)?;
        }
        for (value, fraction) in figure.value_scale.ticks(figure.top) {
            area.draw(&Text::new(tick(value), (x1 + px(4.0), y(fraction as f64)), tick_style.clone())).map_err(fail)?;
        }
    }

    super::draw_note(area, figure.note.as_deref(), layout.size().1, layout.note, theme, zoom)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(rows: usize, columns: usize) -> HeatmapFigure {
        HeatmapFigure {
            rows: vec!["q".into(); rows],
            columns: vec!["k".into(); columns],
            values: vec![0.0; rows * columns],
            top: 1.0,
            value_scale: ValueScale::Linear,
            colours: ColourScale::Viridis,
            focus: (None, None),
            title: None,
            note: None,
            overlay: None,
        }
    }

    /// The cells as one block of pixels are what the rectangles fill on a canvas (`fillRect`
    /// covers x0 ≤ x < x1 and y0 ≤ y < y1), drawn one after another: cells wider than a
    /// pixel and narrower, a map taller than wide.
    #[test]
    fn the_cells_pixels_are_the_rectangles_a_canvas_fills() {
        for (rows, columns) in [(7, 7), (257, 257), (3, 40), (600, 20)] {
            let mut figure = figure(rows, columns);
            figure.values = (0..rows * columns).map(|i| (i * 7919 % 1000) as f32 / 1000.0).collect();
            let layout = Layout::of(&figure, 1.0);
            let block = cell_pixels(&figure, &layout);
            let (width, height) = (block.width as usize, block.height as usize);
            let mut filled = vec![0u8; width * height * 4];
            for r in 0..rows {
                for c in 0..columns {
                    let (red, green, blue) = cell_colour(&figure, r, c);
                    for y in layout.y(r)..layout.y(r + 1) {
                        for x in layout.x(c)..layout.x(c + 1) {
                            let at = ((y - block.top) as usize * width + (x - block.left) as usize) * 4;
                            filled[at..at + 4].copy_from_slice(&[red, green, blue, 255]);
                        }
                    }
                }
            }
            assert_eq!(block.rgba.len(), width * height * 4);
            assert!(block.rgba == filled, "{rows} × {columns}: the block differs from the rectangles");
        }
    }

    #[test]
    fn cells_are_found_under_the_pointer() {
        let layout = Layout::of(&figure(4, 4), 1.0);
        let centre = |r: usize, c: usize| (layout.left + (c as f64 + 0.5) * layout.cell, layout.top + (r as f64 + 0.5) * layout.cell);
        for (r, c) in [(0, 0), (3, 1), (2, 3)] {
            let (x, y) = centre(r, c);
            assert_eq!(layout.cell_at(x, y), Some((r, c)));
        }
        assert_eq!(layout.cell_at(layout.left - 1.0, layout.top + 1.0), None);
        assert_eq!(layout.cell_at(layout.left + 4.0 * layout.cell + 1.0, layout.top), None);
    }

    #[test]
    fn a_rectangular_map_keeps_square_cells() {
        // 3 target tokens over 6 source tokens: the longer side fills the grid.
        let layout = Layout::of(&figure(3, 6), 1.0);
        assert_eq!(layout.cell, GRID / 6.0);
        assert_eq!(layout.cell_at(layout.left + 5.5 * layout.cell, layout.top + 2.5 * layout.cell), Some((2, 5)));
        assert_eq!(layout.cell_at(layout.left + 0.5 * layout.cell, layout.top + 3.5 * layout.cell), None);
    }

    #[test]
    fn zoom_scales_the_figure_and_title_and_note_make_room() {
        let plain = Layout::of(&figure(4, 4), 1.0);
        let doubled = Layout::of(&figure(4, 4), 2.0);
        assert_eq!(doubled.size(), (plain.size().0 * 2, plain.size().1 * 2));
        let mut told = figure(4, 4);
        told.title = Some("t".into());
        told.note = Some("n".into());
        let told = Layout::of(&told, 1.0);
        assert_eq!(told.size().1, plain.size().1 + (TITLE + super::super::note_height(Some("n"))) as u32);
        assert_eq!(told.top, plain.top + TITLE);
    }

    #[test]
    fn labels_stay_readable_at_a_hundred_tokens() {
        assert_eq!(Layout::of(&figure(6, 6), 1.0).labels(), (13.0, 1));
        // 100 tokens: 4.5-pixel cells; labels 9 pixels high every third token.
        assert_eq!(Layout::of(&figure(100, 100), 1.0).labels(), (9.0, 3));
        assert_eq!(Layout::of(&figure(100, 100), 2.0).labels(), (18.0, 3));
    }
}
