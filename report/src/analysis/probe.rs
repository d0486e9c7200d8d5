//! The induction probe: a first token, `length` random token ids, then the same ids
//! again. In the second copy an induction head attends from each token to the token
//! that followed its earlier occurrence; a previous-token head to the token before.

use serde::{Deserialize, Serialize};

use crate::AttentionMaps;

/// How the probe is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// How many random tokens in each copy.
    pub length: usize,
    /// One probe sequence per seed; the scores are their mean.
    pub seeds: Vec<u64>,
}

impl Default for ProbeSpec {
    fn default() -> Self {
        Self { length: 50, seeds: vec![0, 1, 2, 3] }
    }
}

/// SplitMix64: a tiny, well-mixed generator, so that the CLI and the page (and any
/// machine) draw the same probe for the same seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The range random tokens come from: ids 1000..10000 (as TransformerLens's demos
/// draw them: ordinary words, no special tokens), narrowed for a small vocabulary.
fn token_range(vocab: usize) -> std::ops::Range<u64> {
    if vocab > 10_000 {
        1000..10_000
    } else {
        (vocab as u64 / 10).max(1)..vocab as u64
    }
}

/// One probe sequence: `before`, the random copy, the copy again, `after`; `None` for a
/// vocabulary of fewer than two tokens, which has no random tokens to draw.
pub fn probe_ids(before: &[u32], after: &[u32], vocab: usize, length: usize, seed: u64) -> Option<Vec<u32>> {
    if vocab < 2 {
        return None;
    }
    let mut rng = SplitMix64(seed);
    let range = token_range(vocab); // at least one id: vocab / 10 (at least 1) .. vocab
    let copy: Vec<u32> = (0..length).map(|_| (range.start + rng.next() % (range.end - range.start)) as u32).collect();
    Some([before, &copy, &copy, after].concat())
}

/// A head's probe scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeScores {
    pub layer: usize,
    pub head: usize,
    /// Mean attention from each second-copy query to the key after its earlier occurrence.
    pub induction: f32,
    /// Mean attention from each query (but the first) to the key before it.
    pub previous_token: f32,
    /// How positional the head is over a text of random tokens, which has no content to look
    /// by: [`super::offsets::positional_score`] of the map's part up to the end of the first
    /// copy (under the causal mask a whole map of the tokens before and the random copy).
    /// None for a pooled probe (its maps are block means).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positional: Option<f32>,
}

/// The (query, key) cells an induction head attends to on a probe whose random copy
/// starts at `offset`: query `offset + length + i` repeats token `offset + i`, and
/// what followed that earlier occurrence is key `offset + i + 1`.
pub fn induction_cells(offset: usize, length: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..length).map(move |i| (offset + length + i, offset + i + 1))
}

/// Scores every head on one probe run; the random copy starts at `offset`.
pub fn score_probe(maps: &AttentionMaps, offset: usize, length: usize) -> Vec<ProbeScores> {
    let n = maps.tokens();
    let mut scores = Vec::with_capacity(maps.layers() * maps.heads());
    for layer in 0..maps.layers() {
        for head in 0..maps.heads() {
            let map = maps.head(layer, head);
            // Summed in float64, query by query, as a pooled probe's sums are
            // ([`crate::analysis::heads::ScoreSums`]): on the same weights, the same scores.
            let induction = (induction_cells(offset, length).fold(0.0f64, |sum, (q, k)| sum + f64::from(map[q * n + k])) / length.max(1) as f64) as f32;
            let previous_token = ((1..n).fold(0.0f64, |sum, q| sum + f64::from(map[q * n + q - 1])) / (n - 1).max(1) as f64) as f32;
            let random = random_part(map, n, (offset + length).min(n));
            let positional = Some(super::offsets::positional_score(&random, (offset + length).min(n)));
            scores.push(ProbeScores { layer, head, induction, previous_token, positional });
        }
    }
    scores
}

/// Scores every head on one pooled probe run (the engine's `Model::start_probe`): from the
/// sums its heads were scored with as they attended (`head_sums`, in (layer, head) order),
/// the same numbers as [`score_probe`] on the whole maps.
pub fn score_pooled_probe(report: &crate::AttentionReport, head_sums: &[super::heads::ScoreSums], length: usize) -> Vec<ProbeScores> {
    let (n, heads) = (report.tokens().len(), report.attention().heads().max(1));
    head_sums
        .iter()
        .enumerate()
        .map(|(i, sums)| ProbeScores {
            layer: i / heads,
            head: i % heads,
            induction: (sums.induction_sum() / length.max(1) as f64) as f32,
            previous_token: (sums.previous_sum() / (n - 1).max(1) as f64) as f32,
            positional: None,
        })
        .collect()
}

/// The top-left m × m part of an n × n map: the tokens before and the first random copy.
pub fn random_part(map: &[f32], n: usize, m: usize) -> Vec<f32> {
    (0..m).flat_map(|q| map[q * n..q * n + m].iter().copied()).collect()
}

/// The mean of several runs' scores, head by head.
pub fn mean_scores(runs: &[Vec<ProbeScores>]) -> Vec<ProbeScores> {
    let Some(first) = runs.first() else { return Vec::new() };
    let count = runs.len() as f32;
    first
        .iter()
        .enumerate()
        .map(|(i, head)| ProbeScores {
            layer: head.layer,
            head: head.head,
            induction: runs.iter().map(|r| r[i].induction).sum::<f32>() / count,
            previous_token: runs.iter().map(|r| r[i].previous_token).sum::<f32>() / count,
            positional: runs.iter().map(|r| r[i].positional).sum::<Option<f32>>().map(|s| s / count),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_a_first_token_and_the_same_random_copy_twice() {
        let ids = probe_ids(&[1], &[], 49_152, 50, 7).unwrap();
        assert_eq!(ids.len(), 101);
        assert_eq!(ids[0], 1);
        assert_eq!(ids[1..51], ids[51..101]);
        assert!(ids[1..].iter().all(|&id| (1000..10_000).contains(&id)));
        assert_eq!(Some(&ids), probe_ids(&[1], &[], 49_152, 50, 7).as_ref(), "the same seed gives the same probe");
        assert_ne!(Some(ids), probe_ids(&[1], &[], 49_152, 50, 8));
        let bert = probe_ids(&[101], &[102], 30_522, 5, 0).unwrap();
        assert_eq!((bert.len(), bert[0], bert[11]), (12, 101, 102));
    }

    #[test]
    fn a_vocabulary_too_small_to_draw_from_gives_no_probe() {
        assert_eq!(probe_ids(&[], &[], 0, 5, 0), None);
        assert_eq!(probe_ids(&[], &[], 1, 5, 0), None);
        // Two tokens: the copies draw the one past the first tenth.
        assert_eq!(probe_ids(&[], &[], 2, 3, 0), Some(vec![1; 6]));
    }

    #[test]
    fn the_induction_cells_point_past_the_earlier_occurrence() {
        // First token, copy "A B", copy "A B": the second A (3) looks at the first B (2).
        assert_eq!(induction_cells(1, 2).collect::<Vec<_>>(), vec![(3, 2), (4, 3)]);
    }

    #[test]
    fn a_perfect_induction_head_scores_one() {
        // First token, a copy of 3, the copy again: n = 7. The induction head's query
        // 4 + i looks at key 1 + i + 1; other queries look at key 0.
        let (offset, length, n) = (1, 3, 7);
        let mut map = vec![0.0; n * n];
        for q in 0..n {
            let key = if q >= offset + length { q - length + 1 } else { 0 };
            map[q * n + key] = 1.0;
        }
        let maps = AttentionMaps::from_flat(1, 1, n, map).unwrap();
        let scores = score_probe(&maps, offset, length);
        assert_eq!(scores[0].induction, 1.0);
        // Only query 1 looks at the key just before it (key 0): 1 of 6 queries.
        assert_eq!(scores[0].previous_token, 1.0 / 6.0);
        let mean = mean_scores(&[scores.clone(), vec![ProbeScores { induction: 0.0, ..scores[0].clone() }]]);
        assert_eq!(mean[0].induction, 0.5);
        // Over the first token and the first copy (queries and keys 0..4) every query looks at
        // key 0, offset q. The profile: 1/3 at offset 1 (queries 1..3: only query 1 there), 1/2
        // at 2, 1 at 3, 0 at 0. Predicted rows renormalised: query 1 [1, 0] exactly (distance
        // 0); query 2 [0.6, 0.4, 0] against [1, 0, 0] (0.4); query 3 [6, 3, 2, 0]/11 (5/11).
        // 1 − (0 + 0.4 + 5/11) / 3.
        let want = 1.0 - (0.4 + 5.0 / 11.0) / 3.0;
        assert!((f64::from(scores[0].positional.unwrap()) - want).abs() < 1e-6, "{:?} against {want}", scores[0].positional);
        assert_eq!(mean[0].positional, scores[0].positional);
        assert_eq!(random_part(maps.head(0, 0), n, 4).len(), 16);
    }
}
