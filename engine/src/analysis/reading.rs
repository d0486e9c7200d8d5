//! Ways to read a map that the model did not compute but a person asks for: the first key
//! (the attention sink most heads of modern models pour their weight into) set aside with
//! each row renormalised over the rest, and sub-word pieces read as words. Pure functions
//! over one head's map, [query, key] row-major.

use std::ops::Range;

use crate::report::Token;

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
            let sum: f64 = qw.tokens.clone().flat_map(|q| kw.tokens.clone().map(move |k| f64::from(map[q * keys + k]))).sum();
            out.push((sum / pieces) as f32);
        }
    }
    out
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
        let bpe = [token("The", Some([0, 3])), token(" c", Some([3, 5])), token("ats", Some([5, 8])), token(" sat", Some([8, 12])),
                   token(" on", Some([12, 15])), token(" the", Some([15, 19])), token(" mat", Some([19, 23])), token(".", Some([23, 24]))];
        // WordPiece: [CLS] and [SEP] have no span; spans leave the spaces out.
        let wordpiece = [token("[CLS]", None), token("the", Some([0, 3])), token("cat", Some([4, 7])), token("##s", Some([7, 8])),
                         token("sat", Some([9, 12])), token("on", Some([13, 15])), token("the", Some([16, 19])), token("mat", Some([20, 23])),
                         token(".", Some([23, 24])), token("[SEP]", None)];
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
}
