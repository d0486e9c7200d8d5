//! One integration-test binary, a module per topic (as ripgrep does).

mod parity;
mod gemma3;
mod families;
mod mutations;
mod bad_input;
mod cli;
mod plot;
mod browser;
mod arithmetic;
mod analysis;
mod audio;
mod speech;
mod vision;
mod norms;
mod reuse;
mod translation;
mod intervention;
mod cli_intervention;
mod long_texts;
