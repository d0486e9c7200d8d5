//! A translation's or a transcript's tokens, told to the page as they come, but only once the
//! run has gone on long enough for a person to wait on it, and a few at a time.
//!
//! Each message has the page's main thread lay out its status line and the growing text
//! again, on the same two cores the worker's threads compute on. Told one message a token, the
//! translator's 20 words (some 30 tokens in well under 100 ms) took the worker 108-118 ms as a
//! person pastes them; told so, 75-81 ms (`bench person-translation`, docs/notes/person-wait.md).

use protocol::FromWorker;

/// A run tells nothing until it has gone on this long or written [`QUIET_TOKENS`]: a short
/// run's answer comes first.
const QUIET_MS: f64 = 100.0;
const QUIET_TOKENS: usize = 32;

/// Once telling, a message when this long has passed since the last or [`EVERY_TOKENS`] wait
/// (a person reads no faster; and on a fast machine a long run still shows it grow).
const EVERY_MS: f64 = 50.0;
const EVERY_TOKENS: usize = 8;

/// `on_token` for a run that writes tokens (a translator's, a transcriber's): tells the page.
pub(crate) fn telling(run: u64) -> impl FnMut(usize, &engine::Token, usize) {
    let mut growing = Growing::new(run, crate::now());
    move |_, token, limit| {
        if let Some(message) = growing.token(token.text.clone(), limit, crate::now()) {
            crate::post(&message, None);
        }
    }
}

/// The tokens of one run not yet told.
struct Growing {
    run: u64,
    started: f64,
    told: usize,
    last_told: f64,
    waiting: Vec<String>,
}

impl Growing {
    fn new(run: u64, started: f64) -> Self {
        Self { run, started, told: 0, last_told: started, waiting: Vec::new() }
    }

    /// The run wrote `token` (of at most `limit`) at `at` ms: the message to post, if one is due.
    fn token(&mut self, token: String, limit: usize, at: f64) -> Option<FromWorker> {
        self.waiting.push(token);
        let due = if self.told == 0 {
            at - self.started >= QUIET_MS || self.waiting.len() >= QUIET_TOKENS
        } else {
            at - self.last_told >= EVERY_MS || self.waiting.len() >= EVERY_TOKENS
        };
        if !due {
            return None;
        }
        let tokens = std::mem::take(&mut self.waiting);
        let from = self.told;
        self.told += tokens.len();
        self.last_told = at;
        Some(FromWorker::Translating { run: self.run, from, limit, tokens })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each of `times` (a token each, "t0", "t1", ...) told, as (from, tokens).
    fn told(times: &[f64]) -> Vec<(usize, Vec<String>)> {
        let mut growing = Growing::new(7, 1000.0);
        let mut out = Vec::new();
        for (i, &at) in times.iter().enumerate() {
            match growing.token(format!("t{i}"), 64, at) {
                Some(FromWorker::Translating { run: 7, from, limit: 64, tokens }) => out.push((from, tokens)),
                None => {}
                Some(other) => panic!("{other:?}"),
            }
        }
        out
    }

    #[test]
    fn a_short_run_tells_nothing() {
        assert!(told(&[1010.0, 1020.0, 1099.0]).is_empty());
    }

    #[test]
    fn a_fast_run_of_many_tokens_tells_them_every_8_after_the_first_32() {
        let times: Vec<f64> = (0..50).map(|i| 1000.0 + i as f64 * 0.5).collect();
        let from: Vec<(usize, usize)> = told(&times).iter().map(|(from, tokens)| (*from, tokens.len())).collect();
        assert_eq!(from, [(0, 32), (32, 8), (40, 8)]);
    }

    #[test]
    fn a_slow_run_tells_its_tokens_once_each_in_order_at_most_every_50_ms() {
        // Quiet for 100 ms (t0..t2), then everything waiting; then t4 and t5 at 1160 ms.
        let times = [1030.0, 1060.0, 1090.0, 1100.0, 1120.0, 1160.0, 1170.0];
        let t = |range: std::ops::Range<usize>| range.map(|i| format!("t{i}")).collect::<Vec<_>>();
        assert_eq!(told(&times), vec![(0, t(0..4)), (4, t(4..6))]);
    }
}
