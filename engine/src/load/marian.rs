//! Marian's binary model format (Bergamot's `*.intgemm.alphas.bin`) and its lexical
//! shortlist (`lex.*.s2t.bin`), read from bytes.
//!
//! The model file, little endian: u64 version (1), u64 item count n, n headers of four
//! u64 (name length with its NUL, type, shape length, data length), the n NUL-ended
//! names, the n shapes (i32 each), a u64 pad and that many bytes, then every item's
//! data in header order. Types: float32 (0x0404), int8 (0x0101, the `special:model.yml`
//! text) and intgemm8 (0x4101): r·c int8 values then a float32 `quantMult`, the value
//! being q / quantMult. Every intgemm8 matrix but the embedding table `Wemb` is stored
//! transposed: its bytes are the [c, r] matrix while its header says [r, c].
//!
//! Every length is checked against the file before anything is allocated, so a header
//! that claims more than the file holds is an error, never an allocation.

use std::collections::HashMap;

use crate::error::{EngineError, Result};

const FLOAT32: u64 = 0x0404;
const INT8: u64 = 0x0101;
const INTGEMM8: u64 = 0x4101;

fn bad(message: impl Into<String>) -> EngineError {
    EngineError::BadModelFile(message.into())
}

/// Reads little-endian numbers from a byte slice, failing (not panicking) past its end.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| bad(format!("the file ends inside {what} (byte {} of {})", self.at, self.bytes.len())))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }

    /// A u64 that counts or measures something in this file: at most its size.
    fn size(&mut self, what: &str) -> Result<usize> {
        let value = self.u64(what)?;
        usize::try_from(value)
            .ok()
            .filter(|&v| v <= self.bytes.len())
            .ok_or_else(|| bad(format!("{what} is {value}, more than the file's {} bytes", self.bytes.len())))
    }
}

/// One item of a Marian model: its name, type, shape and where its data lies.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub name: String,
    kind: u64,
    pub shape: Vec<usize>,
    data: std::ops::Range<usize>,
}

impl Item {
    fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed Marian model file: the items, and the bytes they point into.
#[derive(Debug)]
pub struct MarianFile<'a> {
    bytes: &'a [u8],
    items: HashMap<String, Item>,
}

impl<'a> MarianFile<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut cursor = Cursor { bytes, at: 0 };
        let version = cursor.u64("the version")?;
        if version != 1 {
            return Err(bad(format!("this is not a Marian binary model (version {version}, expected 1)")));
        }
        // Each item needs a 32-byte header at least: a count past that is a lie.
        let count = cursor.size("the item count")?;
        if count > bytes.len() / 32 {
            return Err(bad(format!("the file claims {count} items, more than its {} bytes can hold", bytes.len())));
        }
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let name_len = cursor.size("a name's length")?;
            let kind = cursor.u64("a type")?;
            let shape_len = cursor.size("a shape's length")?;
            let data_len = cursor.size("a data length")?;
            headers.push((name_len, kind, shape_len, data_len));
        }
        let mut names = Vec::with_capacity(count);
        for &(name_len, ..) in &headers {
            let raw = cursor.take(name_len, "the names")?;
            let raw = raw.strip_suffix(&[0]).ok_or_else(|| bad("a name does not end with NUL"))?;
            names.push(String::from_utf8(raw.to_vec()).map_err(|_| bad("a name is not UTF-8"))?);
        }
        let mut shapes = Vec::with_capacity(count);
        for &(_, _, shape_len, _) in &headers {
            let raw = cursor.take(shape_len.checked_mul(4).ok_or_else(|| bad("a shape is too long"))?, "the shapes")?;
            let shape = raw
                .chunks_exact(4)
                .map(|d| usize::try_from(i32::from_le_bytes(d.try_into().expect("4 bytes"))).map_err(|_| bad("a shape has a negative size")))
                .collect::<Result<Vec<_>>>()?;
            shapes.push(shape);
        }
        let pad = cursor.size("the padding")?;
        cursor.take(pad, "the padding")?;
        let mut items = HashMap::with_capacity(count);
        for ((name, shape), (_, kind, _, data_len)) in names.into_iter().zip(shapes).zip(headers) {
            let start = cursor.at;
            cursor.take(data_len, &format!("the data of `{name}`"))?;
            let item = Item { name: name.clone(), kind, shape, data: start..start + data_len };
            let elements = item.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| bad(format!("`{name}`'s shape is too large")))?;
            let needed = match kind {
                FLOAT32 => elements.checked_mul(4),
                INTGEMM8 => elements.checked_add(4),
                INT8 => Some(elements),
                other => return Err(bad(format!("`{name}` has type {other:#x}, which is not float32, int8 or intgemm8"))),
            };
            if needed.is_none_or(|n| n > data_len) {
                return Err(bad(format!("`{name}`'s shape {:?} needs more than its {data_len} bytes", item.shape)));
            }
            items.insert(name, item);
        }
        Ok(Self { bytes, items })
    }

    pub fn item(&self, name: &str) -> Result<&Item> {
        self.items.get(name).ok_or_else(|| bad(format!("the model has no `{name}`")))
    }

    /// The `special:model.yml` text: the options the model was trained with.
    pub fn model_yml(&self) -> Option<String> {
        let item = self.items.get("special:model.yml").filter(|i| i.kind == INT8)?;
        Some(String::from_utf8_lossy(&self.bytes[item.data.start..item.data.start + item.elements()]).trim_end_matches('\0').to_string())
    }

    /// A float32 or intgemm8 item as float32 values, row-major in the shape the header
    /// says (intgemm8 de-quantized, and transposed back unless it is `Wemb`).
    pub fn floats(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let item = self.item(name)?;
        let data = &self.bytes[item.data.clone()];
        let n = item.elements();
        let values = match item.kind {
            FLOAT32 => data[..4 * n].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect(),
            INTGEMM8 => {
                let quant_mult = f32::from_le_bytes(data[n..n + 4].try_into().expect("4 bytes"));
                if !(quant_mult.is_finite() && quant_mult > 0.0) {
                    return Err(bad(format!("`{name}`'s scale {quant_mult} is not a positive number")));
                }
                let q = &data[..n];
                match item.shape.as_slice() {
                    [rows, cols] if name != "Wemb" => {
                        // The bytes are the [cols, rows] matrix: element (r, c) is at c * rows + r.
                        let mut out = vec![0f32; n];
                        for (i, &byte) in q.iter().enumerate() {
                            let (c, r) = (i / rows, i % rows);
                            out[r * cols + c] = byte as i8 as f32 / quant_mult;
                        }
                        out
                    }
                    _ => q.iter().map(|&byte| byte as i8 as f32 / quant_mult).collect(),
                }
            }
            other => return Err(bad(format!("`{name}` has type {other:#x}, not a matrix"))),
        };
        Ok((values, item.shape.clone()))
    }

    /// The names of every item, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.items.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// The lexical shortlist: for every source token, the target tokens it may translate to.
/// A sentence's candidates are the first `first_num` ids, every listed target of its
/// source ids, and as many unlisted ids as make their count a multiple of 8 (Marian pads
/// for its int8 matrix products, and the padding changes some translations).
#[derive(Clone, Debug)]
pub struct Shortlist {
    first_num: usize,
    /// Where each source id's list starts in `lists`; one entry more than the vocabulary.
    offsets: Vec<usize>,
    lists: Vec<u32>,
}

const SHORTLIST_MAGIC: u64 = 0xF11A_48D5_0134_17F5;

impl Shortlist {
    /// Reads `lex.*.s2t.bin`: u64 magic, checksum, firstNum, bestNum, offsets' count,
    /// lists' length; then the offsets (u64) and the lists (u32). The checksum is
    /// Boost's hash_combine over the u64 words from firstNum to the end.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let bad = |m: String| EngineError::BadModelFile(format!("shortlist: {m}"));
        let mut cursor = Cursor { bytes, at: 0 };
        let magic = cursor.u64("the magic number")?;
        if magic != SHORTLIST_MAGIC {
            return Err(bad(format!("this is not a Marian lexical shortlist (magic {magic:#x})")));
        }
        let checksum = cursor.u64("the checksum")?;
        let first_num = cursor.size("firstNum")?;
        let _best_num = cursor.u64("bestNum")?;
        let offsets_len = cursor.size("the offsets' count")?;
        let lists_len = cursor.size("the lists' length")?;
        let expected = offsets_len.checked_mul(8).and_then(|o| lists_len.checked_mul(4).and_then(|l| o.checked_add(l))).and_then(|n| n.checked_add(48));
        if expected != Some(bytes.len()) {
            return Err(bad(format!("its header says {offsets_len} offsets and {lists_len} entries, which do not fit its {} bytes", bytes.len())));
        }
        let words = bytes[16..].chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")));
        let seed = words.fold(0u64, |seed, w| seed ^ w.wrapping_add(0x9E37_79B9).wrapping_add(seed << 6).wrapping_add(seed >> 2));
        if seed != checksum {
            return Err(bad("its checksum does not match its contents (a damaged file)".into()));
        }
        let offsets = cursor.take(8 * offsets_len, "the offsets")?;
        let offsets: Vec<usize> = offsets.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")) as usize).collect();
        if offsets.windows(2).any(|w| w[0] > w[1]) || offsets.last().is_some_and(|&end| end > lists_len) || offsets.is_empty() {
            return Err(bad("its offsets are not in order within its lists".into()));
        }
        let lists = cursor.take(4 * lists_len, "the lists")?;
        let lists = lists.chunks_exact(4).map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes"))).collect();
        Ok(Self { first_num, offsets, lists })
    }

    /// How many source tokens it has lists for.
    pub fn vocab(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The target ids a sentence of `source` ids may use, ascending (ids below `vocab`).
    pub fn candidates(&self, source: &[u32], vocab: usize) -> Vec<u32> {
        let mut chosen = vec![false; vocab];
        chosen.iter_mut().take(self.first_num).for_each(|c| *c = true);
        for &s in source {
            let s = s as usize;
            if s + 1 < self.offsets.len() {
                for &t in &self.lists[self.offsets[s]..self.offsets[s + 1]] {
                    if let Some(c) = chosen.get_mut(t as usize) {
                        *c = true;
                    }
                }
            }
        }
        let count = chosen.iter().filter(|&&c| c).count();
        let mut missing = (8 - count % 8) % 8;
        for c in chosen.iter_mut().skip(self.first_num) {
            if missing == 0 {
                break;
            }
            if !*c {
                *c = true;
                missing -= 1;
            }
        }
        chosen.iter().enumerate().filter(|(_, &c)| c).map(|(i, _)| i as u32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model file of the given items (name, type, shape, data), laid out as Marian does.
    fn file(items: &[(&str, u64, &[i32], Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(1u64.to_le_bytes());
        out.extend((items.len() as u64).to_le_bytes());
        for (name, kind, shape, data) in items {
            for v in [name.len() as u64 + 1, *kind, shape.len() as u64, data.len() as u64] {
                out.extend(v.to_le_bytes());
            }
        }
        for (name, ..) in items {
            out.extend(name.as_bytes());
            out.push(0);
        }
        for (_, _, shape, _) in items {
            shape.iter().for_each(|d| out.extend(d.to_le_bytes()));
        }
        out.extend(0u64.to_le_bytes());
        for (.., data) in items {
            out.extend(data);
        }
        out
    }

    fn intgemm(values: &[i8], quant_mult: f32) -> Vec<u8> {
        let mut data: Vec<u8> = values.iter().map(|&v| v as u8).collect();
        data.extend(quant_mult.to_le_bytes());
        data
    }

    #[test]
    fn intgemm_matrices_are_scaled_and_transposed_back_but_the_embeddings_are_not() {
        // A [2, 3] matrix stored transposed: the bytes are its [3, 2] transpose, row-major.
        let w = [[1i8, 2, 3], [4, 5, 6]];
        let stored: Vec<i8> = (0..3).flat_map(|c| (0..2).map(move |r| w[r][c])).collect();
        let bytes = file(&[
            ("encoder_l1_self_Wq", INTGEMM8, &[2, 3], intgemm(&stored, 2.0)),
            ("Wemb", INTGEMM8, &[2, 3], intgemm(&[1, 2, 3, 4, 5, 6], 4.0)),
            ("b", FLOAT32, &[1, 2], [0.5f32, -1.0].iter().flat_map(|v| v.to_le_bytes()).collect()),
        ]);
        let model = MarianFile::parse(&bytes).unwrap();
        assert_eq!(model.floats("encoder_l1_self_Wq").unwrap(), (vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0], vec![2, 3]));
        assert_eq!(model.floats("Wemb").unwrap().0, vec![0.25, 0.5, 0.75, 1.0, 1.25, 1.5]);
        assert_eq!(model.floats("b").unwrap().0, vec![0.5, -1.0]);
        assert!(model.floats("missing").unwrap_err().to_string().contains("no `missing`"));
    }

    #[test]
    fn headers_that_claim_more_than_the_file_holds_are_refused_before_allocating() {
        let good = file(&[("b", FLOAT32, &[1, 2], vec![0; 8])]);
        assert!(MarianFile::parse(&good).is_ok());
        // A shape of 10^12 elements in 8 bytes of data.
        let huge = file(&[("b", FLOAT32, &[1_000_000, 1_000_000], vec![0; 8])]);
        assert!(MarianFile::parse(&huge).unwrap_err().to_string().contains("needs more than"));
        // An item count far past the file.
        let mut lying = good.clone();
        lying[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(MarianFile::parse(&lying).is_err());
        // Every truncation fails cleanly.
        for cut in 0..good.len() {
            assert!(MarianFile::parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Not a Marian file at all.
        assert!(MarianFile::parse(b"GGUF\x03\0\0\0\0\0\0\0\0\0\0\0").unwrap_err().to_string().contains("not a Marian"));
    }

    fn shortlist(first_num: u64, lists: &[&[u32]]) -> Vec<u8> {
        let mut offsets = vec![0u64];
        for list in lists {
            offsets.push(offsets.last().unwrap() + list.len() as u64);
        }
        let flat: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
        let mut body = Vec::new();
        for v in [first_num, 50, offsets.len() as u64, flat.len() as u64] {
            body.extend(v.to_le_bytes());
        }
        offsets.iter().for_each(|o| body.extend(o.to_le_bytes()));
        flat.iter().for_each(|t| body.extend(t.to_le_bytes()));
        let words = body.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap()));
        let checksum = words.fold(0u64, |seed, w| seed ^ w.wrapping_add(0x9E37_79B9).wrapping_add(seed << 6).wrapping_add(seed >> 2));
        let mut out = SHORTLIST_MAGIC.to_le_bytes().to_vec();
        out.extend(checksum.to_le_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn candidates_are_the_first_ids_the_listed_ones_and_padding_to_eight() {
        // 20 ids; the first 2 always; source 0 lists 10, source 1 lists 12 and 15.
        let bytes = shortlist(2, &[&[10], &[12, 15], &[]]);
        let list = Shortlist::parse(&bytes).unwrap();
        assert_eq!(list.vocab(), 3);
        // {0, 1, 10, 12, 15}: 5, padded to 8 with the smallest unused ids from 2: 2, 3, 4.
        assert_eq!(list.candidates(&[0, 1], 20), vec![0, 1, 2, 3, 4, 10, 12, 15]);
        // A damaged byte fails the checksum; a short file fails its size.
        // (The checksum covers whole u64 words from byte 16, as Marian computes it.)
        let mut damaged = bytes.clone();
        damaged[60] ^= 1;
        assert!(Shortlist::parse(&damaged).unwrap_err().to_string().contains("checksum"));
        assert!(Shortlist::parse(&bytes[..bytes.len() - 4]).is_err());
    }
}
