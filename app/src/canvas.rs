//! Painting onto a canvas without plotters, where speed matters more than axes.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// Paints a [query, key] map of `rows` × `columns` onto a canvas one pixel per weight;
/// CSS scales it up. Pixels, not plotters: a map must redraw in a few milliseconds.
pub fn paint_pixels(canvas: &HtmlCanvasElement, map: &[f32], (rows, columns): (usize, usize), colour: &dyn Fn(f32) -> (u8, u8, u8)) -> Option<()> {
    let image = CellImage::of(map, (rows, columns), colour);
    let (height, width) = (image.coloured.0 as u32, image.coloured.1 as u32);
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
fn put_rgba(canvas: &HtmlCanvasElement, rgba: &[u8], size: (u32, u32), top: u32) -> Option<()> {
    put_rgba_at(canvas, rgba, size, (0, top as i32))
}

/// Puts `rgba` ([height, width] pixels) on the canvas with its top left at `(left, top)`.
pub fn put_rgba_at(canvas: &HtmlCanvasElement, rgba: &[u8], (width, height): (u32, u32), (left, top): (i32, i32)) -> Option<()> {
    if width == 0 || height == 0 {
        return Some(()); // nothing to put (ImageData has no empty size)
    }
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width, height).ok()?;
    context.put_image_data(&image, f64::from(left), f64::from(top)).ok()
}

/// A map's colours before it is placed on a canvas: a map of `rows` × `columns`, its colours
/// [`CellImage::coloured`] rows and columns of it as RGBA (every cell, or a grid square's
/// sample of a large map).
pub struct CellImage {
    pub rows: usize,
    pub columns: usize,
    coloured: (usize, usize),
    rgba: Vec<u8>,
}

impl CellImage {
    /// `map` ([rows, columns], row-major) coloured by `colour`, every cell.
    pub fn of(map: &[f32], (rows, columns): (usize, usize), colour: &dyn Fn(f32) -> (u8, u8, u8)) -> Self {
        let (rows, columns) = (rows.max(1), columns.max(1));
        Self::sampled(map, (rows, columns), (rows, columns), colour)
    }

    /// `map` as a grid's square shows it: at most [`MAX_CELL`] of its rows and of its columns,
    /// those [`paint_grid`] samples, coloured (DINOv2's 72 maps of 257 × 257 are 4.8 million
    /// cells, each coloured before the grid sampled 9,216 of each: a quarter of a second).
    pub fn thumbnail(map: &[f32], (rows, columns): (usize, usize), colour: &dyn Fn(f32) -> (u8, u8, u8)) -> Self {
        let (rows, columns) = (rows.max(1), columns.max(1));
        Self::sampled(map, (rows, columns), (rows.min(MAX_CELL), columns.min(MAX_CELL)), colour)
    }

    /// The cells (i · rows / coloured rows, j · columns / coloured columns) of `map`, coloured.
    fn sampled(map: &[f32], (rows, columns): (usize, usize), (height, width): (usize, usize), colour: &dyn Fn(f32) -> (u8, u8, u8)) -> Self {
        let mut rgba = Vec::with_capacity(height * width * 4);
        for i in 0..height {
            let row = i * rows / height;
            for j in 0..width {
                match map.get(row * columns + j * columns / width) {
                    Some(&weight) => {
                        let (r, g, b) = colour(weight);
                        rgba.extend([r, g, b, 255]);
                    }
                    None => rgba.extend([0; 4]), // a short map leaves the rest transparent
                }
            }
        }
        Self { rows, columns, coloured: (height, width), rgba }
    }

    /// One colour.
    pub fn flat(colour: (u8, u8, u8)) -> Self {
        Self::of(&[0.0], (1, 1), &|_| colour)
    }

    /// The RGBA of pixel (y, x) of a square of `side` pixels showing this map, nearest
    /// neighbour: the map's cell (y · rows / side, x · columns / side). A thumbnail's coloured
    /// rows are the square's own when it has more than [`MAX_CELL`] (the square is then
    /// [`MAX_CELL`]), so it shows the same cell as the map coloured whole.
    #[inline(always)]
    fn pixel(&self, side: usize, (y, x): (usize, usize)) -> &[u8] {
        let (height, width) = self.coloured;
        let at = ((y * height / side) * width + x * width / side) * 4;
        &self.rgba[at..at + 4]
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
            let start = ((top + y) * width + left) * 4;
            let line = &mut rgba[start..start + side * 4];
            for (x, pixel) in line.chunks_exact_mut(4).enumerate() {
                pixel.copy_from_slice(cell.pixel(side, (y, x)));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A grid square shows a large map's thumbnail as it would the map coloured whole, pixel
    /// for pixel (nearest neighbour from either), and a small map's too.
    #[test]
    fn a_thumbnail_paints_the_squares_pixels_of_the_whole_map() {
        let colour = |w: f32| ((w * 255.0) as u8, (w * 97.0) as u8, 255 - (w * 255.0) as u8);
        for (rows, columns) in [(257, 257), (300, 40), (24, 130), (21, 21), (96, 97)] {
            let map: Vec<f32> = (0..rows * columns).map(|i| (i * 7919 % 1000) as f32 / 1000.0).collect();
            let (whole, thumbnail) = (CellImage::of(&map, (rows, columns), &colour), CellImage::thumbnail(&map, (rows, columns), &colour));
            assert!(thumbnail.coloured.0 <= MAX_CELL && thumbnail.coloured.1 <= MAX_CELL);
            let side = GridShape::fitting(1, 1, &[Some(CellImage::thumbnail(&map, (rows, columns), &colour))]).side;
            for y in 0..side {
                for x in 0..side {
                    assert_eq!(whole.pixel(side, (y, x)), thumbnail.pixel(side, (y, x)), "{rows} × {columns}: pixel ({y}, {x}) of {side}");
                }
            }
        }
    }
}
