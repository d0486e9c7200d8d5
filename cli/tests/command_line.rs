//! The `attnscope` binary as cargo builds it for this package's tests (the CLI's model tests
//! are in tests/tests/integration/cli.rs, which runs the same binary): its help lists every
//! command, and a command it does not know is a one-line usage error with status 2.

use std::process::Command;

fn attnscope(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_attnscope")).args(args).output().expect("the attnscope binary runs")
}

#[test]
fn help_names_every_command() {
    let help = attnscope(&["--help"]);
    assert!(help.status.success(), "{help:?}");
    let text = String::from_utf8(help.stdout).unwrap();
    for command in ["attnscope run", "attnscope scores", "attnscope plot", "attnscope inspect", "attnscope ablate", "attnscope sweep", "attnscope attribute"] {
        assert!(text.contains(command), "`{command}` is missing from the help:\n{text}");
    }
}

#[test]
fn an_unknown_command_is_a_usage_error_on_one_line() {
    let output = attnscope(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8(output.stderr).unwrap();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.starts_with("attnscope: unknown command `frobnicate`"), "{message}");
}
