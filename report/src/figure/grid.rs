//! Every head at once: a thumbnail of each head's map, layers as rows and heads as
//! columns, as the page's grid shows them. Each thumbnail cell is its own rectangle.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::colour::{ColourScale, ValueScale};
use super::labels::tick;
use super::Theme;
use crate::analysis::shown::ShownMap;

/// The figure's width in pixels (at zoom 1): the heads share it.
pub const WIDTH: u32 = 720;
/// Room for the layer labels (left) and head labels (top).
const LEFT: f64 = 44.0;
const HEADER: f64 = 20.0;
const GAP: f64 = 3.0;
const TITLE: f64 = 28.0;
/// Room for the colour legend under the thumbnails: a bar and its ticks.
const LEGEND: f64 = 40.0;
const LEGEND_BAR: f64 = 240.0;

/// One head's thumbnail: its map and the top of its colour scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Thumbnail {
    pub rows: usize,
    pub columns: usize,
    /// [rows, columns] row-major.
    pub values: Vec<f32>,
    pub top: f32,
}

impl Thumbnail {
    pub fn of(map: &ShownMap) -> Self {
        Self { rows: map.rows(), columns: map.columns(), values: map.values().to_vec(), top: map.top }
    }

    /// The map in blocks of at most `side` × `side` cells, each the mean of the cells it covers.
    pub fn pooled(&self, side: usize) -> Self {
        let (rows, columns) = (self.rows.min(side).max(1), self.columns.min(side).max(1));
        let mut sums = vec![(0.0f64, 0usize); rows * columns];
        for r in 0..self.rows {
            for c in 0..self.columns {
                let cell = &mut sums[(r * rows / self.rows) * columns + c * columns / self.columns];
                cell.0 += f64::from(self.values[r * self.columns + c]);
                cell.1 += 1;
            }
        }
        let values = sums.into_iter().map(|(sum, n)| (sum / n.max(1) as f64) as f32).collect();
        Self { rows, columns, values, top: self.top }
    }
}

/// The most cells a grid draws: past it, thumbnails are pooled (a rect a cell, so an SVG of
/// 270 heads of 128 tokens would otherwise hold 4.4 million rects).
pub const MAX_CELLS: usize = 120_000;

/// What a grid of heads shows.
#[derive(Clone, Debug, PartialEq)]
pub struct GridFigure {
    /// [layer][head].
    pub heads: Vec<Vec<Thumbnail>>,
    pub value_scale: ValueScale,
    pub colours: ColourScale,
    /// The head outlined, (layer, head).
    pub selected: Option<(usize, usize)>,
    pub title: Option<String>,
    pub note: Option<String>,
}

impl GridFigure {
    /// The figure with its thumbnails pooled into blocks when they would pass
    /// [`MAX_CELLS`], and its note saying so.
    pub fn fitted(mut self) -> Self {
        let cells: usize = self.heads.iter().flatten().map(|t| t.rows * t.columns).sum();
        let count = self.heads.iter().map(Vec::len).sum::<usize>().max(1);
        if cells <= MAX_CELLS {
            return self;
        }
        let side = ((MAX_CELLS / count) as f64).sqrt().floor().max(1.0) as usize;
        for thumb in self.heads.iter_mut().flatten() {
            *thumb = thumb.pooled(side);
        }
        let said = format!("Thumbnails pooled to at most {side} × {side} cells (each the mean of those it covers).");
        self.note = Some(match self.note.take() {
            Some(note) => format!("{note} {said}"),
            None => said,
        });
        self
    }
}

/// Where each thumbnail sits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub top: f64,
    pub thumb: f64,
    pub layers: usize,
    pub heads: usize,
    pub zoom: f64,
    /// The room the note takes under the figure (zoom 1).
    note: f64,
}

impl Layout {
    pub fn of(figure: &GridFigure, zoom: f64) -> Self {
        let layers = figure.heads.len();
        let heads = figure.heads.iter().map(Vec::len).max().unwrap_or(0);
        let thumb = ((WIDTH as f64 - LEFT - 10.0) / heads.max(1) as f64 - GAP).min(96.0);
        let top = 10.0 + HEADER + if figure.title.is_some() { TITLE } else { 0.0 };
        Self { top: top * zoom, thumb: thumb * zoom, layers, heads, zoom, note: super::note_height(figure.note.as_deref()) }
    }

    pub fn size(&self) -> (u32, u32) {
        let height = self.legend_top() / self.zoom + LEGEND + self.note;
        ((WIDTH as f64 * self.zoom).round() as u32, (height * self.zoom).round() as u32)
    }

    /// Where the legend starts, under the last layer (pixels, zoomed).
    fn legend_top(&self) -> f64 {
        self.top + self.layers as f64 * (self.thumb + GAP * self.zoom) + 10.0 * self.zoom
    }

    /// The top-left corner of a head's thumbnail.
    pub fn corner(&self, layer: usize, head: usize) -> (f64, f64) {
        let step = self.thumb + GAP * self.zoom;
        (LEFT * self.zoom + head as f64 * step, self.top + layer as f64 * step)
    }
}

/// Draws `figure` on `area` (sized as [`Layout::size`] says, at `zoom`).
pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, figure: &GridFigure, theme: Theme, zoom: f64) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("the grid could not be drawn: {e}");
    let layout = Layout::of(figure, zoom);
    let px = |v: f64| (v * zoom).round() as i32;
    area.fill(&theme.paper).map_err(fail)?;
    let font = |size: f64| ("sans-serif", size * zoom).into_font().color(&theme.ink);
    super::draw_title(area, figure.title.as_deref(), 10.0 + TITLE / 2.0, theme, zoom)?;
    for head in 0..layout.heads {
        let (x, y) = layout.corner(0, head);
        let style = font(11.0).pos(Pos::new(HPos::Center, VPos::Bottom));
        area.draw(&Text::new(format!("H{head}"), ((x + layout.thumb / 2.0) as i32, y as i32 - px(4.0)), style)).map_err(fail)?;
    }
    for (layer, heads) in figure.heads.iter().enumerate() {
        let (_, y) = layout.corner(layer, 0);
        let style = font(11.0).pos(Pos::new(HPos::Right, VPos::Center));
        area.draw(&Text::new(format!("L{layer}"), (px(LEFT - 6.0), (y + layout.thumb / 2.0) as i32), style)).map_err(fail)?;
        for (head, thumb) in heads.iter().enumerate() {
            let (x0, y0) = layout.corner(layer, head);
            let cell = layout.thumb / thumb.rows.max(thumb.columns).max(1) as f64;
            let at = |i: usize, origin: f64| (origin + i as f64 * cell).round() as i32;
            for r in 0..thumb.rows {
                for c in 0..thumb.columns {
                    let value = thumb.values.get(r * thumb.columns + c).copied().unwrap_or(0.0);
                    let (red, green, blue) = figure.colours.colour(figure.value_scale.fraction(value, thumb.top));
                    let corners = [(at(c, x0), at(r, y0)), (at(c + 1, x0), at(r + 1, y0))];
                    area.draw(&Rectangle::new(corners, RGBColor(red, green, blue).filled())).map_err(fail)?;
                }
            }
            if figure.selected == Some((layer, head)) {
                let outline = ShapeStyle::from(&RGBColor(230, 57, 70)).stroke_width((2.0 * zoom).round() as u32);
                let corners = [(x0 as i32 - 1, y0 as i32 - 1), ((x0 + layout.thumb) as i32 + 1, (y0 + layout.thumb) as i32 + 1)];
                area.draw(&Rectangle::new(corners, outline)).map_err(fail)?;
            }
        }
    }
    draw_legend(area, figure, &layout, theme)?;
    super::draw_note(area, figure.note.as_deref(), layout.size().1, layout.note, theme, zoom)?;
    Ok(())
}

/// A horizontal colour bar under the thumbnails with the scale's ticks; when the heads'
/// scales differ (value norms: each to its own largest cell), the ticks are fractions of it.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, figure: &GridFigure, layout: &Layout, theme: Theme) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("the grid's legend could not be drawn: {e}");
    let zoom = layout.zoom;
    let (left, top) = (LEFT * zoom, layout.legend_top());
    let x = |fraction: f64| (left + LEGEND_BAR * zoom * fraction).round() as i32;
    let steps = super::LEGEND_STEPS;
    for (s, (red, green, blue)) in super::legend_colours(figure.colours).enumerate() {
        let corners = [(x(s as f64 / steps as f64), top as i32), (x((s + 1) as f64 / steps as f64), (top + 12.0 * zoom) as i32)];
        area.draw(&Rectangle::new(corners, RGBColor(red, green, blue).filled())).map_err(fail)?;
    }
    let tops: Vec<f32> = figure.heads.iter().flatten().map(|t| t.top).collect();
    let shared = tops.windows(2).all(|w| w[0] == w[1]);
    let top_value = if shared { tops.first().copied().unwrap_or(1.0) } else { 1.0 };
    let style = ("sans-serif", 11.0 * zoom).into_font().color(&theme.ink).pos(Pos::new(HPos::Center, VPos::Top));
    for (value, fraction) in figure.value_scale.ticks(top_value) {
        area.draw(&Text::new(tick(value), (x(fraction as f64), (top + 15.0 * zoom) as i32), style.clone())).map_err(fail)?;
    }
    if !shared {
        let style = ("sans-serif", 11.0 * zoom).into_font().color(&theme.ink).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new("of each head's largest cell", (x(1.0) + (10.0 * zoom) as i32, (top + 6.0 * zoom) as i32), style)).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_takes_block_means_and_a_large_grid_is_fitted() {
        let thumb = Thumbnail { rows: 4, columns: 4, values: (0..16).map(|v| v as f32).collect(), top: 15.0 };
        let pooled = thumb.pooled(2);
        // Block (0, 0) covers 0, 1, 4, 5.
        assert_eq!((pooled.rows, pooled.columns, pooled.values), (2, 2, vec![2.5, 4.5, 10.5, 12.5]));
        assert_eq!(thumb.pooled(8), thumb, "a small map stays as it is");
        let big = Thumbnail { rows: 128, columns: 128, values: vec![0.5; 128 * 128], top: 1.0 };
        let figure = GridFigure {
            heads: vec![vec![big; 9]; 30],
            value_scale: ValueScale::Linear,
            colours: ColourScale::Viridis,
            selected: None,
            title: None,
            note: None,
        }
        .fitted();
        let cells: usize = figure.heads.iter().flatten().map(|t| t.rows * t.columns).sum();
        assert!(cells <= MAX_CELLS, "{cells}");
        assert_eq!(figure.heads[0][0].rows, 21);
        assert!(figure.note.unwrap().contains("pooled to at most 21 × 21"));
    }

    #[test]
    fn thumbnails_share_the_width_and_do_not_overlap() {
        let thumb = Thumbnail { rows: 6, columns: 6, values: vec![0.0; 36], top: 1.0 };
        let figure = GridFigure {
            heads: vec![vec![thumb; 9]; 30],
            value_scale: ValueScale::Linear,
            colours: ColourScale::Viridis,
            selected: None,
            title: None,
            note: None,
        };
        let layout = Layout::of(&figure, 1.0);
        let (right, _) = layout.corner(0, 8);
        assert!(right + layout.thumb <= WIDTH as f64, "the last head fits");
        assert!(layout.corner(0, 1).0 - layout.corner(0, 0).0 > layout.thumb, "a gap between heads");
        let (_, bottom) = layout.corner(29, 0);
        assert!(bottom + layout.thumb <= layout.size().1 as f64);
    }
}
