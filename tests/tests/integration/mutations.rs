//! Files that lie: thousands of seeded mutations of real model files (GGUF, safetensors,
//! config.json, tokenizer.json) go through the loaders. Each mutant is refused with a
//! message or loads (and then runs); none panics. A failure names the seed that makes it,
//! so `ATTNSCOPE_MUTATION_SEED=N` replays it; `ATTNSCOPE_MUTATIONS=N` sets how many per file
//! (default 600).

use std::panic::{catch_unwind, AssertUnwindSafe};

use attnscope_tests::root;
use engine::{Mask, Model};

/// xorshift64*: a small seeded generator, the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Where to strike: mostly the header and the tables at the front, where lies do harm.
fn offset(rng: &mut Rng, len: usize) -> usize {
    if rng.below(10) < 7 {
        rng.below(len.min(4096))
    } else {
        rng.below(len)
    }
}

/// One mutation of `bytes`, and what it was.
fn mutate(bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let mut out = bytes.to_vec();
    let len = out.len().max(1);
    let kind = rng.below(6);
    match kind {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let at = offset(rng, len);
                if let Some(b) = out.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            (out, "flipped bits")
        }
        1 => {
            out.truncate(rng.below(len));
            (out, "truncated")
        }
        2 => {
            // A size or count that claims far more than the file holds.
            let lie = [u64::MAX, 1 << 40, 1 << 32, 1_000_000_000_000, 0][rng.below(5)];
            let at = offset(rng, len);
            for (i, b) in lie.to_le_bytes().iter().enumerate() {
                if let Some(slot) = out.get_mut(at + i) {
                    *slot = *b;
                }
            }
            (out, "a huge or zero 64-bit number")
        }
        3 => {
            let at = offset(rng, len);
            let value = (rng.next() as u32).to_le_bytes();
            for (i, b) in value.iter().enumerate() {
                if let Some(slot) = out.get_mut(at + i) {
                    *slot = *b;
                }
            }
            (out, "a random 32-bit number")
        }
        4 => {
            let (a, b) = (offset(rng, len), offset(rng, len));
            let (start, end) = (a.min(b), a.max(b).min(out.len()));
            out.drain(start.min(end)..end);
            (out, "a slice cut out")
        }
        _ => {
            let (a, b) = (offset(rng, len), rng.below(64));
            let slice: Vec<u8> = out.iter().skip(a).take(b).copied().collect();
            let at = offset(rng, len).min(out.len());
            out.splice(at..at, slice);
            (out, "a slice repeated")
        }
    }
}

fn mutations() -> u64 {
    std::env::var("ATTNSCOPE_MUTATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(600)
}

/// The seeds to try: all of them, or the one being replayed.
fn seeds(base: u64) -> Vec<u64> {
    match std::env::var("ATTNSCOPE_MUTATION_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (base..base + mutations()).collect(),
    }
}

/// Loads (and, when it loads, runs) every mutant of `original`; panics are collected.
fn assert_no_mutant_panics(what: &str, original: &[u8], base: u64, load: impl Fn(&[u8]) -> engine::Result<Model>) {
    let mut panics = Vec::new();
    let (mut loaded, mut refused) = (0, 0);
    for seed in seeds(base) {
        let mut rng = Rng::new(seed);
        let (bytes, kind) = mutate(original, &mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| match load(&bytes) {
            Ok(model) => {
                let _ = model.run_ids(&[1, 2, 3], Mask::Causal);
                let _ = model.run_ids(&[3, 2, 1], Mask::None);
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        }));
        match outcome {
            Ok(true) => loaded += 1,
            Ok(false) => refused += 1,
            Err(_) => panics.push(format!("seed {seed} ({kind})")),
        }
    }
    assert!(panics.is_empty(), "{what}: {} mutants panicked: {}", panics.len(), panics.join(", "));
    assert!(refused > 0, "{what}: no mutant was refused, so the mutations did nothing ({loaded} loaded)");
}

fn tiny(path: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/tiny").join(path)).unwrap()
}

#[test]
fn mutated_gguf_files_are_refused_or_load_and_never_panic() {
    for (i, name) in ["llama", "gemma3", "phi3", "gpt_neox", "bert"].iter().enumerate() {
        let original = attnscope_tests::tiny_gguf(name);
        assert_no_mutant_panics(&format!("{name}'s GGUF"), &original, 1_000_000 * (i as u64 + 1), |bytes| Model::from_gguf("mutant", bytes));
    }
}

#[test]
fn mutated_safetensors_files_are_refused_or_load_and_never_panic() {
    for (i, name) in ["qwen2", "gemma2", "gpt_neox", "roberta"].iter().enumerate() {
        let config = tiny(&format!("{name}/config.json"));
        let original = tiny(&format!("{name}/model.safetensors"));
        assert_no_mutant_panics(&format!("{name}/model.safetensors"), &original, 10_000_000 * (i as u64 + 1), |bytes| {
            Model::from_safetensors("mutant", &config, bytes, None)
        });
    }
}

/// Every setting of every family's config.json set to values that lie (zero, negative,
/// huge, fractional, the wrong type, absent): refused or loaded, never a panic.
#[test]
fn lying_config_files_are_refused_or_load_and_never_panic() {
    let lies = [
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1_000_000_000_000u64),
        serde_json::json!(3.5),
        serde_json::json!("x"),
        serde_json::json!(null),
        serde_json::json!([]),
    ];
    let mut panics = Vec::new();
    for name in ["llama3", "qwen3", "gemma2", "gemma3", "phi3", "gpt_neox", "bert", "distilbert"] {
        let weights = tiny(&format!("{name}/model.safetensors"));
        let config: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&tiny(&format!("{name}/config.json"))).unwrap();
        for key in config.keys() {
            for lie in lies.iter().map(Some).chain([None]) {
                let mut mutant = config.clone();
                match lie {
                    Some(value) => mutant.insert(key.clone(), value.clone()),
                    None => mutant.remove(key),
                };
                let bytes = serde_json::to_vec(&mutant).unwrap();
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    if let Ok(model) = Model::from_safetensors("mutant", &bytes, &weights, None) {
                        let _ = model.run_ids(&[1, 2, 3], Mask::Causal);
                    }
                }));
                if outcome.is_err() {
                    panics.push(format!("{name}: `{key}` = {lie:?}"));
                }
            }
        }
    }
    assert!(panics.is_empty(), "{} lying configs panicked: {}", panics.len(), panics.join("; "));
}

#[test]
fn mutated_tokenizer_files_are_refused_or_load_and_never_panic() {
    let folder = attnscope_tests::model_dir("all-minilm-l6-v2");
    let config = std::fs::read(folder.join("config.json")).unwrap();
    let weights = std::fs::read(folder.join("model.safetensors")).unwrap();
    let original = std::fs::read(folder.join("tokenizer.json")).unwrap();
    let mut panics = Vec::new();
    for seed in seeds(50_000_000).into_iter().take(120) {
        let (bytes, kind) = mutate(&original, &mut Rng::new(seed));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(model) = Model::from_safetensors("mutant", &config, &weights, Some(&bytes)) {
                let _ = model.run_text("The cat sat on the mat", Mask::None, None);
            }
        }));
        if outcome.is_err() {
            panics.push(format!("seed {seed} ({kind})"));
        }
    }
    assert!(panics.is_empty(), "{} tokenizer mutants panicked: {}", panics.len(), panics.join(", "));
}
