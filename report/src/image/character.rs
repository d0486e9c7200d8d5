//! A picture of a handwritten character made into what a few-shot learner of Omniglot reads:
//! 28 × 28 pixels of one bit, 1 for ink, made as scripts/omniglot_compact.py made Omniglot's
//! (each pixel the ink area of its box of the source, ink when enough of the box is).
//!
//! Ink is the darker of the picture's two tones (the lighter when most of it is dark: chalk on
//! a board, a white pen on black). A picture not square is put in the middle of a square of
//! paper, as Omniglot's drawings sit in theirs.

use super::{BadImage, Result, Rgb};

/// The side of a drawing, in pixels.
pub const SIDE: usize = 28;
/// A pixel is ink when its box holds at least 3/8 of the ink the fullest box holds. Omniglot's
/// strokes, 3 pixels wide at 105 × 105, fill whole 3.75-pixel boxes, so this is the script's
/// 3/8 of a box; a big photograph's thin strokes fill a sliver of each box and still show.
const INK_SHARE: f64 = 3.0 / 8.0;
/// Omniglot's drawings ink 2% to 23% of their pixels (16 to 184 of 784): a picture inked over
/// more than a third is a picture of something else (a photograph, a filled shape).
const MOST_INK: usize = SIDE * SIDE / 3;
/// Fewer inked pixels than this is a dot, not a character (Omniglot's least is 16).
const LEAST_INK: usize = 4;

/// `picture` as a 28 × 28 drawing, row by row, 1.0 for ink; or why it is not a character.
pub fn drawing(picture: &Rgb) -> Result<Vec<f32>> {
    let (w, h) = (picture.width, picture.height);
    let luminance: Vec<u32> = picture.pixels.chunks_exact(3).map(|p| (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000).collect();
    let (darkest, lightest) = luminance.iter().fold((u32::MAX, 0), |(lo, hi), &l| (lo.min(l), hi.max(l)));
    if lightest.saturating_sub(darkest) < 32 {
        return Err(BadImage("the picture is all one tone: draw a character, dark on light".into()));
    }
    let middle = (darkest + lightest) / 2;
    let dark = luminance.iter().filter(|&&l| l < middle).count();
    let ink_is_dark = 2 * dark <= luminance.len();
    let is_ink = |l: u32| if ink_is_dark { l < middle } else { l >= middle };
    // The square the picture sits in the middle of, and each output pixel's box of it.
    let side = w.max(h);
    let (left, top) = ((side - w) as f64 / 2.0, (side - h) as f64 / 2.0);
    let scale = side as f64 / SIDE as f64;
    // Each source column's and row's boxes: pixel (x, y) is spread over their products.
    let columns: Vec<Vec<(usize, f64)>> = (0..w).map(|x| spread(x as f64 + left, scale)).collect();
    let rows: Vec<Vec<(usize, f64)>> = (0..h).map(|y| spread(y as f64 + top, scale)).collect();
    let mut area = vec![0.0f64; SIDE * SIDE];
    for (y, row_boxes) in rows.iter().enumerate() {
        for (x, column_boxes) in columns.iter().enumerate() {
            if !is_ink(luminance[y * w + x]) {
                continue;
            }
            for &(row, share_y) in row_boxes {
                for &(column, share_x) in column_boxes {
                    area[row * SIDE + column] += share_x * share_y;
                }
            }
        }
    }
    let fullest = area.iter().copied().fold(0.0, f64::max);
    let drawing: Vec<f32> = area.iter().map(|&a| if fullest > 0.0 && a >= INK_SHARE * fullest { 1.0 } else { 0.0 }).collect();
    let inked = drawing.iter().filter(|&&p| p > 0.0).count();
    if inked < LEAST_INK {
        return Err(BadImage(format!("the picture holds a dot of ink, {inked} of {} pixels at {SIDE} × {SIDE}: draw a character, larger", SIDE * SIDE)));
    }
    if inked > MOST_INK {
        return Err(BadImage(format!(
            "the picture is not a drawn character: at {SIDE} × {SIDE} its ink covers {}% of it, where a handwritten character's covers 2% to 23%",
            100 * inked / (SIDE * SIDE)
        )));
    }
    Ok(drawing)
}

/// The boxes a unit interval starting at `start` (in source pixels) overlaps, each with the
/// overlap as a share of a box's width (a box is `scale` source pixels wide).
fn spread(start: f64, scale: f64) -> Vec<(usize, f64)> {
    let (from, to) = (start / scale, (start + 1.0) / scale);
    let mut boxes = Vec::with_capacity(2);
    let mut at = from;
    while at < to - 1e-12 {
        let index = at.floor() as usize;
        let end = ((index + 1) as f64).min(to);
        if index < SIDE {
            boxes.push((index, end - at));
        }
        at = end;
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `size` × `size` picture of `paper`, with `ink` on the pixels `inked` says.
    fn picture(size: usize, paper: u8, ink: u8, inked: impl Fn(usize, usize) -> bool) -> Rgb {
        let pixels = (0..size * size).flat_map(|i| [if inked(i % size, i / size) { ink } else { paper }; 3]).collect();
        Rgb::new(size, size, pixels).unwrap()
    }

    #[test]
    fn a_cross_at_omniglots_own_scale_is_drawn_where_it_lies() {
        // 112 = 4 × 28: each output pixel is a 4 × 4 box. A plus of 4-pixel-wide strokes
        // at 56..60, exactly box 14's row and column.
        let cross = picture(112, 255, 0, |x, y| (56..60).contains(&x) || (56..60).contains(&y));
        let drawing = drawing(&cross).unwrap();
        for (i, &p) in drawing.iter().enumerate() {
            let (x, y) = (i % SIDE, i / SIDE);
            assert_eq!(p, f32::from(x == 14 || y == 14), "pixel ({x}, {y})");
        }
    }

    #[test]
    fn chalk_on_a_board_reads_as_ink_on_paper() {
        let ink_on_paper = picture(112, 250, 10, |x, y| (20..24).contains(&x) && (10..100).contains(&y));
        let chalk = picture(112, 10, 250, |x, y| (20..24).contains(&x) && (10..100).contains(&y));
        assert_eq!(drawing(&ink_on_paper).unwrap(), drawing(&chalk).unwrap());
    }

    #[test]
    fn a_picture_that_is_not_a_character_is_refused_by_name() {
        let message = |p: &Rgb| drawing(p).unwrap_err().0;
        assert!(message(&picture(50, 200, 200, |_, _| false)).contains("all one tone"));
        assert!(message(&picture(112, 255, 0, |x, y| x < 2 && y < 2)).contains("a dot of ink"));
        // A checkerboard of 8-pixel squares: half ink everywhere.
        let checks = picture(112, 255, 0, |x, y| (x / 8 + y / 8) % 2 == 0);
        assert!(message(&checks).contains("not a drawn character"), "{}", message(&checks));
    }

    #[test]
    fn a_wide_picture_sits_in_the_middle_of_a_square() {
        // 224 × 112, a stroke across the middle row: in a 224 square, rows 56..168 hold the
        // picture, its middle rows 110..114 → box 13.75..14.25, drawn in row 13 or 14.
        let pixels = (0..224 * 112).flat_map(|i| [if (54..58).contains(&(i / 224)) { 0 } else { 255 }; 3]).collect();
        let wide = Rgb::new(224, 112, pixels).unwrap();
        let drawing = drawing(&wide).unwrap();
        let rows: Vec<usize> = (0..SIDE).filter(|&r| drawing[r * SIDE..(r + 1) * SIDE].iter().any(|&p| p > 0.0)).collect();
        assert_eq!(rows, vec![13, 14]);
    }
}
