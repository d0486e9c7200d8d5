//! Work split across threads where candle computes on one: in WebAssembly candle's matrix
//! products run on the calling thread (it finds one core), so with wasm threads (the app's
//! `threads` feature, rayon's pool from wasm-bindgen-rayon) the engine splits its largest
//! products and its attention into parts itself, one per thread. Natively candle spreads
//! each product over every core already, and nothing is split.

/// How many parts to split work into: rayon's threads where candle computes on one, else 1.
pub fn parts() -> usize {
    #[cfg(feature = "parallel")]
    {
        if candle_core::utils::get_num_threads() == 1 {
            return rayon::current_num_threads().max(1);
        }
    }
    1
}

/// `work(part)` for each part, on the threads when there are several; the results in order.
pub fn each_part<T: Send>(parts: usize, work: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        if parts > 1 {
            return (0..parts).into_par_iter().map(work).collect();
        }
    }
    (0..parts).map(work).collect()
}

/// `work(piece)` for each of many pieces of unequal cost, on the threads when there are
/// several (each takes the next piece as it finishes one); the results in order.
pub fn each_piece<T: Send>(pieces: usize, work: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        if parts() > 1 {
            return (0..pieces).into_par_iter().with_max_len(1).map(work).collect();
        }
    }
    (0..pieces).map(work).collect()
}

/// `total` items cut into at most `parts` ranges of nearly equal size, none empty.
pub fn ranges(total: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let size = total.div_ceil(parts.max(1)).max(1);
    (0..total).step_by(size).map(|start| start..(start + size).min(total)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_item_once() {
        assert_eq!(ranges(9, 2), [0..5, 5..9]);
        assert_eq!(ranges(1, 4), std::iter::once(0..1).collect::<Vec<_>>());
        assert_eq!(ranges(0, 2), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(each_part(3, |p| p * 10), [0, 10, 20]);
    }
}
