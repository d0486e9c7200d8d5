//! Painting onto a canvas without plotters, where speed matters more than axes.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// Paints a [query, key] map of `rows` × `columns` onto a canvas one pixel per weight;
/// CSS scales it up. Pixels, not plotters: a map must redraw in a few milliseconds.
pub fn paint_pixels(canvas: &HtmlCanvasElement, map: &[f32], (rows, columns): (usize, usize), colour: &dyn Fn(f32) -> (u8, u8, u8)) -> Option<()> {
    let image = CellImage::of(map, (rows, columns), colour);
    let (height, width) = (image.rows as u32, image.columns as u32);
    resize(canvas, (width, height));
    put_rgba(canvas, &image.rgba, (width, height), 0)
}

/// Sizes the canvas, only when its size changes: setting a canvas's width clears it and
/// reallocates its pixels, which is most of a redraw's cost.
fn resize(canvas: &HtmlCanvasElement, (width, height): (u32, u32)) {
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
    }
}

/// Puts `rgba` ([height, width] pixels) on the canvas from its row `top`.
fn put_rgba(canvas: &HtmlCanvasElement, rgba: &[u8], (width, height): (u32, u32), top: u32) -> Option<()> {
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width, height.max(1)).ok()?;
    context.put_image_data(&image, 0.0, f64::from(top)).ok()
}

/// A small map's colours, [rows, columns] as RGBA, before it is placed on a canvas.
pub struct CellImage {
    pub rows: usize,
    pub columns: usize,
    rgba: Vec<u8>,
}

impl CellImage {
    /// `map` ([rows, columns], row-major) coloured by `colour`.
    pub fn of(map: &[f32], (rows, columns): (usize, usize), colour: &dyn Fn(f32) -> (u8, u8, u8)) -> Self {
        let (rows, columns) = (rows.max(1), columns.max(1));
        let mut rgba = Vec::with_capacity(rows * columns * 4);
        for &weight in map.iter().take(rows * columns) {
            let (r, g, b) = colour(weight);
            rgba.extend([r, g, b, 255]);
        }
        rgba.resize(rows * columns * 4, 0); // a short map leaves the rest transparent
        Self { rows, columns, rgba }
    }

    /// One colour.
    pub fn flat(colour: (u8, u8, u8)) -> Self {
        Self::of(&[0.0], (1, 1), &|_| colour)
    }
}

/// The smallest side of a grid cell in the canvas's pixels: small maps are scaled up by a
/// whole factor to at least this, so that the one-pixel gap between cells is thin beside them.
const MIN_CELL: usize = 32;
/// The largest: a larger map is sampled (a cell is a few dozen pixels on the screen, twice
/// that on a dense display; a long text's 130 blocks would make a 20-MB canvas).
const MAX_CELL: usize = 96;

/// A grid of cells on one canvas: `rows` × `columns` squares of `side` pixels, each with a
/// one-pixel gap after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridShape {
    pub rows: usize,
    pub columns: usize,
    pub side: usize,
}

impl GridShape {
    /// A grid whose squares fit the largest of `cells`.
    pub fn fitting(rows: usize, columns: usize, cells: &[Option<CellImage>]) -> Self {
        let largest = cells.iter().flatten().map(|c| c.rows.max(c.columns)).max().unwrap_or(1);
        let side = if largest >= MIN_CELL { largest.min(MAX_CELL) } else { largest * MIN_CELL.div_ceil(largest) };
        Self { rows, columns, side }
    }
}

/// Paints cells of a grid onto one canvas, `cells` row by row from row `first_row` (`None`
/// left blank): each map stretched over its square by nearest neighbour (source row =
/// y · rows / side). From row 0 the canvas is sized to the grid and every cell painted; from
/// a later row only those rows' strip (a long text's layers as they arrive), the rest kept.
/// One canvas and one `putImageData`: some 300 small canvases cost the browser more to lay
/// out and paint than their drawing cost (docs/notes/person-wait.md).
///
/// Says on the canvas what it drew, for whoever reads its pixels back: `data-side` (the
/// square's side), `data-columns` (cells in a row) and `data-cells` (each cell's map as
/// `rows`x`columns`, blank `0x0`).
pub fn paint_grid(canvas: &HtmlCanvasElement, shape: GridShape, first_row: usize, cells: &[Option<CellImage>]) -> Option<()> {
    let GridShape { rows, columns, side } = shape;
    let pitch = side + 1;
    let strip_rows = cells.len().div_ceil(columns.max(1)).min(rows.saturating_sub(first_row));
    let (width, height) = (columns * pitch, strip_rows * pitch);
    let mut rgba = vec![0u8; width * height * 4];
    for (index, cell) in cells.iter().enumerate().take(strip_rows * columns) {
        let Some(cell) = cell else { continue };
        let (top, left) = ((index / columns) * pitch, (index % columns) * pitch);
        for y in 0..side {
            let source_row = &cell.rgba[(y * cell.rows / side) * cell.columns * 4..][..cell.columns * 4];
            let start = ((top + y) * width + left) * 4;
            let line = &mut rgba[start..start + side * 4];
            for (x, pixel) in line.chunks_exact_mut(4).enumerate() {
                let from = x * cell.columns / side * 4;
                pixel.copy_from_slice(&source_row[from..from + 4]);
            }
        }
    }
    let described = cells.iter().map(|c| c.as_ref().map_or("0x0".into(), |c| format!("{}x{}", c.rows, c.columns)));
    let mut all: Vec<String> = match first_row {
        0 => Vec::new(),
        _ => canvas.get_attribute("data-cells").unwrap_or_default().split(',').map(String::from).collect(),
    };
    all.resize(rows * columns, "0x0".into());
    for (i, cell) in described.enumerate().take(strip_rows * columns) {
        all[first_row * columns + i] = cell;
    }
    canvas.set_attribute("data-side", &side.to_string()).ok()?;
    canvas.set_attribute("data-columns", &columns.to_string()).ok()?;
    canvas.set_attribute("data-cells", &all.join(",")).ok()?;
    let size = (width as u32, height as u32);
    if first_row == 0 {
        resize(canvas, size);
    }
    put_rgba(canvas, &rgba, size, (first_row * pitch) as u32)
}
