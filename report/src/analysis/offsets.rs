//! Attention by relative offset: how much a head's queries put on the key d tokens back (d > 0),
//! on themselves (d = 0) or d tokens ahead (d < 0, where the mask lets them), and how much of
//! the head's map that profile alone explains (its positional score).
//!
//! A head that looks by position (a previous-token head, a local window) puts the same weight at
//! the same offset whatever the words: predict each row from the offset profile and it comes
//! out as it is. A head that looks by content (an induction head, a head that finds a name) puts
//! its weight where the words are: the offset profile predicts its rows badly.

/// The mean weight at each offset of a whole map [n, n] (row-major, rows summing to 1).
#[derive(Clone, Debug, PartialEq)]
pub struct OffsetProfile {
    /// `back[d]`: the mean over queries q ≥ max(d, 1) of the weight on key q − d (d = 0 the
    /// query's own token). Query 0 is left out: in a causal map it has one key and no choice,
    /// and would put a weight of 1 at offset 0 into every head's profile.
    pub back: Vec<f32>,
    /// `ahead[d - 1]`: the mean over queries 1 ≤ q < n − d of the weight on key q + d (all zero
    /// in a causal map).
    pub ahead: Vec<f32>,
}

impl OffsetProfile {
    pub fn of(map: &[f32], n: usize) -> Self {
        let mean_at = |offset: isize| -> f32 {
            let (mut sum, mut count) = (0.0f64, 0usize);
            for q in 1..n {
                let k = q as isize - offset;
                if (0..n as isize).contains(&k) {
                    sum += f64::from(map[q * n + k as usize]);
                    count += 1;
                }
            }
            if count == 0 {
                0.0
            } else {
                (sum / count as f64) as f32
            }
        };
        Self { back: (0..n as isize).map(mean_at).collect(), ahead: (1..n as isize).map(|d| mean_at(-d)).collect() }
    }

    /// The profile's weight at `offset` (q − k).
    pub fn at(&self, offset: isize) -> f32 {
        if offset >= 0 {
            self.back.get(offset as usize).copied().unwrap_or(0.0)
        } else {
            self.ahead.get((-offset - 1) as usize).copied().unwrap_or(0.0)
        }
    }
}

/// How positional a head is: 1 − the mean total-variation distance between each row of its map
/// (queries 1 and on: query 0 of a causal map has one key and nothing to predict) and the row
/// its offset profile predicts (the profile's weights at that row's offsets, renormalised).
/// 1: every row is the profile (a pure previous-token head); near 0: the rows go where the
/// profile does not.
pub fn positional_score(map: &[f32], n: usize) -> f32 {
    if n < 2 {
        return 0.0;
    }
    let profile = OffsetProfile::of(map, n);
    let mut distance = 0.0f64;
    for q in 1..n {
        let predicted: Vec<f64> = (0..n).map(|k| f64::from(profile.at(q as isize - k as isize))).collect();
        let total: f64 = predicted.iter().sum();
        let row = &map[q * n..(q + 1) * n];
        distance += if total > 0.0 {
            0.5 * row.iter().zip(&predicted).map(|(&w, p)| (f64::from(w) - p / total).abs()).sum::<f64>()
        } else {
            1.0 // the profile puts nothing where this row may look: it explains none of it
        };
    }
    (1.0 - distance / (n - 1) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::super::one_hot;
    use super::*;

    #[test]
    fn a_previous_token_head_is_wholly_positional_and_its_profile_is_one_back() {
        let map = one_hot(6, |q| q.saturating_sub(1));
        let profile = OffsetProfile::of(&map, 6);
        // Query 0, which has no other key, is left out of the profile.
        assert!(profile.back[0] == 0.0 && profile.back[1] == 1.0 && profile.back[2] == 0.0);
        assert!(profile.ahead.iter().all(|&w| w == 0.0));
        assert!((positional_score(&map, 6) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_head_that_looks_at_the_words_is_not() {
        // Each query looks at a key the words chose: 0, 0, 1, 0, 2, 4, 1, 5. Its offsets from
        // query 1 on: 1 at q = 1, 2, 5; 2 at q = 4, 7; 3 at q = 3; 5 at q = 6. So the profile
        // is 3/7 at 1, 2/6 at 2, 1/5 at 3, 1/3 at 5. By hand, row by row: query 1 has only
        // offsets 0 and 1 and is predicted exactly; the others' distances from their
        // predictions are 0.438, 0.792, 0.653, 0.669, 0.743, 0.743, a mean over the seven of
        // 0.577, so 0.423.
        let keys = [0, 0, 1, 0, 2, 4, 1, 5];
        let map = one_hot(8, |q| keys[q]);
        let score = positional_score(&map, 8);
        assert!((score - 0.423).abs() < 0.001, "{score}");
        let profile = OffsetProfile::of(&map, 8);
        assert!((profile.back[1] - 3.0 / 7.0).abs() < 1e-6, "{:?}", profile.back);
    }

    #[test]
    fn an_unmasked_next_token_head_looks_one_ahead() {
        let map = one_hot(5, |q| (q + 1).min(4));
        let profile = OffsetProfile::of(&map, 5);
        assert_eq!(profile.ahead[0], 1.0);
        // The last query, with nothing ahead, looks at itself: offset 0 gets 1/4 in the profile
        // (queries 1 to 4), so queries 1 to 3 are predicted 0.8 ahead and 0.2 on themselves
        // (a distance of 0.2 each) and query 4 exactly: 1 − 0.6 / 4 = 0.85. The text's edge
        // costs a short text's score.
        assert!((positional_score(&map, 5) - 0.85).abs() < 1e-6);
    }

    #[test]
    fn a_uniform_causal_head_is_explained_by_its_profile_only_in_part() {
        // Query q spreads over keys 0..=q. Its profile falls with the offset (more queries see a
        // near key than a far one), which predicts the rows well but not exactly.
        let n = 6;
        let map: Vec<f32> = (0..n).flat_map(|q| (0..n).map(move |k| if k <= q { 1.0 / (q + 1) as f32 } else { 0.0 })).collect();
        let score = positional_score(&map, n);
        assert!(score > 0.8 && score < 1.0, "{score}");
    }
}
