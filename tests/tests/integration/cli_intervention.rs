//! `attnscope ablate`, `sweep` and `attribute`: the engine's changed runs, sweeps and
//! attributions on the command line, as tables or as the report's JSON, checked against
//! transformers' (the same fixture as the engine's tests).

use super::cli::{assert_input_error, attnscope, report_of};
use super::intervention::{assert_next_tokens, fixture};

const TEXT: &str = "When Mary and John went to the store, John gave a drink to";

fn stdout(args: &[&str]) -> String {
    let output = attnscope(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn ablate_prints_the_next_tokens_before_and_after() {
    let fixture = fixture("smollm2-135m");
    let zero = fixture.json["cases"].as_array().unwrap().iter().find(|c| c["key"] == "zero").unwrap().clone();
    let args = ["ablate", "--model", "smollm2-135m", "--text", TEXT, "--heads", "3.2,10.4,20.1"];
    let report = report_of(&attnscope(&[&args[..], &["--json"]].concat()));
    assert_next_tokens("ablate --json", &report, &zero["next_token_top10"]);
    let record = report.intervention.as_ref().expect("the report says what was changed");
    assert_eq!(record.ablated.iter().map(|h| h.to_string()).collect::<Vec<_>>(), ["3.2", "10.4", "20.1"]);
    assert_next_tokens(
        "ablate --json, before",
        &engine::AttentionReport { next_tokens: record.next_tokens_before.clone(), ..report.clone() },
        &fixture.json["clean"]["next_token_top10"],
    );
    // The table: the heads, then each rank before and after.
    let table = stdout(&args);
    assert!(table.starts_with("heads 3.2, 10.4, 20.1 zero-ablated\n"), "{table}");
    let first = table.lines().nth(2).unwrap();
    assert_eq!(first.matches("\" Mary\"").count(), 2, "{first}");
}

#[test]
fn sweep_and_attribute_rank_the_heads_as_transformers_does() {
    let fixture = fixture("smollm2-135m");
    let answer = ["--answer", " Mary", "--versus", " John"];
    let sweep = report_of(&attnscope(&[&["sweep", "--model", "smollm2-135m", "--text", TEXT, "--json"][..], &answer].concat()));
    let effects = sweep.head_effects.expect("the report carries the sweep");
    let theirs: Vec<f32> = serde_json::from_value::<Vec<Vec<f32>>>(fixture.json["sweeps"]["zero"].clone()).unwrap().concat();
    let (diff, _) = attnscope_tests::max_abs_diff(&effects.per_head, &theirs);
    assert!(diff <= 5e-4, "sweep --json: {diff:e}");
    assert_eq!(effects.answer.token.text, " Mary");

    let table = stdout(&[&["attribute", "--model", "smollm2-135m", "--text", TEXT, "--top", "3"][..], &answer].concat());
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("each head's direct contribution to logit of \" Mary\" − logit of \" John\""), "{table}");
    // The largest direct contribution, as the decomposition in transformers ranks it.
    let per_head: Vec<Vec<f64>> = serde_json::from_value(fixture.json["attribution"]["mary-john"]["per_head"].clone()).unwrap();
    let (best, value) = per_head
        .iter()
        .enumerate()
        .flat_map(|(l, row)| row.iter().enumerate().map(move |(h, v)| (format!("{l}.{h}"), *v)))
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .unwrap();
    assert!(lines[2].contains(&format!(" {best} ")) && lines[2].contains(&format!("{value:+.4}")), "{}: {best} {value}", lines[2]);
    assert_eq!(lines.len(), 2 + 3 + 1, "{table}");
}

#[test]
fn intervention_usage_errors_exit_2_with_one_line() {
    let base = ["--model", "smollm2-135m", "--text", TEXT];
    assert_input_error(&[&["ablate"][..], &base].concat(), "--heads is required");
    assert_input_error(&[&["ablate"][..], &base, &["--heads", "3"]].concat(), "write LAYER.HEAD");
    assert_input_error(&[&["ablate"][..], &base, &["--heads", "31.0"]].concat(), "layer 31 does not exist");
    assert_input_error(&[&["ablate"][..], &base, &["--heads", "1.1", "--patterns"]].concat(), "--patterns takes the patterns from --patch-from");
    assert_input_error(&[&["ablate"][..], &base, &["--heads", "1.1", "--patch-from", "Too short"]].concat(), "same length in tokens");
    assert_input_error(&[&["attribute"][..], &base, &["--answer", " Maryanne-Louise"]].concat(), "name one token");
    assert_input_error(&["attribute", "--model", "all-minilm-l6-v2", "--text", "The cat"], "no next-token logits");
    assert_input_error(&[&["sweep"][..], &base, &["--heads", "1.1"]].concat(), "unknown argument `--heads` for `sweep`");
}
