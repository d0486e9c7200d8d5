//! Every score's and the GRU's gradients, as candle's autograd computes them for the dates
//! models, against central finite differences of the loss, in float64.
//!
//! The bound: a central difference with step ε = 1e-6 is off by about ε² f''' ≈ 1e-12 plus the
//! loss's float64 rounding over ε, 1e-16 × |L| / ε ≈ 1e-10 for a loss of about 1; 1e-7
//! relative to the gradient (at least 1) is far above both and far below a wrong gradient.

use candle_core::{DType, Device, Tensor, Var};

use super::seeded::Seeded;
use super::seeded_model;
use crate::rnn::seq2seq::{padded, Score, Seq2SeqConfig, ARCHITECTURE};

fn tiny(score: Score) -> Seq2SeqConfig {
    Seq2SeqConfig {
        architecture: ARCHITECTURE.into(),
        task: "test".into(),
        score,
        source_slots: 8,
        target_limit: 4,
        embedding: 3,
        encoder_units: 2,
        decoder_units: 4,
        attention_units: 3,
        window: 2,
    }
}

/// The loss of a batch of two sources of different lengths (so padding is blocked and the
/// backward reading starts late) and targets of three steps.
fn loss(model: &crate::rnn::seq2seq::Seq2Seq) -> candle_core::Tensor {
    let (ids, lengths) = padded(&[vec![1, 4, 2, 5, 3], vec![5, 2, 1]], &Device::Cpu).unwrap();
    let previous = Tensor::new(&[[0u32, 2, 3], [0, 4, 1]], &Device::Cpu).unwrap();
    let targets = Tensor::new(&[[2u32, 3, 1], [4, 1, 1]], &Device::Cpu).unwrap();
    let (logits, _) = model.teacher_forced(&ids, &lengths, &previous).unwrap();
    candle_nn::loss::cross_entropy(&logits.flatten_to(1).unwrap(), &targets.flatten_all().unwrap()).unwrap()
}

fn value(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

/// Entry `k` of `var`'s gradient, `grad`, against the central difference of `loss` with step
/// 1e-6 (the variable put back after).
fn assert_entry_matches(what: &str, var: &Var, k: usize, grad: f64, loss: impl Fn() -> f64) {
    let original: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
    let nudged = |by: f64| {
        let mut values = original.clone();
        values[k] += by;
        var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap()).unwrap();
        loss()
    };
    let numeric = (nudged(1e-6) - nudged(-1e-6)) / 2e-6;
    var.set(&Tensor::from_vec(original, var.shape(), &Device::Cpu).unwrap()).unwrap();
    assert!((numeric - grad).abs() < 1e-7 * grad.abs().max(1.0), "{what}[{k}]: autograd {grad} against finite differences {numeric}");
}

#[test]
fn every_scores_gradients_match_finite_differences() {
    for score in Score::ALL {
        let (model, vars) = seeded_model(tiny(score), (6, 5), 11, DType::F64).unwrap();
        let grads = loss(&model).backward().unwrap();
        let mut rng = Seeded::new(3);
        let mut checked = 0;
        for (name, var) in &vars {
            let grad = grads.get(var).unwrap_or_else(|| panic!("{}: `{name}` gets no gradient", score.name()));
            let grad: Vec<f64> = grad.flatten_all().unwrap().to_vec1().unwrap();
            // Three entries of each parameter, chosen by the seed.
            for _ in 0..3 {
                let k = rng.below(grad.len());
                assert_entry_matches(&format!("{}: `{name}`", score.name()), var, k, grad[k], || value(&loss(&model)));
                checked += 1;
            }
        }
        assert!(checked >= 3 * 12, "{}: only {checked} entries checked", score.name());
    }
}

#[test]
fn a_gru_steps_gradient_matches_finite_differences() {
    // The cell alone: L = Σ r ⊙ GRU(x, h), through its inputs as well as its weights.
    let (model, vars) = seeded_model(tiny(Score::Dot), (6, 5), 5, DType::F64).unwrap();
    let gru = &model.decoder;
    let x = Var::from_tensor(&Tensor::new(&[[0.3f64, -0.7, 0.2, 0.9, -0.4, 0.1, 0.5]], &Device::Cpu).unwrap()).unwrap();
    let h = Var::from_tensor(&Tensor::new(&[[0.6f64, -0.2, 0.8, -0.5]], &Device::Cpu).unwrap()).unwrap();
    let r = Tensor::new(&[[1.0f64, -2.0, 0.5, 3.0]], &Device::Cpu).unwrap();
    let keep = Tensor::new(&[[1.0f64]], &Device::Cpu).unwrap();
    let loss = || value(&(gru.step(&gru.input_gates(x.as_tensor()).unwrap(), h.as_tensor(), &keep).unwrap() * &r).unwrap().sum_all().unwrap());
    let step = (gru.step(&gru.input_gates(x.as_tensor()).unwrap(), h.as_tensor(), &keep).unwrap() * &r).unwrap().sum_all().unwrap();
    let grads = step.backward().unwrap();
    let decoder: Vec<&Var> = vars.iter().filter(|(n, _)| n.starts_with("decoder.")).map(|(_, v)| v).collect();
    assert_eq!(decoder.len(), 4);
    for var in decoder.into_iter().chain([&x, &h]) {
        let grad: Vec<f64> = grads.get(var).expect("a gradient").flatten_all().unwrap().to_vec1().unwrap();
        for (k, &entry) in grad.iter().enumerate().take(8) {
            assert_entry_matches("the GRU", var, k, entry, loss);
        }
    }
}

mod readers {
    use candle_core::{DType, Device, Tensor};

    use super::super::digits_training::{hard_loss, teacher_forced, DigitsSettings, Looks};
    use super::super::seeded::Seeded;
    use super::super::seeded_parameters;
    use super::assert_entry_matches;
    use crate::rnn::glimpse::{Glimpse, Reader, ReaderConfig, ARCHITECTURE};

    fn tiny(attention: Glimpse) -> ReaderConfig {
        ReaderConfig {
            architecture: ARCHITECTURE.into(),
            task: "test".into(),
            attention,
            height: 2,
            width: 6,
            window: 2,
            stride: 2,
            steps: 3,
            embedding: 2,
            glimpse_units: 3,
            decoder_units: 4,
            attention_units: 3,
        }
    }

    /// Two pictures of 2 × 6 pixels and their three digits.
    fn batch(config: &ReaderConfig) -> (Tensor, Vec<[u8; 4]>) {
        let mut rng = Seeded::new(9);
        let pictures: Vec<Vec<f32>> = (0..2).map(|_| (0..12).map(|_| rng.unit() as f32).collect()).collect();
        let windows = config.windows(&pictures.iter().map(Vec::as_slice).collect::<Vec<_>>(), &Device::Cpu).unwrap();
        (windows, vec![[3, 1, 4, 0], [5, 9, 2, 0]])
    }

    /// The soft reader's loss, and the hard reader's for windows drawn by fixed uniforms and
    /// fixed advantages (as a step sees them: numbers), against finite differences (bound: see
    /// the top of this file).
    #[test]
    fn both_readers_gradients_match_finite_differences() {
        for attention in Glimpse::BOTH {
            let config = tiny(attention);
            let (windows, labels) = batch(&config);
            let labels: Vec<[u8; 4]> = labels;
            let (reader, vars) = seeded_parameters(13, DType::F64, |get| Reader::build(config.clone(), get)).unwrap();
            let uniforms = vec![vec![0.1, 0.8], vec![0.45, 0.3], vec![0.95, 0.6]];
            let advantages = vec![vec![0.7, -1.2, 0.4], vec![-0.3, 0.9, 1.5]];
            let settings = DigitsSettings::new(attention, 1);
            let loss = |reader: &Reader| -> Tensor {
                let labels: Vec<[u8; super::super::digits::STRIP_DIGITS]> = labels.clone();
                match attention {
                    Glimpse::Soft => (teacher_forced(reader, &windows, &labels, &Looks::Expected).unwrap().likelihood.mean_all().unwrap() * -1.0).unwrap(),
                    Glimpse::Hard => hard_loss(&teacher_forced(reader, &windows, &labels, &Looks::Drawn(&uniforms)).unwrap(), &advantages, &settings).unwrap(),
                }
            };
            let grads = loss(&reader).backward().unwrap();
            let mut rng = Seeded::new(4);
            for (name, var) in &vars {
                let grad: Vec<f64> =
                    grads.get(var).unwrap_or_else(|| panic!("{}: `{name}` gets no gradient", attention.name())).flatten_all().unwrap().to_vec1().unwrap();
                for _ in 0..3 {
                    let k = rng.below(grad.len());
                    assert_entry_matches(&format!("{}: `{name}`", attention.name()), var, k, grad[k], || loss(&reader).to_scalar::<f64>().unwrap());
                }
            }
        }
    }
}

mod memory_networks {
    use candle_core::{DType, Device, Tensor};

    use super::super::babi::{Task, WORDS};
    use super::super::seeded_parameters;
    use super::assert_entry_matches;
    use crate::rnn::memory::{MemoryConfig, MemoryNetwork, ARCHITECTURE};

    /// A memory network's loss on three stories (one longer than its memory of 5, one of a
    /// single sentence) with the softmax in and left out (the linear start), against finite
    /// differences (bound: see the top of this file). Each table's entries checked are the
    /// three of largest gradient (the words the stories use) and one more by the seed.
    #[test]
    fn a_memory_networks_gradients_match_finite_differences() {
        let config = MemoryConfig { architecture: ARCHITECTURE.into(), task: Task::TwoFacts, hops: 3, embedding: 4, memory: 5 };
        let words: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
        let (network, vars) = seeded_parameters(17, DType::F64, |get| MemoryNetwork::build("test", config, words.clone(), get)).unwrap();
        // Weights of 0.5 rather than the paper's starting 0.1, so the scores are far from
        // even and every gradient is large enough for the bound to test it.
        for (_, var) in &vars {
            var.set(&(var.as_tensor() * 5.0).unwrap()).unwrap();
        }
        let stories: Vec<(Vec<&str>, &str)> = vec![
            (
                vec![
                    "Mary moved to the bathroom.",
                    "John went to the hallway.",
                    "Mary picked up the football there.",
                    "Sandra journeyed to the office.",
                    "Daniel went back to the kitchen.",
                    "Mary travelled to the garden.",
                ],
                "Where is the football?",
            ),
            (vec!["Sandra went to the bedroom."], "Where is Sandra?"),
            (vec!["John grabbed the milk there.", "John put down the milk.", "John moved to the office."], "Where is the milk?"),
        ];
        let answers = Tensor::new(&[7u32, 6, 10], &Device::Cpu).unwrap();
        let batch = network.batch(&stories).unwrap();
        for softmax in [true, false] {
            let loss = || candle_nn::loss::cross_entropy(&network.forward(&batch, softmax).unwrap().logits, &answers).unwrap();
            let grads = loss().backward().unwrap();
            let mut rng = super::super::seeded::Seeded::new(6);
            for (name, var) in &vars {
                let grad: Vec<f64> = grads.get(var).unwrap_or_else(|| panic!("`{name}` gets no gradient")).flatten_all().unwrap().to_vec1().unwrap();
                let mut largest: Vec<usize> = (0..grad.len()).collect();
                largest.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
                assert!(grad[largest[0]].abs() > 1e-3, "`{name}`: gradient {} at most", grad[largest[0]]);
                for k in largest.into_iter().take(3).chain([rng.below(grad.len())]) {
                    let what = format!("softmax {softmax}: `{name}`");
                    assert_entry_matches(&what, var, k, grad[k], || loss().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap());
                }
            }
        }
    }
}

mod snail {
    use candle_core::{DType, Device, Tensor};

    use super::super::character_embedding::CharacterEmbedding;
    use super::super::seeded::Seeded;
    use super::super::seeded_parameters;
    use super::assert_entry_matches;
    use crate::rnn::snail::{Snail, SnailConfig, ARCHITECTURE};

    const FEATURES: usize = 6;

    /// A SNAIL's loss on three 3-way 1-shot episodes of random features (the picture
    /// embedding is frozen: its gradients are never taken), through both attention blocks and
    /// the TC block's gated, dilated convolutions, against finite differences (bound: see the
    /// top of this file). Three entries of each parameter, the largest and two by the seed.
    #[test]
    fn a_snails_gradients_match_finite_differences() {
        let config = SnailConfig {
            architecture: ARCHITECTURE.into(),
            hidden: 4,
            features: FEATURES,
            ways: 3,
            shots: 1,
            heads: 2,
            key: 3,
            values: vec![2, 3],
            filters: 2,
        };
        assert_eq!(config.dilations(), vec![1, 2], "T = 4: two dense blocks");
        let (picture, _) = seeded_parameters(1, DType::F64, |get| CharacterEmbedding::build(4, FEATURES, get)).unwrap();
        let (snail, vars) = seeded_parameters(19, DType::F64, |get| Snail::build("test", config.clone(), picture, get)).unwrap();
        let mut rng = Seeded::new(8);
        let features: Vec<f64> = (0..3 * 4 * FEATURES).map(|_| rng.normal()).collect();
        let features = Tensor::from_vec(features, (3, 4, FEATURES), &Device::Cpu).unwrap();
        let labels = vec![vec![Some(2), Some(0), Some(1), None], vec![Some(0), Some(1), Some(2), None], vec![Some(1), Some(2), Some(0), None]];
        let inputs = snail.inputs(&features, &labels).unwrap();
        let answers = Tensor::new(&[0u32, 2, 1], &Device::Cpu).unwrap();
        let loss = || candle_nn::loss::cross_entropy(&snail.forward(&inputs).unwrap().logits, &answers).unwrap();
        let grads = loss().backward().unwrap();
        assert_eq!(vars.len(), 2 * 3 * 2 + 2 * 3 + 2, "queries, keys and values of two blocks, two dense blocks' three, the output's two");
        for (name, var) in &vars {
            let grad: Vec<f64> = grads.get(var).unwrap_or_else(|| panic!("`{name}` gets no gradient")).flatten_all().unwrap().to_vec1().unwrap();
            let largest = (0..grad.len()).max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs())).unwrap_or(0);
            if name.ends_with("key.bias") {
                // A key's bias adds q·b to every score of a row, which the softmax takes away:
                // its gradient is zero, and finite differences must find it so.
                assert!(grad[largest].abs() < 1e-12, "`{name}`: gradient {}", grad[largest]);
            } else {
                assert!(grad[largest].abs() > 1e-4, "`{name}`: gradient {} at most", grad[largest]);
            }
            for k in [largest, rng.below(grad.len()), rng.below(grad.len())] {
                assert_entry_matches(&format!("`{name}`"), var, k, grad[k], || loss().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap());
            }
        }
    }
}
