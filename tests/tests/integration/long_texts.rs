//! Long texts: a run that keeps its maps pooled holds the whole run's maps pooled, and
//! gives any head's whole map again, equal to the whole run's and to transformers'.
//!
//! A pooled run and a whole run compute attention with the same kernels in the same order
//! (a stretch of rows, a head alone or every head at once: see
//! `engine::products::attention_product` and `kernels::lane_sum`), so their maps are
//! compared bit for bit, on any processor and any number of threads. Head scores are summed
//! stretch by stretch in a pooled run and over whole maps otherwise: those compare to a
//! bound (see where they are compared).

use attnscope_tests::{assert_same_bits, max_abs_diff, root, shared_model};
use candle_core::Device;
use engine::analysis::heads::{score_report, Exclusions, HeadScores};
use engine::{EngineError, MapForm, Mask, Model};

/// The benchmark's longest prompt (148 tokens of SmolLM2's).
fn long_prompt() -> String {
    let prompts: Vec<String> = serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/bench/prompts.json")).unwrap()).unwrap();
    prompts.last().unwrap().clone()
}

#[test]
fn a_pooled_run_holds_the_whole_runs_maps_pooled_and_gives_any_head_whole_again() {
    let model = shared_model("smollm2-135m");
    let text = long_prompt();
    for mask in [Mask::Causal, Mask::None] {
        let whole = model.run_text(&text, mask, Some(512)).unwrap();
        let pooled = model.run_pooled(&text, mask, 8, Some(512)).unwrap();
        let t = whole.tokens().len();
        assert!(t > 100, "a long text: {t} tokens");
        assert_eq!(pooled.report.sites[0].form, MapForm::Pooled { block: 8, queries: t, keys: t });
        assert_eq!(pooled.report.attention().shape(), [30, 9, t.div_ceil(8), t.div_ceil(8)]);
        // The same kernels in the same order either way: the same bits (see the module's notes).
        assert_same_bits(pooled.report.attention().as_flat(), whole.attention().pooled(8).as_flat(), &format!("{mask:?}: pooled maps"));
        for (layer, head) in [(0, 0), (10, 3), (23, 3), (29, 8)] {
            assert_same_bits(
                &pooled.head_map(layer, head).unwrap(),
                whole.attention().head(layer, head),
                &format!("{mask:?} layer {layer} head {head}: the map asked for"),
            );
        }
        assert_eq!(pooled.report.next_tokens, whole.next_tokens, "{mask:?}: the same run");
        // The scores the run summed stretch by stretch are the whole maps' scores.
        let (summed, scored) = (score_report(&pooled.report, Exclusions::default()), score_report(&whole, Exclusions::default()));
        assert_eq!(summed.len(), 270);
        for (a, b) in summed.iter().zip(&scored) {
            for name in HeadScores::NAMES {
                let (x, y) = (a.get(name).unwrap(), b.get(name).unwrap());
                assert!((x - y).abs() <= 1e-5, "{mask:?} layer {} head {} {name}: {x} against {y}", a.layer, a.head);
            }
        }
        assert!(
            score_report(&pooled.report, Exclusions { exclude_bos: true, exclude_current_token: false }).is_empty(),
            "other exclusions: no scores rather than wrong ones"
        );
        // BertViz's format holds whole maps: a pooled report is refused, with the reason.
        let refused = engine::export::Hf::of(&pooled.report).unwrap_err();
        assert!(refused.contains("pooled"), "{refused}");
    }
    let pooled = model.run_pooled("The cat sat on the mat", Mask::Causal, 8, None).unwrap();
    assert!(matches!(pooled.head_map(30, 0), Err(EngineError::NoSuchLayer { layer: 30, layers: 30 })));
    assert!(matches!(pooled.head_map(0, 9), Err(EngineError::NoSuchHead { head: 9, heads: 9 })));
    // Seven tokens in blocks of eight: one block, each row of it summing to 1.
    assert_eq!(pooled.report.attention().shape(), [30, 9, 1, 1]);
    assert!(pooled.report.attention().as_flat().iter().all(|&w| (w - 1.0).abs() < 1e-5));
}

/// Every family's attention, sliding windows included, asked for head by head under each
/// mask, equals the whole run's and transformers' (tests/fixtures/tiny).
#[test]
fn every_familys_heads_asked_for_equal_the_whole_run_and_transformers() {
    for family in ["llama", "mistral", "gemma2", "gemma3", "qwen2", "phi3", "gpt2", "gpt_neox", "stablelm", "stablelm_parallel"] {
        let folder = root().join("tests/fixtures/tiny").join(family);
        let model = Model::from_path(family, &folder).unwrap_or_else(|e| panic!("{family}: {e}"));
        let reference = candle_core::safetensors::load(folder.join("reference.safetensors"), &Device::Cpu).unwrap();
        let ids: Vec<u32> = reference["ids"].to_vec1::<i64>().unwrap().into_iter().map(|id| id as u32).collect();
        for (mask, key) in [(Mask::Causal, "causal"), (Mask::PlainCausal, "plain-causal"), (Mask::None, "none")] {
            let whole = model.run_ids(&ids, mask).unwrap();
            let at_once = model.run_pooled_ids(&ids, mask, 3).unwrap();
            let layer_size = at_once.report.attention().as_flat().len() / model.info().layers;
            // Two layers at a time here (a pause between them), all at once above.
            let mut run = model.start_pooled_ids(&ids, mask, 3).unwrap();
            let pooled = loop {
                if let Some(done) = model.go_on(&mut run, 2).unwrap() {
                    break done;
                }
                let done = run.layers_done();
                assert!(done.is_multiple_of(2) && done < model.info().layers, "{family}: paused after {done}");
                // The layers attended so far, as the page's grid shows them while the run goes on.
                assert_eq!(run.pooled_layer(done), None, "{family}: layer {done} is not attended yet");
                for layer in 0..done {
                    let so_far = run.pooled_layer(layer).unwrap();
                    assert_eq!(
                        so_far,
                        &at_once.report.attention().as_flat()[layer * layer_size..][..layer_size],
                        "{family} {key}: layer {layer} while the run goes on"
                    );
                    // Its heads' whole maps can be asked for already, and are the finished run's.
                    for head in 0..model.info().heads {
                        assert_eq!(
                            run.head_map(layer, head).unwrap(),
                            at_once.head_map(layer, head).unwrap(),
                            "{family} {key}: layer {layer} head {head} while the run goes on"
                        );
                    }
                }
                assert!(run.head_map(done, 0).is_err(), "{family}: layer {done}'s map before it attends");
            };
            assert_eq!(at_once.report.attention().as_flat(), pooled.report.attention().as_flat(), "{family} {key}: paused or not, the same maps");
            assert_eq!(at_once.report.next_tokens, pooled.report.next_tokens);
            let theirs = reference[key].flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_same_bits(pooled.report.attention().as_flat(), whole.attention().pooled(3).as_flat(), &format!("{family} {key}: pooled maps"));
            let (layers, heads, t) = (whole.attention().layers(), whole.attention().heads(), ids.len());
            for layer in 0..layers {
                for head in 0..heads {
                    let asked = pooled.head_map(layer, head).unwrap();
                    let what = format!("{family} {key} layer {layer} head {head}");
                    assert_same_bits(&asked, whole.attention().head(layer, head), &format!("{what}: against the whole run"));
                    let start = (layer * heads + head) * t * t;
                    assert!(max_abs_diff(&asked, &theirs[start..start + t * t]).0 <= 1e-4, "{what}: against transformers");
                }
            }
        }
    }
}

/// An encoder's pooled run, paused after every layer, holds its whole run's maps.
#[test]
fn an_encoders_pooled_run_goes_a_layer_at_a_time_and_holds_the_whole_runs_maps() {
    let model = shared_model("all-minilm-l6-v2");
    let text = long_prompt();
    let whole = model.run_text(&text, Mask::None, Some(512)).unwrap();
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let told_in = told.clone();
    let pooled = model.run_pooled_telling(&text, Mask::None, 16, Some(512), move |done, layers| told_in.lock().unwrap().push((done, layers))).unwrap();
    assert_eq!(*told.lock().unwrap(), (1..=6).map(|l| (l, 6)).collect::<Vec<_>>());
    assert_same_bits(pooled.report.attention().as_flat(), whole.attention().pooled(16).as_flat(), "pooled maps");
    assert_same_bits(&pooled.head_map(5, 11).unwrap(), whole.attention().head(5, 11), "layer 5 head 11");
}

/// A text longer than a stretch of query rows: the pooled run attends it a stretch at a
/// time (blocks of 24: stretches of 240 rows), tells each layer as it goes, and still holds
/// the whole run's maps pooled and gives any head's whole map again.
#[test]
fn a_text_longer_than_a_stretch_attends_a_stretch_at_a_time_and_loses_nothing() {
    let model = shared_model("smollm2-135m");
    let text = vec![long_prompt(); 4].join(" ");
    let whole = model.run_text(&text, Mask::Causal, Some(1024)).unwrap();
    let t = whole.tokens().len();
    assert!(t > 2 * engine::attention::QUERY_ROWS, "{t} tokens: more than two stretches");
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let told_in = told.clone();
    let pooled = model.run_pooled_telling(&text, Mask::Causal, 24, Some(1024), move |done, layers| told_in.lock().unwrap().push((done, layers))).unwrap();
    assert_eq!(*told.lock().unwrap(), (1..=30).map(|l| (l, 30)).collect::<Vec<_>>(), "every layer told, in order");
    assert_same_bits(pooled.report.attention().as_flat(), whole.attention().pooled(24).as_flat(), "pooled maps");
    // Each stretch attends only the keys it can see (none after its last query), and its
    // scores still add up to the whole maps'.
    for (a, b) in score_report(&pooled.report, Exclusions::default()).iter().zip(&score_report(&whole, Exclusions::default())) {
        for name in HeadScores::NAMES {
            let (x, y) = (a.get(name).unwrap(), b.get(name).unwrap());
            assert!((x - y).abs() <= 1e-5, "layer {} head {} {name}: {x} against {y}", a.layer, a.head);
        }
    }
    for (layer, head) in [(0, 0), (17, 4), (29, 8)] {
        // Stretches of 240 rows seeing 240, 480 and every key, against one product over every
        // key: gemm would cut the keys differently (past 512) and round them apart.
        assert_same_bits(&pooled.head_map(layer, head).unwrap(), whole.attention().head(layer, head), &format!("layer {layer} head {head}"));
    }
    assert_eq!(pooled.report.next_tokens, whole.next_tokens);
}

/// The induction probe run pooled (as the page runs a probe of 500 or 1,000 tokens a copy)
/// scores every head as the whole probe does, from sums kept as its layers attend.
#[test]
fn a_pooled_probe_scores_every_head_as_the_whole_probe() {
    let model = attnscope_tests::shared_model("smollm2-135m");
    let spec = engine::analysis::probe::ProbeSpec::default();
    let (whole, first) = model.induction_probe(&spec, |_, _| {}).unwrap();
    let mut told = Vec::new();
    let (pooled, first_pooled) = model.induction_probe_pooled(&spec, 4, |done, total| told.push((done, total))).unwrap();
    let layers = model.info().layers;
    assert_eq!(told.len(), spec.seeds.len() * layers, "a step a layer");
    assert_eq!(told.last(), Some(&(spec.seeds.len() * layers, spec.seeds.len() * layers)));
    assert_eq!(whole.len(), pooled.len());
    for (w, p) in whole.iter().zip(&pooled) {
        assert_eq!((w.layer, w.head), (p.layer, p.head));
        // The same weights (one stretch: a probe of 101 tokens), summed in the same order in
        // float64 either way: the same scores.
        assert_eq!(w.induction.to_bits(), p.induction.to_bits(), "L{}H{} induction: {} pooled against {} whole", w.layer, w.head, p.induction, w.induction);
        assert_eq!(
            w.previous_token.to_bits(),
            p.previous_token.to_bits(),
            "L{}H{} previous token: {} pooled against {}",
            w.layer,
            w.head,
            p.previous_token,
            w.previous_token
        );
    }
    // The strongest heads really are induction heads: the probe is not scoring noise.
    let best = whole.iter().map(|s| s.induction).fold(0.0f32, f32::max);
    assert!(best > 0.5, "the strongest induction score {best}");
    assert_same_bits(first_pooled.report.attention().as_flat(), first.attention().pooled(4).as_flat(), "the first run's pooled maps");
}
