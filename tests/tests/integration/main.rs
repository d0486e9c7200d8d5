//! The integration tests that need no browser, one binary with a module per topic (as
//! ripgrep does): plain `cargo test` runs them. The page's tests, in headless Chromium, are
//! the `browser` target (tests/browser/), which `make test` runs.

// Each architecture's maps against transformers' and the reference set.
mod aligners;
mod audio;
mod dates;
mod digits;
mod families;
mod gemma3;
mod memory;
mod omniglot;
mod parity;
mod positions;
mod snail;
mod speech;
mod translation;
mod vision;
// Long texts: pooled runs, stretches, heads asked for again.
mod long_texts;
// Reusing a run's beginning for a longer text.
mod reuse;
// Analysis over reports: head scores, arithmetic of a score, value norms.
mod analysis;
mod arithmetic;
mod norms;
// Interventions: heads changed, patched and attributed.
mod intervention;
// Files that lie, are cut short or are not models, and other bad input.
mod bad_input;
mod mutations;
// The command line, as a person runs it.
mod cli;
mod cli_intervention;
mod cli_other_models;
// Figures: the CLI's pictures and the engine's drawing.
mod plot;
