//! Omniglot's handwritten characters (Lake, Salakhutdinov and Tenenbaum 2015; MIT), as the
//! project keeps them (assets/data/omniglot, made by scripts/omniglot_compact.py): the two
//! small background sets and the 20 one-shot runs, each drawing 28 × 28 pixels of one bit,
//! and an index of which drawings are which alphabet's characters and which make each run.
//! What a few-shot learner (SNAIL) trains and is measured on.

use std::io::Read;

use serde::Deserialize;

use crate::error::{EngineError, Result};

/// A drawing's side, in pixels.
pub const SIDE: usize = 28;
/// A drawing's bytes: one bit a pixel.
const BYTES: usize = SIDE * SIDE / 8;
/// The project's copy holds 6,640 drawings: an index that claims far more lies, and is refused
/// before anything is allocated for it.
const MOST_DRAWINGS: usize = 1 << 16;

/// One alphabet of a background set: its characters, each a run of drawings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Alphabet {
    pub set: String,
    pub alphabet: String,
    pub characters: Vec<Character>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Character {
    pub name: String,
    /// The index of its first drawing; its drawings follow one another.
    pub first: usize,
    pub count: usize,
}

/// One of the 20 one-shot runs: a drawing of each of 20 characters (`training`), and 20 other
/// drawings of the same characters (`test`), `answers[i]` the position in `training` of test
/// drawing i's character.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct OneShotRun {
    pub run: usize,
    pub training: Vec<usize>,
    pub test: Vec<usize>,
    pub answers: Vec<usize>,
}

#[derive(Deserialize)]
struct Index {
    side: usize,
    drawings: usize,
    background: Vec<Alphabet>,
    runs: Vec<OneShotRun>,
}

/// Every drawing, and what the index says of them.
#[derive(Clone, Debug)]
pub struct Omniglot {
    drawings: Vec<[u8; BYTES]>,
    pub background: Vec<Alphabet>,
    pub runs: Vec<OneShotRun>,
}

impl Omniglot {
    /// Reads index.json and images.bin.gz, every index checked against the drawings there are.
    pub fn from_files(index: &[u8], images: &[u8]) -> Result<Self> {
        let bad = |what: String| EngineError::BadData(format!("Omniglot: {what}"));
        let index: Index = serde_json::from_slice(index).map_err(|e| bad(format!("index.json: {e}")))?;
        if index.side != SIDE {
            return Err(bad(format!("index.json says the drawings are {} pixels a side; the project's are {SIDE}", index.side)));
        }
        if index.drawings == 0 || index.drawings > MOST_DRAWINGS {
            return Err(bad(format!("index.json claims {} drawings; its copy holds 1 to {MOST_DRAWINGS}", index.drawings)));
        }
        let expected = index.drawings * BYTES;
        let mut bytes = Vec::with_capacity(expected);
        flate2::read::GzDecoder::new(images)
            .take(expected as u64 + 1) // one byte more tells a longer file from a whole one
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("images.bin.gz does not unpack ({e}): is it the project's file, whole?")))?;
        if bytes.len() > expected {
            return Err(bad(format!("images.bin.gz holds more than the {} drawings index.json names", index.drawings)));
        }
        if bytes.len() < expected {
            return Err(bad(format!("images.bin.gz holds {} bytes where {} drawings of {BYTES} bytes need {expected}", bytes.len(), index.drawings)));
        }
        let in_range = |i: usize| i < index.drawings;
        for alphabet in &index.background {
            for character in &alphabet.characters {
                if character.count == 0 || !in_range(character.first) || !in_range(character.first + character.count - 1) {
                    return Err(bad(format!(
                        "{} {}: drawings {}..{} are not all there",
                        alphabet.alphabet,
                        character.name,
                        character.first,
                        character.first + character.count
                    )));
                }
            }
        }
        for run in &index.runs {
            let mut seen = vec![false; run.training.len()];
            let mut answered = run.answers.len() == run.test.len();
            for &a in &run.answers {
                answered &= a < seen.len() && !std::mem::replace(&mut seen[a], true);
            }
            if !answered || !run.training.iter().chain(&run.test).copied().all(in_range) {
                return Err(bad(format!("run {}: its drawings or answers do not add up", run.run)));
            }
        }
        let drawings = bytes.chunks_exact(BYTES).map(|c| c.try_into().unwrap_or([0; BYTES])).collect();
        Ok(Self { drawings, background: index.background, runs: index.runs })
    }

    /// How many drawings there are.
    pub fn len(&self) -> usize {
        self.drawings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.drawings.is_empty()
    }

    /// Drawing `i`'s pixels, row by row, 1.0 for ink.
    pub fn pixels(&self, i: usize) -> Vec<f32> {
        let Some(drawing) = self.drawings.get(i) else { return vec![0.0; SIDE * SIDE] };
        (0..SIDE * SIDE).map(|p| f32::from((drawing[p / 8] >> (7 - p % 8)) & 1)).collect()
    }

    /// Drawing `i` moved `dx` pixels right and `dy` down (what leaves the frame is lost, what
    /// comes in is paper).
    pub fn shifted(&self, i: usize, dx: isize, dy: isize) -> Vec<f32> {
        let pixels = self.pixels(i);
        let side = SIDE as isize;
        (0..SIDE * SIDE)
            .map(|p| {
                let (x, y) = (p as isize % side - dx, p as isize / side - dy);
                if (0..side).contains(&x) && (0..side).contains(&y) {
                    pixels[(y * side + x) as usize]
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// How many of drawing `i`'s pixels are ink.
    pub fn ink(&self, i: usize) -> usize {
        self.drawings.get(i).map_or(0, |d| d.iter().map(|b| b.count_ones() as usize).sum())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Two drawings: the first with its top-left pixel and its last pixel inked, the second
    /// blank; one character of both, and a run of them.
    fn two() -> (String, Vec<u8>) {
        let mut bytes = vec![0u8; 2 * BYTES];
        bytes[0] = 0b1000_0000;
        bytes[BYTES - 1] = 0b0000_0001;
        let index = r#"{"side": 28, "drawings": 2,
            "background": [{"set": "small1", "alphabet": "Test", "characters": [{"name": "character01", "first": 0, "count": 2}]}],
            "runs": [{"run": 1, "training": [0, 1], "test": [1, 0], "answers": [1, 0]}]}"#;
        (index.to_string(), gz(&bytes))
    }

    #[test]
    fn bits_are_read_row_by_row_most_significant_first() {
        let (index, images) = two();
        let omniglot = Omniglot::from_files(index.as_bytes(), &images).unwrap();
        let pixels = omniglot.pixels(0);
        assert_eq!((pixels[0], pixels[1], pixels[SIDE * SIDE - 1]), (1.0, 0.0, 1.0));
        assert_eq!((omniglot.ink(0), omniglot.ink(1), omniglot.len()), (2, 0, 2));
    }

    #[test]
    fn a_file_cut_short_or_an_index_that_lies_is_refused_by_name() {
        let (index, images) = two();
        let refused = |index: &str, images: &[u8]| Omniglot::from_files(index.as_bytes(), images).unwrap_err().to_string();
        assert!(refused(&index, &images[..images.len() / 2]).contains("does not unpack"));
        assert!(refused(&index, &gz(&[0; BYTES])).contains("holds 98 bytes where 2 drawings"));
        assert!(refused(&index, &gz(&[0; 3 * BYTES])).contains("more than the 2 drawings"), "a longer file than the index says");
        assert!(refused(&index.replace("\"drawings\": 2", "\"drawings\": 1000000000"), &images).contains("claims 1000000000 drawings"));
        assert!(refused(&index.replace("\"count\": 2", "\"count\": 3"), &images).contains("are not all there"));
        assert!(refused(&index.replace("\"answers\": [1, 0]", "\"answers\": [1, 1]"), &images).contains("run 1"));
        assert!(refused(&index.replace("\"side\": 28", "\"side\": 105"), &images).contains("105 pixels"));
        assert!(refused("not json", &images).contains("index.json"));
    }
}
