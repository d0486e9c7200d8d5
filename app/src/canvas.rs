//! Painting onto a canvas without plotters, where speed matters more than axes.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// Paints a [query, key] map of `rows` × `columns` onto a canvas one pixel per weight;
/// CSS scales it up. Pixels, not plotters: 270 thumbnails must redraw in a few milliseconds.
pub fn paint_pixels(canvas: &HtmlCanvasElement, map: &[f32], (rows, columns): (usize, usize), colour: &dyn Fn(f32) -> (u8, u8, u8)) -> Option<()> {
    let (height, width) = (rows.max(1) as u32, columns.max(1) as u32);
    canvas.set_width(width);
    canvas.set_height(height);
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let mut rgba = Vec::with_capacity(map.len() * 4);
    for &weight in map {
        let (r, g, b) = colour(weight);
        rgba.extend([r, g, b, 255]);
    }
    let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), width, height).ok()?;
    context.put_image_data(&image, 0.0, 0.0).ok()
}
