//! Word timings as openai-whisper derives them (`whisper/timing.py`): the cross-attention
//! of the model's alignment heads over the sound that was heard, each head's weights
//! standardised per frame across the text and median-filtered along time, averaged over
//! the heads, then dynamic time warping from the first text token to the end-of-text
//! token; tokens are grouped into words (at spaces and punctuation), and the same
//! clean-ups are applied: overlong words at sentence ends shortened, punctuation merged
//! into its word, times rounded to 10 ms.
//!
//! Everything here is plain numbers: the transcriber hands in the maps and the tokens.

use crate::WordTiming;

/// The median filter's width along time (openai-whisper's `medfilt_width`).
pub const MEDIAN_WIDTH: usize = 7;
/// Encoder frames per second: one per 20 ms.
pub const FRAMES_PER_SECOND: f64 = 50.0;
/// Punctuation merged into the word that follows it, and into the word before it.
const PREPENDED: &str = "\"'“¿([{-";
const APPENDED: &str = "\"'.。,，!！?？:：”)]}、";
/// Python's `string.punctuation`: a sub-word that strips to a piece of it is a word of its own.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const SENTENCE_ENDS: &str = ".。!！?？";

/// The alignment heads' attention, normalised: `maps` holds each head's cross-attention
/// [rows, all_frames] over the decoder's positions (start of transcript, the forced
/// tokens, the text, end of text); only the first `frames` frames (the sound heard, in
/// encoder frames) are kept and each row renormalised over them, as openai-whisper's
/// softmax over the cut logits does. Each head is then standardised per frame across its
/// rows, median-filtered along time, and the heads averaged: [rows, frames] flat.
pub fn alignment_matrix(maps: &[&[f32]], rows: usize, all_frames: usize, frames: usize) -> Vec<f64> {
    let frames = frames.min(all_frames);
    let mut mean = vec![0.0f64; rows * frames];
    if maps.is_empty() || frames == 0 {
        return mean;
    }
    for map in maps {
        // [rows, frames]: each row renormalised over the frames heard.
        let mut w: Vec<f64> = Vec::with_capacity(rows * frames);
        for row in map.chunks(all_frames).take(rows) {
            let kept = &row[..frames];
            let total: f64 = kept.iter().map(|&p| f64::from(p)).sum();
            w.extend(kept.iter().map(|&p| if total > 0.0 { f64::from(p) / total } else { 0.0 }));
        }
        // Standardised per frame across the rows (population standard deviation).
        for f in 0..frames {
            let column = (0..rows).map(|r| w[r * frames + f]);
            let m = column.clone().sum::<f64>() / rows as f64;
            let sd = (column.map(|x| (x - m) * (x - m)).sum::<f64>() / rows as f64).sqrt();
            for r in 0..rows {
                w[r * frames + f] = (w[r * frames + f] - m) / sd;
            }
        }
        for r in 0..rows {
            let filtered = median_filter(&w[r * frames..(r + 1) * frames], MEDIAN_WIDTH);
            for (f, x) in filtered.into_iter().enumerate() {
                mean[r * frames + f] += x / maps.len() as f64;
            }
        }
    }
    mean
}

/// A median filter of odd `width` over `x`, the ends reflected (not repeated); `x` as it is
/// when it is no longer than half the width.
pub fn median_filter(x: &[f64], width: usize) -> Vec<f64> {
    let half = width / 2;
    if x.len() <= half {
        return x.to_vec();
    }
    let n = x.len() as i64;
    let reflected = |i: i64| -> f64 {
        let i = if i < 0 {
            -i
        } else if i >= n {
            2 * (n - 1) - i
        } else {
            i
        };
        x[i as usize]
    };
    let mut window = vec![0.0; width];
    (0..n)
        .map(|centre| {
            for (k, slot) in window.iter_mut().enumerate() {
                *slot = reflected(centre - half as i64 + k as i64);
            }
            // NaN (a frame no row attends to differently) sorts last, as torch's sort puts it.
            window.sort_by(|a, b| a.total_cmp(b));
            window[half]
        })
        .collect()
}

/// The cheapest monotone path through `cost` [rows, columns] from (0, 0) to the last cell,
/// as openai-whisper's `dtw_cpu` finds it (the running cost kept in float32, ties going
/// to the step along the columns): (row, column) pairs, in order.
pub fn dtw(cost: &[f64], rows: usize, columns: usize) -> Vec<(usize, usize)> {
    if rows == 0 || columns == 0 {
        return Vec::new();
    }
    let width = columns + 1;
    let mut total = vec![f32::INFINITY; (rows + 1) * width];
    // 0: diagonal, 1: down a row, 2: along a column.
    let mut trace = vec![0u8; (rows + 1) * width];
    total[0] = 0.0;
    for j in 1..=columns {
        for i in 1..=rows {
            let c0 = total[(i - 1) * width + j - 1];
            let c1 = total[(i - 1) * width + j];
            let c2 = total[i * width + j - 1];
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            total[i * width + j] = (cost[(i - 1) * columns + j - 1] + f64::from(c)) as f32;
            trace[i * width + j] = t;
        }
    }
    for first_row in trace.iter_mut().take(columns + 1) {
        *first_row = 2;
    }
    for i in 0..=rows {
        trace[i * width] = 1;
    }
    let (mut i, mut j) = (rows, columns);
    let mut path = Vec::with_capacity(rows + columns);
    while i > 0 || j > 0 {
        path.push((i - 1, j - 1));
        match trace[i * width + j] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path
}

/// Sub-words grouped into words as openai-whisper's `split_tokens_on_spaces` groups them:
/// `pieces` are the text of each group of tokens that decodes to whole characters, with
/// whether it is a special token; a piece starts a new word when it is special, begins
/// with a space, is punctuation, or is the first. Returns each word's text and its pieces'
/// indices.
pub fn group_words(pieces: &[(String, bool)]) -> Vec<(String, Vec<usize>)> {
    let mut words: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, (text, special)) in pieces.iter().enumerate() {
        // Python's `in` on strings: a substring of the punctuation (the empty string too).
        let punctuation = PUNCTUATION.contains(text.trim());
        match words.last_mut() {
            Some(last) if !(*special || text.starts_with(' ') || punctuation) => {
                last.0.push_str(text);
                last.1.push(index);
            }
            _ => words.push((text.clone(), vec![index])),
        }
    }
    words
}

/// A word found by [`find_alignment`], before the clean-ups.
#[derive(Clone, Debug, PartialEq)]
pub struct AlignedWord {
    pub word: String,
    /// Indices into the text tokens.
    pub tokens: Vec<usize>,
    pub start: f64,
    pub end: f64,
    pub probability: f32,
}

/// openai-whisper's `find_alignment` from its parts: `matrix` [text + 1, frames] is the
/// [`alignment_matrix`]'s rows from the one that wrote the first text token to the one that
/// wrote the end of text; `words` groups the text tokens (the end of text last, on its own);
/// `probabilities` are each text token's. Returns the words with their times and the path.
pub fn find_alignment(matrix: &[f64], frames: usize, words: &[(String, Vec<usize>)], probabilities: &[f32]) -> (Vec<AlignedWord>, Vec<(usize, usize)>) {
    let rows = matrix.len().checked_div(frames).unwrap_or(0);
    if words.len() <= 1 || rows == 0 {
        return (Vec::new(), Vec::new());
    }
    let negated: Vec<f64> = matrix.iter().map(|x| -x).collect();
    let path = dtw(&negated, rows, frames);
    // The time each text index is first reached.
    let mut jump_times = Vec::with_capacity(rows);
    let mut previous = None;
    for &(text, time) in &path {
        if previous != Some(text) {
            jump_times.push(time as f64 / FRAMES_PER_SECOND);
            previous = Some(text);
        }
    }
    let mut boundaries = vec![0usize];
    for (_, tokens) in &words[..words.len() - 1] {
        boundaries.push(boundaries.last().copied().unwrap_or(0) + tokens.len());
    }
    let aligned = words
        .iter()
        .zip(boundaries.windows(2))
        .map(|((word, tokens), bounds)| {
            let at = |b: usize| jump_times.get(b).copied().unwrap_or(0.0);
            let probs = &probabilities[bounds[0].min(probabilities.len())..bounds[1].min(probabilities.len())];
            let probability = if probs.is_empty() { f32::NAN } else { probs.iter().sum::<f32>() / probs.len() as f32 };
            AlignedWord { word: word.clone(), tokens: tokens.clone(), start: at(bounds[0]), end: at(bounds[1]), probability }
        })
        .collect();
    (aligned, path)
}

/// openai-whisper's clean-ups for one segment of `duration` seconds starting at 0: words
/// longer than twice the median word (at most 0.7 s) are cut at sentence ends, punctuation
/// is merged into its word, a long first word after silence is shortened, times are
/// rounded to 10 ms, and the emptied words dropped. `token_offset` turns text-token
/// indices into positions of the transcript sequence.
pub fn tidy(mut words: Vec<AlignedWord>, duration: f64, token_offset: usize) -> Vec<WordTiming> {
    let durations: Vec<f64> = words.iter().map(|w| w.end - w.start).filter(|&d| d != 0.0).collect();
    let median = if durations.is_empty() { 0.0 } else { median(&durations) }.min(0.7);
    let longest = median * 2.0;
    if !durations.is_empty() {
        for i in 1..words.len() {
            // Python's `in`: a substring of the marks.
            if words[i].end - words[i].start > longest {
                if SENTENCE_ENDS.contains(words[i].word.as_str()) {
                    words[i].end = words[i].start + longest;
                } else if SENTENCE_ENDS.contains(words[i - 1].word.as_str()) {
                    words[i].start = words[i].end - longest;
                }
            }
        }
    }
    merge_punctuation(&mut words);
    let round = |t: f64| (t * 100.0).round() / 100.0;
    let mut timed: Vec<WordTiming> = words
        .into_iter()
        .filter(|w| !w.word.is_empty())
        .map(|w| WordTiming {
            word: w.word,
            tokens: w.tokens.iter().map(|t| t + token_offset).collect(),
            start: round(w.start),
            end: round(w.end),
            probability: w.probability,
        })
        .collect();
    // A first word that ends long after the start and is itself too long begins later.
    if let Some(first_end) = timed.first().map(|w| w.end) {
        let too_long = |w: &WordTiming| w.end - w.start > longest;
        if first_end > median * 4.0 && (too_long(&timed[0]) || timed.get(1).is_some_and(|second| second.end - timed[0].start > longest * 2.0)) {
            if timed.len() > 1 && too_long(&timed[1]) {
                let boundary = (timed[1].end / 2.0).max(timed[1].end - longest);
                timed[0].end = boundary;
                timed[1].start = boundary;
            }
            timed[0].start = (timed[0].end - longest).max(0.0);
        }
    }
    // A last word that runs past the segment's end by more than half a second ends there.
    if let Some(last) = timed.last_mut() {
        if duration > last.start && duration + 0.5 < last.end {
            last.end = (last.start + median).max(duration);
        }
    }
    timed
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// openai-whisper's `merge_punctuations`: an opening mark that is a word of its own joins
/// the word after it, a closing mark the word before it; the mark's word is left empty.
fn merge_punctuation(words: &mut [AlignedWord]) {
    if words.len() >= 2 {
        let mut j = words.len() - 1;
        for i in (0..words.len() - 1).rev() {
            let previous = &words[i];
            if previous.word.starts_with(' ') && PREPENDED.contains(previous.word.trim()) {
                let (word, tokens) = (std::mem::take(&mut words[i].word), std::mem::take(&mut words[i].tokens));
                words[j].word = word + &words[j].word;
                words[j].tokens.splice(0..0, tokens);
            } else {
                j = i;
            }
        }
    }
    let mut i = 0;
    for j in 1..words.len() {
        if !words[i].word.ends_with(' ') && APPENDED.contains(words[j].word.as_str()) {
            let (word, tokens) = (std::mem::take(&mut words[j].word), std::mem::take(&mut words[j].tokens));
            words[i].word.push_str(&word);
            words[i].tokens.extend(tokens);
        } else {
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_filter_reflects_the_ends() {
        // Width 3 over [5, 1, 4, 2]: padded [1, 5, 1, 4, 2, 4], medians of each window.
        assert_eq!(median_filter(&[5.0, 1.0, 4.0, 2.0], 3), vec![1.0, 4.0, 2.0, 4.0]);
        // Too short to pad: as it is.
        assert_eq!(median_filter(&[3.0, 1.0, 2.0], 7), vec![3.0, 1.0, 2.0]);
    }

    #[test]
    fn dtw_follows_the_cheap_cells_and_ties_go_along_the_columns() {
        // A cheap diagonal: the path takes it.
        let cost = [0.0, 9.0, 9.0, 9.0, 0.0, 9.0, 9.0, 9.0, 0.0];
        assert_eq!(dtw(&cost, 3, 3), vec![(0, 0), (1, 1), (2, 2)]);
        // One row, three columns: along the row.
        assert_eq!(dtw(&[1.0, 1.0, 1.0], 1, 3), vec![(0, 0), (0, 1), (0, 2)]);
        // Everything equal on 2 × 2: the diagonal is cheapest (one cost fewer), as
        // openai-whisper's dtw_cpu answers.
        assert_eq!(dtw(&[1.0; 4], 2, 2), vec![(0, 0), (1, 1)]);
    }

    #[test]
    fn words_break_at_spaces_punctuation_and_special_tokens() {
        let pieces: Vec<(String, bool)> =
            [(" The", false), (" c", false), ("at", false), (".", false), ("<|endoftext|>", true)].iter().map(|(t, s)| (t.to_string(), *s)).collect();
        let words = group_words(&pieces);
        let texts: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(texts, [" The", " cat", ".", "<|endoftext|>"]);
        assert_eq!(words[1].1, vec![1, 2]);
    }

    #[test]
    fn punctuation_joins_its_word_and_times_are_rounded() {
        let word = |w: &str, t: usize, start: f64, end: f64| AlignedWord { word: w.into(), tokens: vec![t], start, end, probability: 0.5 };
        let words = vec![word(" Hi", 0, 0.0, 0.3), word(" (", 1, 0.3, 0.32), word(" there", 2, 0.32, 0.6), word(")", 3, 0.6, 0.62)];
        let timed = tidy(words, 1.0, 2);
        let texts: Vec<&str> = timed.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(texts, [" Hi", " ( there)"]);
        assert_eq!(timed[1].tokens, vec![3, 4, 5]);
        assert_eq!((timed[1].start, timed[1].end), (0.32, 0.6));
    }

    #[test]
    fn the_matrix_is_standardised_per_frame() {
        // One head, two rows over two frames (of three; the third is cut and rows renormalised).
        let map = [0.5f32, 0.25, 0.25, 0.25, 0.5, 0.25];
        let m = alignment_matrix(&[&map], 2, 3, 2);
        // Rows become [2/3, 1/3] and [1/3, 2/3]: per frame ±1 after standardising.
        for (got, want) in m.iter().zip([1.0, -1.0, -1.0, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{m:?}");
        }
    }
}
