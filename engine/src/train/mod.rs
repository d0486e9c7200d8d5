//! Training small attention models in the engine, with candle's autograd: the same code
//! natively (`attnscope train`) and in the page's worker. Seeded by the project's own
//! generator (candle's `VarMap` draws from the operating system), so a seed gives the same
//! model.

pub mod dates;
pub mod dates_training;
#[cfg(test)]
mod gradients;
pub mod seeded;

use candle_core::{DType, Device, Tensor, Var};

use crate::error::Result;
use crate::rnn::seq2seq::{Init, Seq2Seq, Seq2SeqConfig};
use seeded::Seeded;

/// A fresh model of `config` with `sizes` (source, target) symbols, every parameter drawn
/// from `seed` in the order the model is built: the model and its variables by name.
pub fn seeded_model(config: Seq2SeqConfig, sizes: (usize, usize), seed: u64, dtype: DType) -> Result<(Seq2Seq, Vec<(String, Var)>)> {
    let mut rng = Seeded::new(seed);
    let mut vars = Vec::new();
    let model = Seq2Seq::build(config, sizes, &mut |name: &str, dims: &[usize], init: Init| {
        let count = dims.iter().product();
        let values: Vec<f64> = match init {
            Init::Uniform { fan } => {
                let bound = 1.0 / (fan.max(1) as f64).sqrt();
                (0..count).map(|_| rng.uniform(-bound, bound)).collect()
            }
            Init::Normal => (0..count).map(|_| rng.normal()).collect(),
        };
        let var = Var::from_tensor(&Tensor::from_vec(values, dims, &Device::Cpu)?.to_dtype(dtype)?)?;
        let tensor = var.as_tensor().clone(); // shares the variable's storage: updates show
        vars.push((name.to_string(), var));
        Ok(tensor)
    })?;
    Ok((model, vars))
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
