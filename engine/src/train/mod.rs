//! Training small attention models in the engine, with candle's autograd: the same code
//! natively (`attnscope train`) and in the page's worker. Seeded by the project's own
//! generator (candle's `VarMap` draws from the operating system), so a seed gives the same
//! model.

pub mod babi;
pub mod character_embedding;
pub mod dates;
pub mod dates_training;
pub mod digits;
pub mod digits_training;
#[cfg(test)]
mod gradients;
pub mod memory_training;
pub mod omniglot;
pub mod seeded;
pub mod snail_training;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

use crate::error::{EngineError, Result};
use crate::rnn::seq2seq::{Getter, Init, Seq2Seq, Seq2SeqConfig};
use seeded::Seeded;

/// A model built by `build`, every parameter drawn from `seed` in the order `build` asks for
/// them: the model and its variables by name.
pub fn seeded_parameters<M>(seed: u64, dtype: DType, build: impl FnOnce(&mut Getter) -> Result<M>) -> Result<(M, Vec<(String, Var)>)> {
    let mut rng = Seeded::new(seed);
    let mut vars = Vec::new();
    let model = build(&mut |name: &str, dims: &[usize], init: Init| {
        let count = dims.iter().product();
        let values: Vec<f64> = match init {
            Init::Uniform { fan } => {
                let bound = 1.0 / (fan.max(1) as f64).sqrt();
                (0..count).map(|_| rng.uniform(-bound, bound)).collect()
            }
            Init::Normal { std } => (0..count).map(|_| std * rng.normal()).collect(),
        };
        let var = Var::from_tensor(&Tensor::from_vec(values, dims, &Device::Cpu)?.to_dtype(dtype)?)?;
        let tensor = var.as_tensor().clone(); // shares the variable's storage: updates show
        vars.push((name.to_string(), var));
        Ok(tensor)
    })?;
    Ok((model, vars))
}

/// A fresh dates model of `config` with `sizes` (source, target) symbols, from `seed`.
pub fn seeded_model(config: Seq2SeqConfig, sizes: (usize, usize), seed: u64, dtype: DType) -> Result<(Seq2Seq, Vec<(String, Var)>)> {
    seeded_parameters(seed, dtype, |get| Seq2Seq::build(config, sizes, get))
}

/// The square root of the sum of every gradient's squares (for clipping by the global norm,
/// which candle's optimisers do not do).
pub fn gradient_norm(grads: &candle_core::backprop::GradStore, vars: &[(String, Var)]) -> Result<f64> {
    let mut total = 0.0;
    for (_, var) in vars {
        if let Some(g) = grads.get(var) {
            total += g.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        }
    }
    Ok(total.sqrt())
}

/// A model's variables and Adam over them, the gradient's global norm clipped: what every
/// training here steps with.
pub struct Learner {
    pub vars: Vec<(String, Var)>,
    optimizer: AdamW,
    clip: f64,
}

impl Learner {
    pub fn new(vars: Vec<(String, Var)>, learning_rate: f64, clip: f64) -> Result<Self> {
        let adam = ParamsAdamW { lr: learning_rate, weight_decay: 0.0, ..ParamsAdamW::default() };
        let optimizer = AdamW::new(vars.iter().map(|(_, v)| v.clone()).collect(), adam)?;
        Ok(Self { vars, optimizer, clip })
    }

    /// One step down `loss`'s gradient, scaled to a global norm of at most the clip.
    pub fn step(&mut self, loss: &Tensor) -> Result<()> {
        let mut grads = loss.backward()?;
        let norm = gradient_norm(&grads, &self.vars)?;
        if norm > self.clip {
            let scale = self.clip / norm;
            for (_, var) in &self.vars {
                if let Some(g) = grads.remove(var) {
                    grads.insert(var, (g * scale)?);
                }
            }
        }
        Ok(self.optimizer.step(&grads)?)
    }

    /// The variables as model.safetensors (float32).
    pub fn safetensors(&self) -> Result<Vec<u8>> {
        safetensors_bytes(self.vars.iter().map(|(name, var)| (name.clone(), var.as_tensor().clone())))
    }
}

/// Tensors by name as model.safetensors (float32).
pub fn safetensors_bytes(tensors: impl IntoIterator<Item = (String, Tensor)>) -> Result<Vec<u8>> {
    let tensors: Vec<(String, Tensor)> = tensors.into_iter().map(|(name, t)| Ok((name, t.to_dtype(DType::F32)?))).collect::<Result<_>>()?;
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
        .map_err(|e| EngineError::BadModelFile(format!("cannot write model.safetensors: {e}")))
}

/// Asks the C library to keep memory it frees for the next allocation. A training allocates
/// and frees the same tensors every batch, many above glibc's 128 KiB threshold (a batch's
/// gates, [64, 40, 96] floats, are 983 KB): glibc hands each back to the system and takes it
/// again page by page, measured at 8% of a dates training's time in page faults (125 batches:
/// 5.6-6.1 s, 5.3 s kept). Process-wide, so the programs that train call it (`attnscope
/// train`, the benchmark); elsewhere it does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of the allocator's thresholds; called before the
    // training's allocations, and harmless at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Any training here, as the command line and the page's worker drive it: a batch at a
/// time, measured on its held-out examples, written as a model's files.
pub trait Learning {
    /// One batch: its loss before the step.
    fn step(&mut self) -> Result<f64>;
    /// Batches taken so far.
    fn steps(&self) -> usize;
    /// The score or the attention it learns with, as the page and the command line name it.
    fn name(&self) -> &'static str;
    /// On the held-out examples: the share written exactly, and the share read from the
    /// right place (dates: digits from their field; digits: steps on their digit).
    fn measure(&self) -> Result<(f64, f64)>;
    /// Whether the training is still preparing what the model learns on (a SNAIL's picture
    /// embedding): its measures are not yet the model's, and no aim stops it.
    fn is_preparing(&self) -> bool {
        false
    }
    /// The model's files by name (config.json, vocabulary.json where it has one,
    /// model.safetensors).
    fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>>;
}

impl Learning for dates_training::DatesTraining {
    fn step(&mut self) -> Result<f64> {
        dates_training::DatesTraining::step(self)
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn name(&self) -> &'static str {
        self.settings().score.name()
    }
    fn measure(&self) -> Result<(f64, f64)> {
        self.evaluate().map(|m| (m.exact, m.digits_in_field))
    }
    fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let files = dates_training::DatesTraining::files(self)?;
        Ok(vec![("config.json", files.config), ("vocabulary.json", files.vocabulary), ("model.safetensors", files.weights)])
    }
}

impl Learning for digits_training::DigitsTraining {
    fn step(&mut self) -> Result<f64> {
        digits_training::DigitsTraining::step(self)
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn name(&self) -> &'static str {
        self.settings().attention.name()
    }
    fn measure(&self) -> Result<(f64, f64)> {
        self.evaluate().map(|m| (m.exact, m.on_digit))
    }
    fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let (config, weights) = digits_training::DigitsTraining::files(self)?;
        Ok(vec![("config.json", config), ("model.safetensors", weights)])
    }
}

impl Learning for memory_training::MemoryTraining {
    fn step(&mut self) -> Result<f64> {
        memory_training::MemoryTraining::step(self)
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn name(&self) -> &'static str {
        self.settings().task.name()
    }
    fn measure(&self) -> Result<(f64, f64)> {
        self.evaluate().map(|m| (m.answered, m.facts_found))
    }
    fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        memory_training::MemoryTraining::files(self)
    }
}

impl Learning for snail_training::SnailTraining {
    fn step(&mut self) -> Result<f64> {
        snail_training::SnailTraining::step(self)
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn name(&self) -> &'static str {
        "snail"
    }
    fn measure(&self) -> Result<(f64, f64)> {
        snail_training::SnailTraining::measure(self)
    }
    fn is_preparing(&self) -> bool {
        self.is_pretraining()
    }
    fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        snail_training::SnailTraining::files(self)
    }
}

/// A value as pretty JSON bytes (a model's config.json, vocabulary.json).
pub fn json_bytes<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| EngineError::BadModelFile(format!("cannot write JSON: {e}")))
}
