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

/// Runs `work` (a pass through a network's layers: hundreds of short stretches split across
/// the threads, a projection or a group of heads each) on one of the pool's threads while the
/// others, between its stretches, wait for the next part spinning instead of asleep.
///
/// Why: in WebAssembly a sleeping thread is woken through `Atomics.notify`, slow beside a part
/// of a few tokens' product; rayon's threads go to sleep almost at once when idle, and a split's
/// caller (the worker's own thread, outside the pool) sleeps and is woken too, some 240 times a
/// pass. Measured in the page (`bench page-threads-short`, SmolLM2 on two threads, two fresh
/// sessions each after 15 warm-up runs): 21 tokens 119-170 ms against 146-224 without; with
/// every function in V8's optimizing tier (`--no-wasm-dynamic-tiering`), 6 tokens 47-60 ms
/// against 67-72. Spinning costs the cores nothing the run did not already hold, and ends
/// with `work`.
pub fn with_threads_awake<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    #[cfg(feature = "parallel")]
    {
        if parts() > 1 {
            return awake(work);
        }
    }
    work()
}

#[cfg(feature = "parallel")]
fn awake<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    let finished = AtomicBool::new(false);
    rayon::scope(|scope| {
        let working = rayon::current_thread_index();
        for _ in 1..rayon::current_num_threads() {
            let finished = &finished;
            scope.spawn(move |_| {
                // The working thread may pick this up itself while it waits for a part it
                // split off: it must not spin there, as `finished` waits on its own work.
                if rayon::current_thread_index() == working {
                    return;
                }
                // `yield_now` takes a part another thread split off, if there is one.
                while !finished.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        let out = work();
        finished.store(true, Ordering::Release);
        out
    })
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
