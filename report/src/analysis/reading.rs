//! Ways to read a map that the model did not compute but a person asks for: the first key
//! (the attention sink most heads of modern models pour their weight into) set aside with
//! each row renormalised over the rest, and sub-word pieces read as words. Pure functions
//! over one head's map, [query, key] row-major.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::Token;

/// One head's map [queries, keys] without its first key column, each row renormalised over
/// the keys left: [queries, keys − 1]. A row with no weight left (a causal model's first
/// query sees only the first key) is all zeros, and its index is in the second value, so a
/// view can say it has nothing to show there.
pub fn without_first_key(map: &[f32], queries: usize, keys: usize) -> (Vec<f32>, Vec<usize>) {
    let mut out = Vec::with_capacity(queries * keys.saturating_sub(1));
    let mut empty = Vec::new();
    for q in 0..queries {
        let rest = &map[q * keys + 1.min(keys)..(q + 1) * keys];
        let total: f64 = rest.iter().map(|&w| f64::from(w)).sum();
        if total > 0.0 {
            out.extend(rest.iter().map(|&w| (f64::from(w) / total) as f32));
        } else {
            empty.push(q);
            out.extend(std::iter::repeat_n(0.0, rest.len()));
        }
    }
    (out, empty)
}

/// A word of the input: the tokens it is made of, and its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    pub tokens: Range<usize>,
    pub text: String,
}

/// The input's tokens grouped into words: a word is a run of tokens whose text touches with
/// no whitespace between (the text's own whitespace-separated words, so "mat." is one word
/// whichever tokenizer cut it into "mat" and "."). A token that is not from the text (a
/// special token, which has no span) is a word of its own. Byte-level BPE (" cat"),
/// SentencePiece ("▁cat") and WordPiece ("cat", "##s") all group alike, by their spans.
pub fn words(tokens: &[Token], text: &str) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut previous_end: Option<usize> = None;
    for (i, token) in tokens.iter().enumerate() {
        let Some([start, end]) = token.span else {
            words.push(Word { tokens: i..i + 1, text: token.text.clone() });
            previous_end = None;
            continue;
        };
        let piece = text.get(start..end).unwrap_or_default();
        let starts_with_space = piece.starts_with(char::is_whitespace);
        let gap = previous_end.is_some_and(|p| text.get(p..start).is_none_or(|between| !between.is_empty()));
        let continues = previous_end.is_some() && !gap && !starts_with_space;
        match words.last_mut() {
            Some(word) if continues => {
                word.tokens.end = i + 1;
                word.text.push_str(piece);
            }
            _ => words.push(Word { tokens: i..i + 1, text: piece.trim_start().to_string() }),
        }
        previous_end = Some(end);
    }
    words
}

/// One head's map [queries, keys] read by words: attention to a word is the sum over its
/// pieces, attention from a word the mean over its pieces (rows still sum to 1).
/// `query_words` and `key_words` group the map's queries and keys: [query words, key words].
pub fn pooled(map: &[f32], keys: usize, query_words: &[Word], key_words: &[Word]) -> Vec<f32> {
    let mut out = Vec::with_capacity(query_words.len() * key_words.len());
    for qw in query_words {
        let pieces = qw.tokens.len().max(1) as f64;
        for kw in key_words {
            // Folded from +0: an empty word's sum would be -0 (Rust's float sum starts there), shown "-0.0000".
            let sum = qw.tokens.clone().flat_map(|q| kw.tokens.clone().map(move |k| f64::from(map[q * keys + k]))).fold(0.0, |a, b| a + b);
            out.push((sum / pieces) as f32);
        }
    }
    out
}

/// How a person asked to read a map: as the model computed it, or with the first key set
/// aside, or by words, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// The first key's column left out, each row renormalised over the rest.
    pub hide_first_key: bool,
    /// Sub-word tokens merged into the text's words.
    pub by_words: bool,
}

impl Reading {
    /// What the reading does, for a view's caption; `None` when it shows the map as computed.
    pub fn describe(self) -> Option<String> {
        let mut parts = Vec::new();
        if self.hide_first_key {
            parts.push("first token hidden, each row renormalised over the other keys");
        }
        if self.by_words {
            parts.push("read by words (to a word: the sum over its pieces; from a word: the mean)");
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// The rows or the columns of a read map: a label for each, and the input tokens each
/// stands for (one token, or a word's pieces), so a view can point back at the tokens.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Axis {
    pub labels: Vec<String>,
    pub tokens: Vec<Range<usize>>,
}

impl Axis {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The row or column that holds input token `token`.
    pub fn index_of(&self, token: usize) -> Option<usize> {
        self.tokens.iter().position(|r| r.contains(&token))
    }
}

/// One head's map as a reading shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadMap {
    pub rows: Axis,
    pub columns: Axis,
    /// [rows, columns] row-major.
    pub values: Vec<f32>,
    /// The same cells before their rows were renormalised, when the first key is hidden
    /// and the rows renormalised (the table shows both).
    pub before_renormalising: Option<Vec<f32>>,
    /// Rows with no weight left once the first key is hidden.
    pub empty_rows: Vec<usize>,
    pub reading: Reading,
}

/// One side of a map: its tokens, and the text they came from (for words).
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    pub tokens: &'a [Token],
    pub text: &'a str,
}

/// One head's map [queries, keys] as `reading` asks: the first key left out (each row
/// renormalised over the rest when `renormalise`; attention is, value-weighted norms are
/// not), then tokens pooled into words. Hiding comes first, so the first token is the one
/// set aside even when it is a piece of a longer word.
pub fn read(map: &[f32], queries: Side, keys: Side, reading: Reading, renormalise: bool) -> ReadMap {
    let (nq, nk) = (queries.tokens.len(), keys.tokens.len());
    // A map that is not [queries, keys] (a report whose parts disagree) reads as nothing
    // rather than indexing past its end.
    if map.len() != nq * nk {
        return ReadMap { reading, ..ReadMap::default() };
    }
    let group = |side: Side| -> Vec<Word> {
        if reading.by_words {
            words(side.tokens, side.text)
        } else {
            side.tokens.iter().enumerate().map(|(i, t)| Word { tokens: i..i + 1, text: t.text.clone() }).collect()
        }
    };
    let (query_words, mut key_words) = (group(queries), group(keys));
    let hide = reading.hide_first_key && nk > 0;
    let (kept, before, empty_tokens) = if hide {
        let (renormalised, empty) = without_first_key(map, nq, nk);
        let dropped: Vec<f32> = (0..nq).flat_map(|q| map[q * nk + 1..(q + 1) * nk].iter().copied()).collect();
        if renormalise {
            (renormalised, Some(dropped), empty)
        } else {
            (dropped, None, empty)
        }
    } else {
        (map.to_vec(), None, Vec::new())
    };
    if hide {
        // The first key's word loses that piece (and goes if it had no other).
        if let Some(first) = key_words.first_mut() {
            first.tokens.start = 1;
            first.text = keys.tokens[first.tokens.clone()].iter().map(|t| t.text.as_str()).collect::<String>().trim().to_string();
        }
        key_words.retain(|w| !w.tokens.is_empty());
    }
    // A query row with nothing left takes no part in its word's mean.
    let query_pieces: Vec<Word> = query_words
        .iter()
        .cloned()
        .map(|mut w| {
            while w.tokens.start < w.tokens.end && empty_tokens.contains(&w.tokens.start) {
                w.tokens.start += 1;
            }
            w
        })
        .collect();
    let offset = usize::from(hide);
    let shifted: Vec<Word> = key_words.iter().map(|w| Word { tokens: w.tokens.start - offset..w.tokens.end - offset, text: w.text.clone() }).collect();
    let columns = nk - offset;
    let pool = |cells: &[f32]| pooled(cells, columns, &query_pieces, &shifted);
    let empty_rows = query_pieces.iter().enumerate().filter(|(_, w)| w.tokens.is_empty()).map(|(i, _)| i).collect();
    let axis = |words: &[Word]| Axis { labels: words.iter().map(|w| w.text.clone()).collect(), tokens: words.iter().map(|w| w.tokens.clone()).collect() };
    ReadMap { rows: axis(&query_words), columns: axis(&key_words), values: pool(&kept), before_renormalising: before.as_deref().map(pool), empty_rows, reading }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str, span: Option<[usize; 2]>) -> Token {
        Token { id: 0, text: text.into(), span }
    }

    #[test]
    fn the_first_key_goes_and_each_row_is_renormalised_over_the_rest() {
        // A causal 3 × 3 map: row 0 sees only the sink.
        let map = [1.0, 0.0, 0.0, 0.6, 0.4, 0.0, 0.5, 0.1, 0.4];
        let (rest, empty) = without_first_key(&map, 3, 3);
        // Row 1: [0.4, 0] / 0.4; row 2: [0.1, 0.4] / 0.5.
        let expected = [0.0, 0.0, 1.0, 0.0, 0.2, 0.8];
        assert!(rest.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6), "{rest:?}");
        assert_eq!(empty, vec![0]);
    }

    #[test]
    fn byte_level_sentencepiece_and_wordpiece_tokens_group_into_the_same_words() {
        let text = "The cats sat on the mat.";
        // Byte-level BPE: spans include the leading space.
        let bpe = [
            token("The", Some([0, 3])),
            token(" c", Some([3, 5])),
            token("ats", Some([5, 8])),
            token(" sat", Some([8, 12])),
            token(" on", Some([12, 15])),
            token(" the", Some([15, 19])),
            token(" mat", Some([19, 23])),
            token(".", Some([23, 24])),
        ];
        // WordPiece: [CLS] and [SEP] have no span; spans leave the spaces out.
        let wordpiece = [
            token("[CLS]", None),
            token("the", Some([0, 3])),
            token("cat", Some([4, 7])),
            token("##s", Some([7, 8])),
            token("sat", Some([9, 12])),
            token("on", Some([13, 15])),
            token("the", Some([16, 19])),
            token("mat", Some([20, 23])),
            token(".", Some([23, 24])),
            token("[SEP]", None),
        ];
        let texts = |words: Vec<Word>| words.into_iter().map(|w| w.text).collect::<Vec<_>>();
        let expected = ["The", "cats", "sat", "on", "the", "mat."];
        assert_eq!(texts(words(&bpe, text)), expected);
        assert_eq!(texts(words(&wordpiece, text))[1..7], expected);
        let grouped = words(&wordpiece, text);
        assert_eq!((grouped[0].text.as_str(), grouped[0].tokens.clone()), ("[CLS]", 0..1));
        assert_eq!(grouped[2].tokens, 2..4);
        assert_eq!(grouped[6].tokens, 7..9);
        // SentencePiece with a beginning token: "▁cat" spans the word, its mark no character.
        let spm = [token("<bos>", None), token("▁ca", Some([0, 2])), token("t", Some([2, 3])), token("▁sat", Some([3, 7]))];
        assert_eq!(texts(words(&spm, "cat sat")), ["<bos>", "cat", "sat"]);
    }

    #[test]
    fn pooling_sums_over_the_key_pieces_and_averages_over_the_query_pieces() {
        // Three tokens, the last two one word: words A = {0}, B = {1, 2}.
        let map = [1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.2, 0.3, 0.5];
        let groups = [Word { tokens: 0..1, text: "A".into() }, Word { tokens: 1..3, text: "B".into() }];
        let pooled = pooled(&map, 3, &groups, &groups);
        // From A: [1, 0]. From B: the mean of rows 1 and 2 = ([0.5, 0.5] + [0.2, 0.8]) / 2.
        let expected = [1.0, 0.0, 0.35, 0.65];
        assert!(pooled.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6), "{pooled:?}");
    }

    #[test]
    fn reading_hides_the_first_key_then_pools_the_rest_into_words() {
        // "ab c": tokens "a", "b" (one word), " c". A causal map.
        let tokens = [token("a", Some([0, 1])), token("b", Some([1, 2])), token(" c", Some([2, 4]))];
        let side = Side { tokens: &tokens, text: "ab c" };
        let map = [1.0, 0.0, 0.0, 0.6, 0.4, 0.0, 0.5, 0.1, 0.4];
        let as_computed = read(&map, side, side, Reading::default(), true);
        assert_eq!((as_computed.values.as_slice(), as_computed.rows.labels.len()), (&map[..], 3));

        let hidden = read(&map, side, side, Reading { hide_first_key: true, by_words: false }, true);
        // Columns "b", " c"; row 0 empty; row 1 [0.4, 0]/0.4; row 2 [0.1, 0.4]/0.5.
        assert_eq!(hidden.columns.labels, ["b", " c"]);
        assert_eq!(hidden.columns.tokens, [1..2, 2..3]);
        assert_close(&hidden.values, &[0.0, 0.0, 1.0, 0.0, 0.2, 0.8]);
        assert!(hidden.values[..2].iter().all(|v| v.is_sign_positive()), "an empty row is +0, not -0");
        assert_close(hidden.before_renormalising.as_deref().unwrap(), &[0.0, 0.0, 0.4, 0.0, 0.1, 0.4]);
        assert_eq!(hidden.empty_rows, [0]);

        let both = read(&map, side, side, Reading { hide_first_key: true, by_words: true }, true);
        // Rows: words "ab" (tokens 0..2, but row 0 is empty, so only row 1 counts) and "c".
        // Columns: "b" (the first word without its first piece) and "c".
        assert_eq!((both.rows.labels.clone(), both.columns.labels.clone()), (vec!["ab".to_string(), "c".into()], vec!["b".to_string(), "c".into()]));
        assert_close(&both.values, &[1.0, 0.0, 0.2, 0.8]);
        assert!(both.empty_rows.is_empty());
        assert_eq!(both.rows.index_of(1), Some(0));
        assert_eq!(both.columns.index_of(0), None);

        // Value-weighted norms are not renormalised: the column just goes.
        let norms = read(&map, side, side, Reading { hide_first_key: true, by_words: false }, false);
        assert_close(&norms.values, &[0.0, 0.0, 0.4, 0.0, 0.1, 0.4]);
        assert_eq!(norms.before_renormalising, None);
    }

    #[test]
    fn a_map_of_the_wrong_size_reads_as_nothing() {
        let tokens = [token("a", Some([0, 1])), token("b", Some([1, 2]))];
        let side = Side { tokens: &tokens, text: "ab" };
        let read = read(&[1.0, 0.0, 0.5], side, side, Reading { hide_first_key: true, by_words: true }, true);
        assert!(read.values.is_empty() && read.rows.is_empty() && read.columns.is_empty());
    }

    fn assert_close(got: &[f32], expected: &[f32]) {
        assert_eq!(got.len(), expected.len(), "{got:?}");
        assert!(got.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6), "{got:?} != {expected:?}");
    }
}
