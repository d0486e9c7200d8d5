//! One map as lines: the rows' tokens in a column on the left, the columns' tokens on the
//! right, a line between two tokens as opaque as the weight (BertViz's head view, still).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::labels::token_label;
use super::Theme;

/// The figure's width in pixels (at zoom 1).
pub const WIDTH: u32 = 460;
/// Where the two columns of tokens stand.
pub const LEFT: f64 = 130.0;
pub const RIGHT: f64 = 330.0;
const TITLE: f64 = 28.0;
/// Lines lighter than this are left out: invisible anyway, and a long text has many.
pub const FAINTEST: f32 = 0.005;

/// What a lines figure shows.
#[derive(Clone, Debug, PartialEq)]
pub struct LinesFigure {
    pub left: Vec<String>,
    pub right: Vec<String>,
    /// Each line's opacity in [0, 1], [left, right] row-major.
    pub weights: Vec<f32>,
    pub title: Option<String>,
    pub note: Option<String>,
}

/// Where the rows of tokens sit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub top: f64,
    pub row: f64,
    pub rows: usize,
    pub zoom: f64,
    /// The room the note takes under the figure (zoom 1).
    note: f64,
}

impl Layout {
    pub fn of(figure: &LinesFigure, zoom: f64) -> Self {
        let rows = figure.left.len().max(figure.right.len()).max(1);
        let row = (560.0 / rows as f64).clamp(6.0, 36.0);
        let top = 5.0 + if figure.title.is_some() { TITLE } else { 0.0 };
        Self { top: top * zoom, row: row * zoom, rows, zoom, note: super::note_height(figure.note.as_deref()) }
    }

    pub fn size(&self) -> (u32, u32) {
        let height = self.top / self.zoom + self.rows as f64 * self.row / self.zoom + 5.0 + self.note;
        ((WIDTH as f64 * self.zoom).round() as u32, (height * self.zoom).round() as u32)
    }

    /// The centre line of row `i`.
    pub fn y(&self, i: usize) -> i32 {
        (self.top + self.row * (i as f64 + 0.5)).round() as i32
    }
}

/// Draws `figure` on `area` (sized as [`Layout::size`] says, at `zoom`).
pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, figure: &LinesFigure, theme: Theme, zoom: f64) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("the lines could not be drawn: {e}");
    let layout = Layout::of(figure, zoom);
    let px = |v: f64| (v * zoom).round() as i32;
    area.fill(&theme.paper).map_err(fail)?;
    let font_px = (layout.row / zoom * 0.75).clamp(6.0, 15.0) * zoom;
    let font = |size: f64| ("sans-serif", size).into_font().color(&theme.ink);
    super::draw_title(area, figure.title.as_deref(), 5.0 + TITLE / 2.0, theme, zoom)?;
    let stroke = RGBColor(52, 84, 209);
    let columns = figure.right.len();
    for l in 0..figure.left.len() {
        for r in 0..columns {
            let weight = figure.weights.get(l * columns + r).copied().unwrap_or(0.0);
            if weight >= FAINTEST {
                let style = stroke.mix(weight.min(1.0) as f64).stroke_width((2.0 * zoom).round().max(1.0) as u32);
                area.draw(&PathElement::new(vec![(px(LEFT + 6.0), layout.y(l)), (px(RIGHT - 6.0), layout.y(r))], style)).map_err(fail)?;
            }
        }
    }
    for (i, token) in figure.left.iter().enumerate() {
        area.draw(&Text::new(token_label(token), (px(LEFT), layout.y(i)), font(font_px).pos(Pos::new(HPos::Right, VPos::Center)))).map_err(fail)?;
    }
    for (i, token) in figure.right.iter().enumerate() {
        area.draw(&Text::new(token_label(token), (px(RIGHT), layout.y(i)), font(font_px).pos(Pos::new(HPos::Left, VPos::Center)))).map_err(fail)?;
    }
    super::draw_note(area, figure.note.as_deref(), layout.size().1, layout.note, theme, zoom)?;
    Ok(())
}
