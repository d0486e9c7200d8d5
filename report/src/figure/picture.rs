//! Attention over a picture as a figure: the picture as the model saw it (letterboxed or
//! cropped into its square input), each patch's cell laid over it in its colour at the
//! page's opacity. The PNG is the composite; the SVG holds the picture as an embedded PNG
//! and a `<rect>` per patch filled with its colour, so a reader can take the numbers back.

use crate::analysis::patches::PatchMap;
use crate::image::Rgb;
use crate::PictureInput;

use super::{base64, ColourScale, ValueScale};

/// How strongly the heat covers the picture: the page's heat layer's opacity.
pub const HEAT_OPACITY: f32 = 0.62;

/// One query's attention over a picture.
pub struct PictureFigure<'a> {
    pub map: &'a PatchMap,
    pub placement: PictureInput,
    pub picture: &'a Rgb,
    pub value_scale: ValueScale,
    pub colours: ColourScale,
    pub title: Option<String>,
}

impl PictureFigure<'_> {
    /// The colour of each patch, row by row.
    pub fn cell_colours(&self) -> Vec<(u8, u8, u8)> {
        self.map.values.iter().map(|&v| self.colours.colour(self.value_scale.fraction(v, self.map.top))).collect()
    }

    /// The picture as the model saw it, `side` pixels square, RGB (black where the letterbox
    /// pads), sampled at each pixel's centre.
    fn seen(&self, side: usize) -> Vec<u8> {
        let p = &self.placement;
        let ([sl, st, sw, sh], [pl, pt, pw, ph]) = (p.source, p.placed);
        let input = p.input_size as f64 / side as f64;
        let mut out = vec![0u8; side * side * 3];
        for y in 0..side {
            let yi = (y as f64 + 0.5) * input;
            if yi < pt || yi >= pt + ph {
                continue;
            }
            let sy = ((st + (yi - pt) * sh / ph) as usize).min(self.picture.height - 1);
            for x in 0..side {
                let xi = (x as f64 + 0.5) * input;
                if xi < pl || xi >= pl + pw {
                    continue;
                }
                let sx = ((sl + (xi - pl) * sw / pw) as usize).min(self.picture.width - 1);
                out[(y * side + x) * 3..][..3].copy_from_slice(&self.picture.pixels[(sy * self.picture.width + sx) * 3..][..3]);
            }
        }
        out
    }

    /// The composite, `side` pixels square: each pixel the picture's, mixed with its patch's
    /// colour at [`HEAT_OPACITY`].
    pub fn composite(&self, side: usize) -> Vec<u8> {
        let mut out = self.seen(side);
        let (colours, grid) = (self.cell_colours(), self.map.grid);
        for y in 0..side {
            let row = y * grid.rows / side;
            for x in 0..side {
                let (r, g, b) = colours[row * grid.columns + x * grid.columns / side];
                for (c, heat) in [r, g, b].into_iter().enumerate() {
                    let at = &mut out[(y * side + x) * 3 + c];
                    *at = (f32::from(*at) * (1.0 - HEAT_OPACITY) + f32::from(heat) * HEAT_OPACITY).round() as u8;
                }
            }
        }
        out
    }

    /// The figure as a PNG, `side` pixels square.
    pub fn png(&self, side: usize) -> Result<Vec<u8>, String> {
        super::encode_png(&self.composite(side), side as u32, side as u32)
    }

    /// The figure as an SVG: a title, the picture (an embedded PNG of `side` pixels), and a
    /// `<rect>` per patch with its colour, its value and its place.
    pub fn svg(&self, side: usize) -> Result<String, String> {
        let picture = super::encode_png(&self.seen(side), side as u32, side as u32)?;
        let top = if self.title.is_some() { 28 } else { 0 };
        let grid = self.map.grid;
        let (w, h) = (side as f64 / grid.columns as f64, side as f64 / grid.rows as f64);
        let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{side}\" height=\"{}\" viewBox=\"0 0 {side} {}\">\n", side + top, side + top);
        if let Some(title) = &self.title {
            svg += &format!("<text x=\"4\" y=\"19\" font-family=\"sans-serif\" font-size=\"14\">{}</text>\n", escape(title));
        }
        svg += &format!("<image x=\"0\" y=\"{top}\" width=\"{side}\" height=\"{side}\" href=\"data:image/png;base64,{}\"/>\n", base64(&picture));
        svg += &format!("<g fill-opacity=\"{HEAT_OPACITY}\">\n");
        for (i, (r, g, b)) in self.cell_colours().into_iter().enumerate() {
            let (row, column) = (i / grid.columns, i % grid.columns);
            svg += &format!(
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{w:.2}\" height=\"{h:.2}\" fill=\"#{r:02x}{g:02x}{b:02x}\" data-row=\"{row}\" data-column=\"{column}\" data-value=\"{:.6}\"/>\n",
                column as f64 * w,
                top as f64 + row as f64 * h,
                self.map.values[i]
            );
        }
        svg += "</g>\n</svg>\n";
        Ok(svg)
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
