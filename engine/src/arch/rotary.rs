//! Rotary position embeddings (RoPE) as each model applies them: which pairs of
//! dimensions rotate together, how many dimensions rotate, and at what frequencies
//! (Llama 3's rescaled ones, llama.cpp's stored frequency factors).

use candle_core::{Device, Tensor};

/// How a model rescales its rotary frequencies (`rope_scaling` / `rope_parameters`).
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// base^(-2i/d) as they are.
    None,
    /// Every frequency divided by the factor (positions stretched; Gemma 3's global layers).
    Linear(f32),
    /// Llama 3.1's: low frequencies divided by `factor`, high ones kept, a smooth blend between.
    Llama3 { factor: f32, low_freq_factor: f32, high_freq_factor: f32, original_max_positions: f32 },
    /// Each frequency divided by its own factor (llama.cpp's `rope_freqs.weight`, which is
    /// how a GGUF carries Llama 3's scaling).
    Divisors(Vec<f32>),
}

/// The rotary embedding of one model.
#[derive(Clone, Debug)]
pub struct Rotary {
    /// The base its frequencies were made from (before any rescaling).
    base: f32,
    /// One inverse frequency per rotated pair, [rotated / 2].
    inv_freq: Vec<f32>,
    /// Adjacent pairs (x0, x1), (x2, x3), … (llama.cpp's permuted Llama weights) instead of
    /// halves (x_i, x_{i + rotated/2}) as Hugging Face rotates.
    interleaved: bool,
    /// How many leading dimensions of a head rotate (all, but a part in GPT-NeoX and Phi).
    rotated: usize,
}

impl Rotary {
    /// What it turns, as a position set of `layers` (a head of `head_dim`, trained for
    /// `context` tokens).
    pub fn position_set(&self, name: &str, layers: Vec<usize>, head_dim: usize, context: usize) -> crate::report::positions::PositionSet {
        use crate::report::positions::{PositionKind, PositionSet};
        let kind =
            PositionKind::Rotary { base: self.base, head_dim, rotated: self.rotated, interleaved: self.interleaved, inv_freq: self.inv_freq.clone(), context };
        PositionSet { name: name.into(), layers, kind }
    }

    /// `rotated` dimensions (even) of each head rotate at base^(-2i/rotated), rescaled as `scaling` says.
    pub fn new(base: f32, rotated: usize, interleaved: bool, scaling: &RopeScaling) -> Self {
        // As Hugging Face computes them, in float32: 1 / base^(2i / d).
        let mut inv_freq: Vec<f32> = (0..rotated / 2).map(|i| 1.0 / base.powf((2 * i) as f32 / rotated as f32)).collect();
        match scaling {
            RopeScaling::None => {}
            &RopeScaling::Linear(factor) => {
                for f in inv_freq.iter_mut() {
                    *f /= factor;
                }
            }
            RopeScaling::Divisors(divisors) => {
                for (f, d) in inv_freq.iter_mut().zip(divisors) {
                    *f /= d;
                }
            }
            &RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_positions } => {
                // transformers' _compute_llama3_parameters, step for step in float32.
                let low_freq_wavelen = original_max_positions / low_freq_factor;
                let high_freq_wavelen = original_max_positions / high_freq_factor;
                for f in inv_freq.iter_mut() {
                    let wavelen = 2.0 * std::f32::consts::PI / *f;
                    if wavelen > low_freq_wavelen {
                        *f /= factor;
                    } else if wavelen >= high_freq_wavelen {
                        let smooth = (original_max_positions / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                        *f = (1.0 - smooth) * *f / factor + smooth * *f;
                    }
                }
            }
        }
        Self { base, inv_freq, interleaved, rotated }
    }

    /// cos and sin of the angles for positions `start..end`, each [end - start, rotated / 2].
    pub fn tables(&self, start: usize, end: usize, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let angles: Vec<f32> = (start..end).flat_map(|p| self.inv_freq.iter().map(move |f| p as f32 * f)).collect();
        let angles = Tensor::from_vec(angles, (end - start, half), device)?;
        Ok((angles.cos()?, angles.sin()?))
    }

    /// Rotates `x` [heads, t, d] by the tables of its positions (see [`Rotary::tables`]).
    pub fn apply(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
        let d = x.dim(2)?;
        let rotate = |part: &Tensor| -> candle_core::Result<Tensor> {
            // candle's kernels want [batch, heads, t, d].
            let part = part.unsqueeze(0)?.contiguous()?;
            let rotated = if self.interleaved { candle_nn::rotary_emb::rope_i(&part, cos, sin)? } else { candle_nn::rotary_emb::rope(&part, cos, sin)? };
            rotated.squeeze(0)
        };
        if self.rotated >= d {
            return rotate(x);
        }
        // Partial rotary: the first `rotated` dimensions turn, the rest pass as they are.
        let turned = rotate(&x.narrow(2, 0, self.rotated)?)?;
        Tensor::cat(&[&turned, &x.narrow(2, self.rotated, d - self.rotated)?], 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_scaling_keeps_high_divides_low_and_blends_between() {
        // d = 8 at base 10: wavelengths 2π·[1, 1.78, 3.16, 5.62] = [6.3, 11.2, 19.9, 35.3];
        // with an original context of 32, low 1 and high 4, the cut-offs are 8 and 32:
        // one kept, two blended, one divided.
        let plain = Rotary::new(10.0, 8, false, &RopeScaling::None).inv_freq;
        let scaled =
            Rotary::new(10.0, 8, false, &RopeScaling::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_positions: 32.0 })
                .inv_freq;
        let wavelen: Vec<f32> = plain.iter().map(|f| 2.0 * std::f32::consts::PI / f).collect();
        for i in 0..4 {
            let expected = if wavelen[i] < 8.0 {
                plain[i]
            } else if wavelen[i] > 32.0 {
                plain[i] / 8.0
            } else {
                let s = (32.0 / wavelen[i] - 1.0) / 3.0;
                (1.0 - s) * plain[i] / 8.0 + s * plain[i]
            };
            assert!((scaled[i] - expected).abs() <= 1e-7, "{i}: {} vs {expected}", scaled[i]);
        }
        assert_eq!(scaled[0], plain[0], "the highest frequency is kept");
        assert_eq!(scaled[3], plain[3] / 8.0, "the lowest is divided");
        assert!(scaled[1] < plain[1] && scaled[1] > plain[1] / 8.0, "a middle one is blended");
    }

    #[test]
    fn partial_rotary_leaves_the_rest_of_each_head_alone() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let rotary = Rotary::new(10_000.0, 4, false, &RopeScaling::None);
        let x = Tensor::arange(0f32, 2.0 * 3.0 * 6.0, &device)?.reshape((2, 3, 6))?; // [heads 2, t 3, d 6]
        let (cos, sin) = rotary.tables(0, 3, &device)?;
        let y = rotary.apply(&x, &cos, &sin)?;
        assert_eq!(y.narrow(2, 4, 2)?.to_vec3::<f32>()?, x.narrow(2, 4, 2)?.to_vec3::<f32>()?);
        // Position 0 does not turn at all.
        assert_eq!(y.narrow(1, 0, 1)?.to_vec3::<f32>()?, x.narrow(1, 0, 1)?.to_vec3::<f32>()?);
        // Position 1, pair (x0, x2) turns by 1 radian.
        let (a, b) = (x.to_vec3::<f32>()?[0][1][0], x.to_vec3::<f32>()?[0][1][2]);
        let turned = y.to_vec3::<f32>()?[0][1][0];
        assert!((turned - (a * 1f32.cos() - b * 1f32.sin())).abs() < 1e-4);
        Ok(())
    }
}
