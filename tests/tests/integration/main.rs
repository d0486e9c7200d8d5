//! One integration-test binary, a module per topic (as ripgrep does).

mod parity;
