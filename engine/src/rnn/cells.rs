//! The recurrent cells and the dense layers around them, as each framework defines them.

use super::weights::Weights;
use crate::error::Result;

/// x·K + b with Keras's kernel [in, out] (row-major).
pub struct Dense {
    kernel: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
}

impl Dense {
    /// `<name>.kernel` [inputs, outputs] and `<name>.bias` [outputs].
    pub fn load(weights: &Weights, name: &str, inputs: usize, outputs: usize) -> Result<Self> {
        Ok(Self { kernel: weights.get(&format!("{name}.kernel"), &[inputs, outputs])?, bias: weights.get(&format!("{name}.bias"), &[outputs])?, inputs })
    }

    /// `<name>` as x·W [inputs, outputs] (`<name>.bias` [outputs] where `with_bias`).
    pub fn times(weights: &Weights, name: &str, inputs: usize, outputs: usize, with_bias: bool) -> Result<Self> {
        let bias = if with_bias { weights.get(&format!("{name}.bias"), &[outputs])? } else { vec![0.0; outputs] };
        Ok(Self { kernel: weights.get(&format!("{name}.weight"), &[inputs, outputs])?, bias, inputs })
    }

    /// PyTorch's Linear: `<name>.weight` [outputs, inputs] and `<name>.bias` [outputs].
    pub fn linear(weights: &Weights, name: &str, inputs: usize, outputs: usize) -> Result<Self> {
        let rows = weights.get(&format!("{name}.weight"), &[outputs, inputs])?;
        Ok(Self { kernel: transposed(&rows, outputs, inputs), bias: weights.get(&format!("{name}.bias"), &[outputs])?, inputs })
    }

    /// x [inputs] → [outputs]
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        times_kernel(x, &self.kernel, &self.bias, self.inputs)
    }
}

/// x [inputs] · kernel [inputs, outputs] + bias [outputs], each output summed over the inputs
/// in order.
fn times_kernel(x: &[f32], kernel: &[f32], bias: &[f32], inputs: usize) -> Vec<f32> {
    let outputs = bias.len();
    let mut y = bias.to_vec();
    for (i, &xi) in x.iter().enumerate().take(inputs) {
        let row = &kernel[i * outputs..(i + 1) * outputs];
        for (yj, &k) in y.iter_mut().zip(row) {
            *yj += xi * k;
        }
    }
    y
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A GRU with the reset gate applied after the recurrent product (Keras's `reset_after`,
/// ONNX's `linear_before_reset`, PyTorch's only form), whichever order its framework stacks
/// the gates in:
///   z = σ(W_z x + b_z + U_z h + c_z),  r = σ(W_r x + b_r + U_r h + c_r)
///   ĥ = tanh(W_h x + b_h + r ⊙ (U_h h + c_h)),  h' = z ⊙ h + (1 − z) ⊙ ĥ
pub struct Gru {
    input: Vec<f32>,          // [3 units, inputs], a row per output
    recurrent: Vec<f32>,      // [3 units, units]
    input_bias: Vec<f32>,     // [3 units]
    recurrent_bias: Vec<f32>, // [3 units]
    /// Where z, r and h are among the three blocks of outputs.
    gates: [usize; 3],
    inputs: usize,
    units: usize,
}

/// [rows, columns] row-major → [columns, rows].
fn transposed(matrix: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    (0..columns).flat_map(|c| (0..rows).map(move |r| matrix[r * columns + c])).collect()
}

impl Gru {
    /// Keras's: `<name>.kernel` [inputs, 3 units], `<name>.recurrent_kernel` [units, 3 units],
    /// `<name>.bias` [2, 3 units] (input, recurrent); gates z, r, h.
    pub fn keras(weights: &Weights, name: &str, inputs: usize, units: usize) -> Result<Self> {
        let bias = weights.get(&format!("{name}.bias"), &[2, 3 * units])?;
        Ok(Self {
            input: transposed(&weights.get(&format!("{name}.kernel"), &[inputs, 3 * units])?, inputs, 3 * units),
            recurrent: transposed(&weights.get(&format!("{name}.recurrent_kernel"), &[units, 3 * units])?, units, 3 * units),
            input_bias: bias[..3 * units].to_vec(),
            recurrent_bias: bias[3 * units..].to_vec(),
            gates: [0, 1, 2],
            inputs,
            units,
        })
    }

    /// Direction `direction` of an ONNX GRU node's W [directions, 3 units, inputs],
    /// R [directions, 3 units, units] and B [directions, 6 units]; gates z, r, h.
    pub fn onnx(weights: &Weights, name: &str, direction: usize, inputs: usize, units: usize) -> Result<Self> {
        let w = weights.get(&format!("{name}.W"), &[2, 3 * units, inputs])?;
        let r = weights.get(&format!("{name}.R"), &[2, 3 * units, units])?;
        let b = weights.get(&format!("{name}.B"), &[2, 6 * units])?;
        let one = |all: &[f32], size: usize| all[direction * size..(direction + 1) * size].to_vec();
        let bias = one(&b, 6 * units);
        Ok(Self {
            input: one(&w, 3 * units * inputs),
            recurrent: one(&r, 3 * units * units),
            input_bias: bias[..3 * units].to_vec(),
            recurrent_bias: bias[3 * units..].to_vec(),
            gates: [0, 1, 2],
            inputs,
            units,
        })
    }

    /// PyTorch's layer `layer`: `<name>.weight_ih_l<layer>` [3 units, inputs],
    /// `weight_hh_l<layer>` [3 units, units], `bias_ih_l<layer>`, `bias_hh_l<layer>`; gates r, z, n.
    pub fn torch(weights: &Weights, name: &str, layer: usize, inputs: usize, units: usize) -> Result<Self> {
        let get = |what: &str, dims: &[usize]| weights.get(&format!("{name}.{what}_l{layer}"), dims);
        Ok(Self {
            input: get("weight_ih", &[3 * units, inputs])?,
            recurrent: get("weight_hh", &[3 * units, units])?,
            input_bias: get("bias_ih", &[3 * units])?,
            recurrent_bias: get("bias_hh", &[3 * units])?,
            gates: [1, 0, 2],
            inputs,
            units,
        })
    }

    pub fn units(&self) -> usize {
        self.units
    }

    /// One step: x [inputs], h [units] → h' [units].
    pub fn step(&self, x: &[f32], h: &[f32]) -> Vec<f32> {
        let u = self.units;
        let from_input = times_rows(x, &self.input, &self.input_bias, self.inputs); // [3u]
        let from_state = times_rows(h, &self.recurrent, &self.recurrent_bias, u); // [3u]
        let [z_at, r_at, h_at] = self.gates.map(|g| g * u);
        (0..u)
            .map(|j| {
                let z = sigmoid(from_input[z_at + j] + from_state[z_at + j]);
                let r = sigmoid(from_input[r_at + j] + from_state[r_at + j]);
                let candidate = (from_input[h_at + j] + r * from_state[h_at + j]).tanh();
                z * h[j] + (1.0 - z) * candidate
            })
            .collect()
    }

    /// Runs over `inputs` (each [inputs]) from zeros, backwards when `reverse`: the output at
    /// each step, in the inputs' order (as a bidirectional layer aligns its backward half).
    pub fn run(&self, inputs: &[Vec<f32>], reverse: bool) -> Vec<Vec<f32>> {
        let mut state = vec![0.0; self.units];
        let mut outputs = vec![Vec::new(); inputs.len()];
        let order: Vec<usize> = if reverse { (0..inputs.len()).rev().collect() } else { (0..inputs.len()).collect() };
        for t in order {
            state = self.step(&inputs[t], &state);
            outputs[t] = state.clone();
        }
        outputs
    }
}

/// W [outputs, inputs] (a row per output) · x [inputs] + b [outputs].
fn times_rows(x: &[f32], rows: &[f32], bias: &[f32], inputs: usize) -> Vec<f32> {
    bias.iter().enumerate().map(|(j, &b)| b + rows[j * inputs..(j + 1) * inputs].iter().zip(x).map(|(w, xi)| w * xi).sum::<f32>()).collect()
}

/// Keras's LSTM: gates i, f, c, o in that order along the kernels' outputs, one bias:
///   i = σ(x W_i + h U_i + b_i), f = σ(…), o = σ(…), c' = f ⊙ c + i ⊙ tanh(x W_c + h U_c + b_c),
///   h' = o ⊙ tanh(c')
pub struct KerasLstm {
    kernel: Vec<f32>,           // [inputs, 4 units]
    recurrent_kernel: Vec<f32>, // [units, 4 units]
    bias: Vec<f32>,             // [4 units]
    inputs: usize,
    units: usize,
}

/// An LSTM's state: its output h and its cell c.
#[derive(Clone, Debug)]
pub struct LstmState {
    pub h: Vec<f32>,
    pub c: Vec<f32>,
}

impl LstmState {
    pub fn zeros(units: usize) -> Self {
        Self { h: vec![0.0; units], c: vec![0.0; units] }
    }
}

impl KerasLstm {
    /// `<name>.kernel`, `<name>.recurrent_kernel` and `<name>.bias` [4 units].
    pub fn load(weights: &Weights, name: &str, inputs: usize, units: usize) -> Result<Self> {
        Ok(Self {
            kernel: weights.get(&format!("{name}.kernel"), &[inputs, 4 * units])?,
            recurrent_kernel: weights.get(&format!("{name}.recurrent_kernel"), &[units, 4 * units])?,
            bias: weights.get(&format!("{name}.bias"), &[4 * units])?,
            inputs,
            units,
        })
    }

    pub fn units(&self) -> usize {
        self.units
    }

    /// One step: x [inputs] and the state → the next state.
    pub fn step(&self, x: &[f32], state: &LstmState) -> LstmState {
        let u = self.units;
        let from_input = times_kernel(x, &self.kernel, &self.bias, self.inputs); // [4u]
        let from_state = times_kernel(&state.h, &self.recurrent_kernel, &vec![0.0; 4 * u], u); // [4u]
        let gate = |g: usize, j: usize| from_input[g * u + j] + from_state[g * u + j];
        let c: Vec<f32> = (0..u).map(|j| sigmoid(gate(1, j)) * state.c[j] + sigmoid(gate(0, j)) * gate(2, j).tanh()).collect();
        let h = (0..u).map(|j| sigmoid(gate(3, j)) * c[j].tanh()).collect();
        LstmState { h, c }
    }

    /// Runs over `inputs` from zeros, backwards when `reverse`, as Keras 2.3.1 masks: where
    /// `masked[t]`, the state is kept and the output is the previous one (zeros before any
    /// step). The outputs in the inputs' order, and the last state.
    pub fn run_masked(&self, inputs: &[Vec<f32>], masked: &[bool], reverse: bool) -> (Vec<Vec<f32>>, LstmState) {
        let mut state = LstmState::zeros(self.units);
        let mut outputs = vec![Vec::new(); inputs.len()];
        let order: Vec<usize> = if reverse { (0..inputs.len()).rev().collect() } else { (0..inputs.len()).collect() };
        for t in order {
            if !masked[t] {
                state = self.step(&inputs[t], &state);
            }
            outputs[t] = state.h.clone();
        }
        (outputs, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gru_step_is_its_formula_by_hand_in_either_gate_order() {
        // One input, one unit: W = [0.5, -1, 2] (z, r, h), U = [1, 0.5, -0.5], b = [0.1, 0, -0.2],
        // c = [0, 0.3, 0.4]; x = 2, h = 0.25.
        let keras = Gru {
            input: vec![0.5, -1.0, 2.0],
            recurrent: vec![1.0, 0.5, -0.5],
            input_bias: vec![0.1, 0.0, -0.2],
            recurrent_bias: vec![0.0, 0.3, 0.4],
            gates: [0, 1, 2],
            inputs: 1,
            units: 1,
        };
        // PyTorch's order (r, z, n) of the same weights.
        let torch = Gru {
            input: vec![-1.0, 0.5, 2.0],
            recurrent: vec![0.5, 1.0, -0.5],
            input_bias: vec![0.0, 0.1, -0.2],
            recurrent_bias: vec![0.3, 0.0, 0.4],
            gates: [1, 0, 2],
            inputs: 1,
            units: 1,
        };
        let (x, h) = (2.0f64, 0.25f64);
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        let z = s(x * 0.5 + 0.1 + h * 1.0 + 0.0);
        let r = s(-x + 0.0 + h * 0.5 + 0.3);
        let candidate = (x * 2.0 - 0.2 + r * (h * -0.5 + 0.4)).tanh();
        let expected = z * h + (1.0 - z) * candidate;
        for gru in [keras, torch] {
            let got = gru.step(&[2.0], &[0.25])[0] as f64;
            // float32 rounding of a few operations on values of order 1: well under 1e-6.
            assert!((got - expected).abs() < 1e-6, "{got} against {expected}");
        }
        assert_eq!(transposed(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn a_keras_lstm_step_is_its_formula_by_hand_and_a_masked_step_keeps_the_state() {
        // One input, one unit: W = [0.5, -1, 2, 0.25] (i, f, c, o), U = [1, 0.5, -0.5, 2],
        // b = [0.1, 1, -0.2, 0]; x = 2, h = 0.25, c = -0.5.
        let lstm =
            KerasLstm { kernel: vec![0.5, -1.0, 2.0, 0.25], recurrent_kernel: vec![1.0, 0.5, -0.5, 2.0], bias: vec![0.1, 1.0, -0.2, 0.0], inputs: 1, units: 1 };
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        let (x, h, c) = (2.0f64, 0.25f64, -0.5f64);
        let i = s(x * 0.5 + h * 1.0 + 0.1);
        let f = s(-x + h * 0.5 + 1.0);
        let cell = f * c + i * (x * 2.0 + h * -0.5 - 0.2).tanh();
        let out = s(x * 0.25 + h * 2.0) * cell.tanh();
        let got = lstm.step(&[2.0], &LstmState { h: vec![0.25], c: vec![-0.5] });
        assert!((got.c[0] as f64 - cell).abs() < 1e-6 && (got.h[0] as f64 - out).abs() < 1e-6, "{got:?} against h {out}, c {cell}");
        // Masked steps: forwards, the last letter's output repeats; backwards, zeros until a letter.
        let inputs = [vec![2.0], vec![0.0], vec![0.0]];
        let (forward, last) = lstm.run_masked(&inputs, &[false, true, true], false);
        assert_eq!((forward[1].clone(), forward[2].clone(), last.h.clone()), (forward[0].clone(), forward[0].clone(), forward[0].clone()));
        let (backward, _) = lstm.run_masked(&inputs, &[false, true, true], true);
        assert_eq!((backward[1][0], backward[2][0]), (0.0, 0.0));
        assert_eq!(backward[0], forward[0], "one letter, from zeros, either way");
    }
}
