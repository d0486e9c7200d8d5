//! What each head does, as TransformerLens's head detector scores it, plus a few
//! plain summaries. Pure functions over one head's map ([query, key] row-major).
//!
//! The detector's default `mul` measure: zero the excluded cells (the first key,
//! the diagonal) if asked, then score = Σ(A ⊙ P) / Σ A, the share of the head's
//! attention that falls on the pattern P's cells.

/// The scores of one head are a report's field: their type is the report's.
pub use crate::types::HeadScores;

/// Options of the detector, as TransformerLens names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exclusions {
    /// Leave out attention to the first token (often a sink).
    pub exclude_bos: bool,
    /// Leave out attention to the query's own token.
    pub exclude_current_token: bool,
}

/// Which cells a pattern holds: `pattern(query, key)` for the keys a query may see.
type Pattern<'a> = &'a dyn Fn(usize, usize) -> bool;

/// The `mul` score of `map` ([n, n]) against `pattern`.
fn detector_score(map: &[f32], n: usize, pattern: Pattern, exclusions: Exclusions) -> f32 {
    let (mut on_pattern, mut total) = (0.0f64, 0.0f64);
    for q in 0..n {
        for k in 0..n {
            let excluded = (exclusions.exclude_bos && k == 0) || (exclusions.exclude_current_token && k == q);
            if excluded {
                continue;
            }
            let w = map[q * n + k] as f64;
            total += w;
            // Every pattern is lower-triangular (TransformerLens takes `tril` of each).
            if k <= q && pattern(q, k) {
                on_pattern += w;
            }
        }
    }
    if total > 0.0 {
        (on_pattern / total) as f32
    } else {
        0.0
    }
}

/// Previous-token score: attention on the key just before the query.
pub fn previous_token(map: &[f32], n: usize, exclusions: Exclusions) -> f32 {
    detector_score(map, n, &|q, k| k + 1 == q, exclusions)
}

/// Duplicate-token score: attention on earlier occurrences of the query's own token.
pub fn duplicate_token(map: &[f32], ids: &[u32], exclusions: Exclusions) -> f32 {
    detector_score(map, ids.len(), &|q, k| k < q && ids[k] == ids[q], exclusions)
}

/// Induction score: attention on the token right after an earlier occurrence of the
/// query's token (the duplicate pattern shifted one key to the right).
pub fn induction(map: &[f32], ids: &[u32], exclusions: Exclusions) -> f32 {
    detector_score(map, ids.len(), &|q, k| k >= 1 && k - 1 < q && ids[k - 1] == ids[q], exclusions)
}

/// Attention-sink score: mean attention on key 0.
pub fn first_token(map: &[f32], n: usize) -> f32 {
    (0..n).map(|q| map[q * n]).sum::<f32>() / n.max(1) as f32
}

/// Current-token score: mean of the diagonal.
pub fn current_token(map: &[f32], n: usize) -> f32 {
    (0..n).map(|q| map[q * n + q]).sum::<f32>() / n.max(1) as f32
}

/// Mean entropy of the rows, in bits: 0 for one-hot rows, log2(k) for a row spread
/// evenly over k keys.
pub fn mean_entropy_bits(map: &[f32], n: usize) -> f32 {
    map.chunks(n.max(1)).map(|row| super::entropy::sum_and_entropy_bits(row).1).sum::<f32>() / n.max(1) as f32
}

/// Scores every head of a report, in (layer, head) order. A long text's report holds its
/// maps pooled and its scores as its run summed them ([`ScoreSums`]), under TransformerLens's
/// defaults (nothing left out): other exclusions have no scores there.
pub fn score_report(report: &crate::AttentionReport, exclusions: Exclusions) -> Vec<HeadScores> {
    if !report.sites.first().is_some_and(|s| s.form.is_whole()) {
        return if exclusions == Exclusions::default() { report.head_scores.clone().unwrap_or_default() } else { Vec::new() };
    }
    let maps = &report.attention();
    let ids: Vec<u32> = report.tokens().iter().map(|t| t.id).collect();
    let matches = Matches::of(&ids);
    (0..maps.layers())
        .flat_map(|layer| (0..maps.heads()).map(move |head| (layer, head)))
        .map(|(layer, head)| {
            let mut sums = ScoreSums::default();
            sums.add_rows(maps.head(layer, head), 0, 0..maps.keys(), &matches, exclusions, None);
            let square = maps.queries() == maps.keys();
            let positional = square.then(|| super::offsets::positional_score(maps.head(layer, head), maps.keys()));
            HeadScores { positional, ..sums.scores(layer, head) }
        })
        .collect()
}

/// For each query, the earlier keys holding its own token (duplicates) and the keys right
/// after them (induction): found once per text, for every head.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    duplicates: Vec<Vec<usize>>,
    inductions: Vec<Vec<usize>>,
}

impl Matches {
    pub fn of(ids: &[u32]) -> Self {
        let mut seen: std::collections::HashMap<u32, Vec<usize>> = std::collections::HashMap::new();
        let (mut duplicates, mut inductions) = (Vec::with_capacity(ids.len()), Vec::with_capacity(ids.len()));
        for (q, id) in ids.iter().enumerate() {
            let earlier = seen.entry(*id).or_default();
            duplicates.push(earlier.clone());
            // Key k inducts when token k - 1 is the query's own (k - 1 < q; k = q counts too).
            inductions.push(earlier.iter().map(|&k| k + 1).collect::<Vec<_>>());
            earlier.push(q);
        }
        Self { duplicates, inductions }
    }

    /// The induction probe's cells only (see [`crate::analysis::probe`]): in a text of
    /// `tokens` whose random copy of `length` starts at `offset`, each query of the second
    /// copy matches its earlier occurrence and inducts on the key after it. A token drawn
    /// twice within a copy is not matched, as the probe's own score reads one cell a query.
    pub fn probe(offset: usize, length: usize, tokens: usize) -> Self {
        let second = offset + length..offset + 2 * length;
        let (duplicates, inductions) =
            (0..tokens).map(|q| if second.contains(&q) { (vec![q - length], vec![q - length + 1]) } else { (Vec::new(), Vec::new()) }).unzip();
        Self { duplicates, inductions }
    }

    pub fn tokens(&self) -> usize {
        self.duplicates.len()
    }
}

/// One head's scores summed over rows of its map: a long run adds each stretch of rows as it
/// attends them, and gets the whole map's scores ([`score_report`] adds every row at once).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreSums {
    previous: f64,
    duplicate: f64,
    induction: f64,
    /// The detector's denominator: the weight on every cell not left out.
    total: f64,
    first: f64,
    current: f64,
    entropy_bits: f64,
    rows: usize,
}

impl ScoreSums {
    /// Adds the map's rows `first_row..` (`rows`: [count, columns] row-major) holding the
    /// weights on keys `columns` of the text's tokens (as `matches` found them): every key
    /// outside them has weight 0 (a causal stretch of rows holds no key after its last query).
    ///
    /// `entropy_bits`, one a row, where the softmax that made the rows gave their entropies
    /// (a long text's weights are then not each taken a logarithm of again: a tenth of a
    /// 2,000-token run natively); `None` takes them from the weights.
    pub fn add_rows(
        &mut self,
        rows: &[f32],
        first_row: usize,
        columns: std::ops::Range<usize>,
        matches: &Matches,
        exclusions: Exclusions,
        entropy_bits: Option<&[f32]>,
    ) {
        let keys = matches.tokens();
        if keys == 0 || columns.is_empty() {
            return;
        }
        for (i, row) in rows.chunks_exact(columns.len()).enumerate() {
            let q = first_row + i;
            let weight = |k: usize| if columns.contains(&k) { row[k - columns.start] } else { 0.0 };
            let left_out = |k: usize| (exclusions.exclude_bos && k == 0) || (exclusions.exclude_current_token && k == q);
            let counted = |k: usize| if k < keys && !left_out(k) { weight(k) as f64 } else { 0.0 };
            let (sum, entropy) = match entropy_bits {
                Some(bits) => (super::entropy::row_sum(row), bits[i]),
                None => super::entropy::sum_and_entropy_bits(row),
            };
            let sum = sum as f64;
            let left = if exclusions.exclude_bos { weight(0) as f64 } else { 0.0 }
                + if exclusions.exclude_current_token && q < keys && !(exclusions.exclude_bos && q == 0) { weight(q) as f64 } else { 0.0 };
            self.total += sum - left;
            if q >= 1 {
                self.previous += counted(q - 1);
            }
            if let (Some(duplicates), Some(inductions)) = (matches.duplicates.get(q), matches.inductions.get(q)) {
                self.duplicate += duplicates.iter().map(|&k| counted(k)).sum::<f64>();
                self.induction += inductions.iter().map(|&k| counted(k)).sum::<f64>();
            }
            self.first += weight(0) as f64;
            self.current += if q < keys { weight(q) as f64 } else { 0.0 };
            self.entropy_bits += entropy as f64;
            self.rows += 1;
        }
    }

    /// Adds the rows another sum holds (the rows of another stretch of the same head).
    pub fn merge(&mut self, other: &ScoreSums) {
        self.previous += other.previous;
        self.duplicate += other.duplicate;
        self.induction += other.induction;
        self.total += other.total;
        self.first += other.first;
        self.current += other.current;
        self.entropy_bits += other.entropy_bits;
        self.rows += other.rows;
    }

    /// The weight on the matched keys right after an earlier occurrence, summed over the
    /// rows added (not a share: the probe divides it by its own count).
    pub fn induction_sum(&self) -> f64 {
        self.induction
    }

    /// The weight on each row's previous token, summed over the rows added.
    pub fn previous_sum(&self) -> f64 {
        self.previous
    }

    /// The scores of the rows added.
    pub fn scores(&self, layer: usize, head: usize) -> HeadScores {
        let share = |on: f64| if self.total > 0.0 { (on / self.total) as f32 } else { 0.0 };
        let mean = |sum: f64| (sum / self.rows.max(1) as f64) as f32;
        HeadScores {
            layer,
            head,
            previous_token: share(self.previous),
            duplicate_token: share(self.duplicate),
            induction: share(self.induction),
            first_token: mean(self.first),
            current_token: mean(self.current),
            entropy_bits: mean(self.entropy_bits),
            positional: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::one_hot;
    use super::*;

    /// The causal uniform map: query q spreads over keys 0..=q.
    fn uniform(n: usize) -> Vec<f32> {
        (0..n).flat_map(|q| (0..n).map(move |k| if k <= q { 1.0 / (q + 1) as f32 } else { 0.0 })).collect()
    }

    const NONE: Exclusions = Exclusions { exclude_bos: false, exclude_current_token: false };

    #[test]
    fn the_probes_matches_are_its_second_copy_and_nothing_else() {
        // A first token, three random ones (the middle one drawn twice), the same three again.
        let probe = Matches::probe(1, 3, 7);
        assert_eq!(probe.duplicates, [vec![], vec![], vec![], vec![], vec![1], vec![2], vec![3]]);
        assert_eq!(probe.inductions, [vec![], vec![], vec![], vec![], vec![2], vec![3], vec![4]]);
        // The text's own repeats would also match the token drawn twice within a copy.
        let own = Matches::of(&[0, 5, 6, 6, 5, 6, 6]);
        assert_eq!(own.duplicates[3], [2]);
        assert_eq!(probe.duplicates[3], Vec::<usize>::new());
    }

    #[test]
    fn a_perfect_previous_token_head_scores_one() {
        // Query 0 has no previous token and looks at itself; leave the current token out.
        let map = one_hot(5, |q| q.saturating_sub(1));
        let exclude_self = Exclusions { exclude_current_token: true, ..NONE };
        assert_eq!(previous_token(&map, 5, exclude_self), 1.0);
        // Counted in, that one self-look is 1 of 5 rows.
        assert_eq!(previous_token(&map, 5, NONE), 0.8);
        assert_eq!(current_token(&map, 5), 0.2);
        assert_eq!(first_token(&map, 5), 0.4);
        assert_eq!(mean_entropy_bits(&map, 5), 0.0);
    }

    #[test]
    fn a_uniform_head_scores_what_it_must() {
        // n = 4, query q spreads 1/(q+1) over q+1 keys. Previous-token cells (q, q-1)
        // hold 1/2 + 1/3 + 1/4; the map sums to 4.
        let map = uniform(4);
        let expected = (1.0 / 2.0 + 1.0 / 3.0 + 1.0 / 4.0) / 4.0;
        assert!((previous_token(&map, 4, NONE) - expected).abs() < 1e-6);
        // Sink: (1 + 1/2 + 1/3 + 1/4) / 4, the same as the diagonal.
        let sink = (1.0 + 0.5 + 1.0 / 3.0 + 0.25) / 4.0;
        assert!((first_token(&map, 4) - sink).abs() < 1e-6);
        assert!((current_token(&map, 4) - sink).abs() < 1e-6);
        // Entropy: rows of 1, 2, 3, 4 equal weights: (0 + 1 + log2 3 + 2) / 4 bits.
        let bits = (0.0 + 1.0 + 3f32.log2() + 2.0) / 4.0;
        assert!((mean_entropy_bits(&map, 4) - bits).abs() < 1e-5);
    }

    #[test]
    fn induction_and_duplicate_heads_on_a_repeated_sequence() {
        // A B C A B C: in the second copy, query 3 (A) duplicates key 0 and inducts to key 1.
        let ids = [10, 11, 12, 10, 11, 12];
        let n = ids.len();
        let inducting = one_hot(n, |q| if q >= 3 { q - 2 } else { 0 });
        let duplicating = one_hot(n, |q| q.saturating_sub(3));
        let no_bos = Exclusions { exclude_bos: true, ..NONE };
        assert_eq!(induction(&inducting, &ids, no_bos), 1.0);
        assert_eq!(duplicate_token(&inducting, &ids, no_bos), 0.0);
        // The duplicating head's second-copy queries all land on key 0..=2; leaving out
        // key 0 leaves keys 1 and 2 (queries 4 and 5), both duplicates.
        assert_eq!(duplicate_token(&duplicating, &ids, no_bos), 1.0);
        assert_eq!(induction(&duplicating, &ids, no_bos), 0.0);
        // Counted in, the first copy's look at key 0 is no induction: 3 of 6 rows score.
        assert_eq!(induction(&inducting, &ids, NONE), 0.5);
    }

    #[test]
    fn sums_of_stretches_of_rows_score_as_the_functions_of_the_whole_map_do() {
        let ids = [10, 11, 12, 10, 11, 12, 10];
        let n = ids.len();
        // A causal map of uneven rows.
        let map: Vec<f32> = (0..n).flat_map(|q| (0..n).map(move |k| if k <= q { (1 + (q * 7 + k * 3) % 5) as f32 } else { 0.0 })).collect();
        let map: Vec<f32> = map
            .chunks(n)
            .flat_map(|row| {
                let s: f32 = row.iter().sum();
                row.iter().map(move |w| w / s).collect::<Vec<_>>()
            })
            .collect();
        let matches = Matches::of(&ids);
        for exclusions in [NONE, Exclusions { exclude_bos: true, exclude_current_token: true }, Exclusions { exclude_bos: true, ..NONE }] {
            let mut sums = ScoreSums::default();
            // The first three rows as a causal stretch holds them: only keys 0..3, up to its last query.
            let first_rows: Vec<f32> = map[..3 * n].chunks(n).flat_map(|row| row[..3].to_vec()).collect();
            sums.add_rows(&first_rows, 0, 0..3, &matches, exclusions, None);
            sums.add_rows(&map[3 * n..], 3, 0..n, &matches, exclusions, None);
            let s = sums.scores(0, 0);
            let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
            assert!(close(s.previous_token, previous_token(&map, n, exclusions)), "{exclusions:?}");
            assert!(close(s.duplicate_token, duplicate_token(&map, &ids, exclusions)), "{exclusions:?}");
            assert!(close(s.induction, induction(&map, &ids, exclusions)), "{exclusions:?}");
            assert!(close(s.first_token, first_token(&map, n)) && close(s.current_token, current_token(&map, n)));
            assert!((s.entropy_bits - mean_entropy_bits(&map, n)).abs() < 1e-5);
        }
    }
}
