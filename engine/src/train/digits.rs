//! Handwritten digits and strips of them: what the glimpse readers of soft and hard attention
//! learn to read (docs/notes/rnn-attention.md).
//!
//! The digits are scikit-learn's copy of UCI's (CC BY 4.0): 1,797 pictures of 8 × 8 pixels,
//! each pixel the count of ink in a 4 × 4 block (0..16), one picture a line of
//! `digits.csv.gz` with its label last. A strip puts four of them side by side on a canvas
//! 40 pixels wide, the 8 spare columns shared at random among the gaps, so a reader must find
//! each digit before it reads it. One picture in five (index % 5 == 4) is never drawn for
//! training: held-out strips are made of pictures the training never saw.

use std::io::Read;

use super::seeded::Seeded;
use crate::error::{EngineError, Result};

/// A picture's side, in pixels.
pub const SIDE: usize = 8;
/// The digits a strip holds.
pub const STRIP_DIGITS: usize = 4;
/// A strip's width in pixels: four pictures and eight spare columns.
pub const STRIP_WIDTH: usize = 40;
/// The most a picture's pixel holds (a count of 16 pixels of ink).
const INK: u8 = 16;
/// digits.csv.gz unpacked is 264,712 bytes: more than a megabyte is no copy of it.
const MOST_TEXT: u64 = 1 << 20;

/// One handwritten digit.
#[derive(Clone, Debug, PartialEq)]
pub struct Digit {
    pub pixels: [u8; SIDE * SIDE], // row by row, 0..=16
    pub label: u8,
}

/// Every picture of the file, in its order.
#[derive(Clone, Debug)]
pub struct Digits {
    pub pictures: Vec<Digit>,
}

impl Digits {
    /// Reads digits.csv.gz as scikit-learn ships it.
    pub fn from_gzip(bytes: &[u8]) -> Result<Self> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MOST_TEXT)
            .read_to_string(&mut text)
            .map_err(|e| EngineError::BadData(format!("digits.csv.gz does not unpack ({e}): is it scikit-learn's file, whole?")))?;
        Self::parse(&text)
    }

    /// Reads lines of 64 pixels (0..=16) and a label (0..=9), separated by commas.
    pub fn parse(text: &str) -> Result<Self> {
        let mut pictures = Vec::new();
        for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = |what: String| EngineError::BadData(format!("line {} of the digits: {what}", number + 1));
            let values: Vec<&str> = line.split(',').map(str::trim).collect();
            if values.len() != SIDE * SIDE + 1 {
                return Err(bad(format!("{} values, where a picture has 64 pixels and a label", values.len())));
            }
            let number_at = |i: usize| -> Result<u8> {
                // scikit-learn writes whole numbers, some as "0.0".
                let value: f64 = values[i].parse().map_err(|_| bad(format!("`{}` is not a number", values[i])))?;
                let limit = if i == SIDE * SIDE { 9 } else { INK };
                if value.fract() != 0.0 || !(0.0..=f64::from(limit)).contains(&value) {
                    return Err(bad(format!("`{}` is not a whole number from 0 to {limit}", values[i])));
                }
                Ok(value as u8)
            };
            let mut pixels = [0; SIDE * SIDE];
            for (i, pixel) in pixels.iter_mut().enumerate() {
                *pixel = number_at(i)?;
            }
            pictures.push(Digit { pixels, label: number_at(SIDE * SIDE)? });
        }
        if pictures.len() < 2 * STRIP_DIGITS {
            return Err(EngineError::BadData(format!("{} pictures of digits: too few to make strips of", pictures.len())));
        }
        Ok(Self { pictures })
    }

    /// Whether the training never sees the picture at `index`.
    pub fn is_held_out(index: usize) -> bool {
        index % 5 == 4
    }
}

/// Four digits side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct Strip {
    /// [8, 40] row by row, ink from 0 to 1.
    pub pixels: Vec<f32>,
    pub labels: [u8; STRIP_DIGITS],
    /// Each digit's first column.
    pub starts: [usize; STRIP_DIGITS],
    /// Which pictures of the file.
    pub pictures: [usize; STRIP_DIGITS],
}

impl Strip {
    /// The strip of these pictures with `gaps` spare columns before each (the rest after).
    pub fn of(digits: &Digits, pictures: [usize; STRIP_DIGITS], gaps: [usize; STRIP_DIGITS]) -> Self {
        let mut pixels = vec![0.0; SIDE * STRIP_WIDTH];
        let (mut starts, mut labels, mut at) = ([0; STRIP_DIGITS], [0; STRIP_DIGITS], 0);
        for (k, (&picture, &gap)) in pictures.iter().zip(&gaps).enumerate() {
            at += gap;
            starts[k] = at;
            let digit = &digits.pictures[picture];
            labels[k] = digit.label;
            for row in 0..SIDE {
                for column in 0..SIDE {
                    pixels[row * STRIP_WIDTH + at + column] = f32::from(digit.pixels[row * SIDE + column]) / f32::from(INK);
                }
            }
            at += SIDE;
        }
        Self { pixels, labels, starts, pictures }
    }
}

/// Strips drawn from a seed: of training pictures, or of held-out ones.
#[derive(Clone)]
pub struct StripDraws {
    rng: Seeded,
    training: Vec<usize>,
    held_out: Vec<usize>,
}

impl StripDraws {
    pub fn new(digits: &Digits, seed: u64) -> Self {
        let (held_out, training) = (0..digits.pictures.len()).partition(|&i| Digits::is_held_out(i));
        Self { rng: Seeded::new(seed), training, held_out }
    }

    pub fn draw(&mut self, digits: &Digits, held_out: bool) -> Strip {
        let from = if held_out { &self.held_out } else { &self.training };
        let pictures = std::array::from_fn(|_| from[self.rng.below(from.len())]);
        // Each spare column goes to one of the five gaps (before each digit, or after the last).
        let mut gaps = [0; STRIP_DIGITS];
        for _ in 0..STRIP_WIDTH - STRIP_DIGITS * SIDE {
            if let Some(gap) = gaps.get_mut(self.rng.below(STRIP_DIGITS + 1)) {
                *gap += 1;
            }
        }
        Strip::of(digits, pictures, gaps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ink: u8, label: u8) -> String {
        std::iter::repeat_n(ink.to_string(), 64).chain([label.to_string()]).collect::<Vec<_>>().join(",")
    }

    #[test]
    fn a_strip_places_each_digit_after_its_gap() {
        let text: String = (0..10).map(|d| line(d + 1, d) + "\n").collect();
        let digits = Digits::parse(&text).unwrap();
        let strip = Strip::of(&digits, [3, 0, 9, 5], [2, 0, 5, 1]);
        assert_eq!(strip.starts, [2, 10, 23, 32]);
        assert_eq!(strip.labels, [3, 0, 9, 5]);
        // Row 4: two blank columns, digit 3's ink (4 of 16) for eight, digit 0's (1 of 16) ...
        let row: Vec<f32> = strip.pixels[4 * STRIP_WIDTH..5 * STRIP_WIDTH].to_vec();
        assert_eq!(&row[..2], &[0.0, 0.0]);
        assert!(row[2..10].iter().all(|&p| p == 0.25) && row[10..18].iter().all(|&p| p == 1.0 / 16.0));
        assert!(row[18..23].iter().all(|&p| p == 0.0) && row[23..31].iter().all(|&p| p == 10.0 / 16.0));
        assert_eq!(row[31], 0.0);
        assert!(row[32..40].iter().all(|&p| p == 6.0 / 16.0));
    }

    #[test]
    fn bad_digits_are_named() {
        let message = |text: &str| Digits::parse(text).unwrap_err().to_string();
        assert!(message("1,2,3").contains("line 1 of the digits: 3 values"), "{}", message("1,2,3"));
        let text: String = (0..10).map(|d| line(d, d) + "\n").collect::<String>() + &line(17, 1);
        assert!(message(&text).contains("line 11 of the digits: `17` is not a whole number from 0 to 16"), "{}", message(&text));
        assert!(message(&line(1, 12)).contains("`12` is not a whole number from 0 to 9"));
        assert!(message(&line(1, 2)).contains("1 pictures of digits: too few"));
        let err = Digits::from_gzip(b"\x1f\x8b\x08\x00 not really").unwrap_err().to_string();
        assert!(err.contains("digits.csv.gz does not unpack"), "{err}");
    }

    #[test]
    fn held_out_strips_use_only_pictures_the_training_never_draws() {
        let text: String = (0..50).map(|i| line((i % 16) as u8, (i % 10) as u8) + "\n").collect();
        let digits = Digits::parse(&text).unwrap();
        let mut draws = StripDraws::new(&digits, 7);
        for _ in 0..200 {
            let strip = draws.draw(&digits, false);
            assert!(strip.pictures.iter().all(|&p| !Digits::is_held_out(p)));
            assert!(strip.starts[3] + SIDE <= STRIP_WIDTH && strip.starts.windows(2).all(|w| w[1] >= w[0] + SIDE));
            assert!(draws.draw(&digits, true).pictures.iter().all(|&p| Digits::is_held_out(p)));
        }
    }
}
