//! A long text's attention, a stretch of query rows at a time, each map kept only as the
//! means of its blocks (see [`crate::long`]): no layer ever holds every weight at once.

use candle_core::Tensor;

use super::{probabilities, probabilities_and_entropies, with_slice};
use crate::analysis::heads::{Exclusions, Matches, ScoreSums};
use crate::products::attention_product;
use crate::report::{pool_blocks, Scoring};

/// How many query rows a pooled run attends at once (see [`attend_pooled`]).
pub const QUERY_ROWS: usize = 256;

/// What a layer's pooled attention gives.
pub struct Pooled {
    /// The heads' outputs, [heads, rows, d].
    pub out: Tensor,
    /// Each head's map pooled into blocks, flat [heads, row blocks, column blocks].
    pub blocks: Vec<f32>,
    /// Each head's score sums over every row (empty sums when no cells were asked for).
    pub sums: Vec<ScoreSums>,
}

/// A pooled run's attention, a stretch of query rows at a time:
/// a long text's whole probabilities at once would be 604 MB a layer at 4,096 tokens of
/// SmolLM2 (and its raw scores as much again); a stretch of [`QUERY_ROWS`] rows is a
/// few tens of MB. Each row's softmax is its own, so the rows come out as the whole
/// layer's would; the stretches are whole blocks, so each block row is pooled from one.
pub fn attend_pooled(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scoring: Scoring,
    block: usize,
    matches: Option<&Matches>,
) -> candle_core::Result<Pooled> {
    let (heads, rows, _) = q.dims3()?; // q: [heads, rows, d]
    let keys = k.dim(1)?;
    let stretch = (QUERY_ROWS / block).max(1) * block;
    let (row_blocks, column_blocks) = (rows.div_ceil(block), keys.div_ceil(block));
    let mut pooled = vec![0.0f32; heads * row_blocks * column_blocks]; // [heads, row blocks, column blocks]
    let v = v.contiguous()?;
    // Each stretch's mask rows and the keys they may see (a causal stretch none after its
    // last query), found once for all its heads.
    let mut stretches = Vec::with_capacity(rows.div_ceil(stretch));
    for start in (0..rows).step_by(stretch) {
        let n = stretch.min(rows - start);
        // The mask's rows for these queries, [n, keys] (a mask of one row is broadcast).
        let mask = match mask {
            Some(m) if m.dim(m.rank() - 2)? == rows => Some(m.narrow(m.rank() - 2, start, n)?),
            other => other.cloned(),
        };
        let seen = visible_keys(mask.as_ref(), keys, block)?;
        let mask = match mask {
            Some(m) if seen.len() < keys => Some(m.narrow(m.rank() - 1, seen.start, seen.len())?.contiguous()?),
            other => other,
        };
        stretches.push(Stretch { start, n, seen, mask });
    }
    // On one thread a stretch's heads attend together; with several, each (stretch, head)
    // is a piece of its own and the threads take pieces as they finish: nine heads split
    // five and four, and late causal stretches cost more than early ones.
    let groups: Vec<std::ops::Range<usize>> =
        if crate::parallel::parts() > 1 { (0..heads).map(|h| h..h + 1).collect() } else { std::iter::once(0..heads).collect() };
    let pieces: Vec<(usize, std::ops::Range<usize>)> = (0..stretches.len()).flat_map(|s| groups.iter().map(move |g| (s, g.clone()))).collect();
    let attended = crate::parallel::each_piece(pieces.len(), |p| -> candle_core::Result<(Tensor, Vec<f32>, Vec<ScoreSums>)> {
        let (Stretch { start, n, seen, mask }, range) = (&stretches[pieces[p].0], pieces[p].1.clone());
        let (start, n) = (*start, *n);
        let group = |x: &Tensor| x.narrow(0, range.start, range.len());
        let (k, v) = (group(k)?.narrow(1, seen.start, seen.len())?, group(&v)?.narrow(1, seen.start, seen.len())?);
        let queries = group(&q.narrow(1, start, n)?)?;
        // Each row's entropy from the softmax, where the heads' scores are summed.
        let (probs, entropies) = match matches {
            Some(_) => probabilities_and_entropies(&queries, &k, mask.as_ref(), scoring)?,
            None => (probabilities(&queries, &k, mask.as_ref(), scoring, false)?.0, None),
        }; // probs: [group, n, seen]; entropies: [group · n]
        let out = attention_product(&probs, &v)?; // [group, n, d]
        let (part, sums) = with_slice(&probs, |maps| {
            // Each head's scores over these rows, from the weights as they are here.
            let sums = maps
                .chunks_exact(n * seen.len())
                .enumerate()
                .map(|(i, rows)| {
                    let mut sums = ScoreSums::default();
                    if let Some(matches) = matches {
                        let bits = entropies.as_ref().map(|bits| &bits[i * n..][..n]);
                        sums.add_rows(rows, start, seen.clone(), matches, Exclusions::default(), bits);
                    }
                    sums
                })
                .collect();
            (pool_blocks(maps, range.len(), (n, seen.len()), block), sums) // [group, count, columns]
        })?;
        Ok((out, part, sums))
    });
    let mut sums_of_layer = vec![ScoreSums::default(); heads];
    let mut outs = vec![Vec::with_capacity(stretches.len()); groups.len()]; // [group][stretch]: [group, n, d]
    for ((s, range), attended) in pieces.iter().zip(attended) {
        let (out, part, sums) = attended?;
        let Stretch { start, n, seen, .. } = &stretches[*s];
        let (first, count, first_column, columns) = (start / block, n.div_ceil(block), seen.start / block, seen.len().div_ceil(block));
        for (i, h) in range.clone().enumerate() {
            for row in 0..count {
                let to = (h * row_blocks + first + row) * column_blocks + first_column;
                pooled[to..to + columns].copy_from_slice(&part[(i * count + row) * columns..][..columns]);
            }
            sums_of_layer[h].merge(&sums[i]);
        }
        outs[range.start / groups[0].len()].push(out);
    }
    let outs = outs.iter().map(|stretches| Tensor::cat(stretches, 1)).collect::<candle_core::Result<Vec<_>>>()?; // [group, rows, d] each
    Ok(Pooled { out: Tensor::cat(&outs, 0)?, blocks: pooled, sums: sums_of_layer })
    // out: [heads, rows, d]
}

/// A stretch of a pooled run's query rows: its first row, how many, the keys they may see and
/// the mask's rows for them (narrowed to those keys).
struct Stretch {
    start: usize,
    n: usize,
    seen: std::ops::Range<usize>,
    mask: Option<Tensor>,
}

/// The keys `mask` ([.., rows, keys]: 0 where a query may look, -inf where not) lets any of
/// its rows see, widened to whole blocks of `block` keys. A stretch of rows attends to these
/// only: a causal one sees no key after its last query, a sliding window none far before its
/// first; the softmax over the rest is the same, as the keys left out weigh exactly 0.
fn visible_keys(mask: Option<&Tensor>, keys: usize, block: usize) -> candle_core::Result<std::ops::Range<usize>> {
    let Some(mask) = mask.filter(|m| m.dims().last() == Some(&keys) && keys > 0) else { return Ok(0..keys) };
    let seen = |m: &f32| *m != f32::NEG_INFINITY;
    let (first, end) = with_slice(mask, |values| {
        values.chunks_exact(keys).fold((keys, 0), |(first, end), row| match (row.iter().position(seen), row.iter().rposition(seen)) {
            (Some(f), Some(l)) => (first.min(f), end.max(l + 1)),
            _ => (first, end),
        })
    })?;
    if first >= end {
        return Ok(0..keys);
    }
    let block = block.max(1);
    // The first key a multiple of the block (each block of columns is pooled from one
    // stretch) and of the softmax's lanes (a row's sum then takes its values in the lanes
    // the whole row would: the same bits, see `kernels::lane_sum`).
    let align = lcm(block, crate::kernels::LANES);
    Ok(first / align * align..(end.div_ceil(block) * block).min(keys))
}

/// The least common multiple of two positive numbers.
fn lcm(a: usize, b: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::{additive_mask_from, attend};
    use crate::report::Mask;
    use candle_core::Device;

    /// [heads, t, d] of values spread over a few orders of magnitude (a cheap generator, so
    /// the sums have rounding to lose), and large enough that gemm would cut the keys.
    fn spread(heads: usize, t: usize, d: usize, seed: u64, dev: &Device) -> candle_core::Result<Tensor> {
        let mut state = seed;
        let values: Vec<f32> = (0..heads * t * d)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
                (unit - 0.5) * 8.0 * (1.0 + (state >> 20 & 3) as f32)
            })
            .collect();
        Tensor::from_vec(values, (heads, t, d), dev)
    }

    /// A stretch of rows attending only the keys it can see gives its rows' weights and
    /// outputs to the bit as the whole run does: the products sum each output in one order
    /// whatever their sizes, and a row's sum takes its values in the same lanes (the keys
    /// cut start at a multiple of them). This is what lets a long text's pooled run, a head's
    /// map asked for again and the whole run agree exactly, on any processor.
    #[test]
    fn a_stretch_of_rows_attends_to_the_bit_as_the_whole_run() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let (heads, t, d) = (3, 600, 64);
        let (q, k, v) = (spread(heads, t, d, 1, &dev)?, spread(heads, t, d, 2, &dev)?, spread(heads, t, d, 3, &dev)?);
        for (mask, window, block) in [(Mask::Causal, None, 24), (Mask::Causal, Some(100), 12), (Mask::None, None, 5)] {
            let whole_mask = additive_mask_from(mask, window, 0, t, &dev)?;
            let scoring = Scoring::standard(d);
            let (out, probs, _) = attend(&q, &k, &v, whole_mask.as_ref(), scoring, false)?;
            for (start, n) in [(0, 240), (240, 240), (480, 120)] {
                let rows = whole_mask.as_ref().map(|m| m.narrow(0, start, n)).transpose()?;
                let seen = visible_keys(rows.as_ref(), t, block)?;
                assert_eq!(seen.start % block, 0);
                let rows = rows.map(|m| m.narrow(1, seen.start, seen.len())?.contiguous()).transpose()?;
                let (k_seen, v_seen) = (k.narrow(1, seen.start, seen.len())?, v.narrow(1, seen.start, seen.len())?);
                let (stretch_out, stretch_probs, _) = attend(&q.narrow(1, start, n)?, &k_seen, &v_seen, rows.as_ref(), scoring, false)?;
                let what = format!("{mask:?} window {window:?}, rows {start}.. seeing keys {seen:?}");
                assert_eq!(stretch_out.to_vec3::<f32>()?, out.narrow(1, start, n)?.to_vec3::<f32>()?, "{what}: outputs");
                assert_eq!(stretch_probs.to_vec3::<f32>()?, probs.narrow(1, start, n)?.narrow(2, seen.start, seen.len())?.to_vec3::<f32>()?, "{what}: weights");
            }
            // A head's map alone is the same bits as in the run of all heads.
            let (_, one, _) = attend(&q.narrow(0, 1, 1)?, &k.narrow(0, 1, 1)?, &v.narrow(0, 1, 1)?, whole_mask.as_ref(), scoring, false)?;
            assert_eq!(one.to_vec3::<f32>()?, probs.narrow(0, 1, 1)?.to_vec3::<f32>()?);
        }
        Ok(())
    }
}
