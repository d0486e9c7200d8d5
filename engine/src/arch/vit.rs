//! The Vision Transformer family: ViT, DeiT and DINOv2 (Hugging Face's `ViTModel`,
//! `DeiTModel`, `Dinov2Model`), one network with switches read from the weights and the config:
//! - patches: the picture [3, H, W] cut into p × p patches, each projected (a convolution
//!   with stride p, done as one product); a class token in front (DeiT's distillation token
//!   after it); learned positions, the patch table interpolated bicubically from its trained
//!   grid to the picture's when they differ (DINOv2 is trained at 518 pixels and read at 224);
//! - pre-norm layers: x += λ₁ · attn(LN₁ x); x += λ₂ · fc₂ GELU(fc₁ LN₂ x), with DINOv2's
//!   LayerScale λ (ViT and DeiT have none: λ = 1);
//! - attention scaled by 1/√d_head; layer norms with the config's ε (DINOv2 1e-6, ViT and DeiT
//!   1e-12); GELU is erf's.
//!
//! The weights come under DINOv2's on-disk names (`load::vit` renames ViT's and DeiT's:
//! `layernorm_before` is `norm1`, `intermediate.dense` is `mlp.fc1`, …).

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;

use super::family::{Builder, Family};
use super::nn::{gelu_erf, layer_norm, merge_heads, split_heads, LayerNorm, Linear};
use crate::error::{EngineError, Result};
use crate::forward::{Attending, Layer, Pass, Span};
use crate::report::{Mask, ModelKind, Scoring};

/// A family of vision transformers, read by [`crate::load::vit`].
const fn vision_family(name: &'static str, model_types: &'static [&'static str]) -> Family {
    Family { name, model_types, gguf: None, kind: ModelKind::Vision, builder: Builder::Own }
}

pub const DINOV2: Family = vision_family("dinov2", &["dinov2"]);
pub const VIT: Family = vision_family("vit", &["vit"]);
pub const DEIT: Family = vision_family("deit", &["deit"]);

/// What the weights do not say: the heads, the layer norms' ε.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VitSettings {
    pub heads: usize,
    pub layer_norm_eps: f64,
}

/// The sizes, read from the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VitSizes {
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
    pub patch: usize,
    /// The side of the trained position grid (37 for DINOv2's 518-pixel training).
    pub grid: usize,
    /// The tokens before the patches: the class token, and DeiT's distillation token.
    pub leading: usize,
}

/// A pre-norm layer: x += λ₁ · attn(LN₁ x); x += λ₂ · fc₂ GELU(fc₁ LN₂ x).
struct Block {
    norm1: LayerNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    /// LayerScale's λ₁ [width] (DINOv2), none for ViT and DeiT.
    scale1: Option<Tensor>,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    scale2: Option<Tensor>, // [width]
    heads: usize,
}

impl Layer for Block {
    fn attention(&self, x: &Tensor, at: &mut Attending) -> candle_core::Result<Tensor> {
        let h = self.norm1.forward(x)?;
        let heads = |linear: &Linear| split_heads(&linear.forward(&h)?, self.heads); // [heads, tokens, d]
        let (q, k, v) = (heads(&self.query)?, heads(&self.key)?, heads(&self.value)?);
        let out = at.attend(&q, &k, &v, None, Scoring::standard(q.dim(2)?), || self.output.weight())?;
        x + scaled(self.output.forward(&merge_heads(&out)?)?, self.scale1.as_ref())?
    }

    fn feed_forward(&self, _input: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
        let inner = gelu_erf(&self.fc1.forward(&self.norm2.forward(x)?)?)?;
        x + scaled(self.fc2.forward(&inner)?, self.scale2.as_ref())?
    }
}

pub struct VisionTransformer {
    pub sizes: VitSizes,
    /// The patch projection as a matrix [3 · p · p, width] and its bias [width].
    patch_weight: Tensor,
    patch_bias: Tensor,
    /// The class token, and DeiT's distillation token: [leading, width].
    leading_tokens: Tensor,
    positions: Tensor, // [leading + grid², width]
    blocks: Vec<Block>,
    device: Device,
}

impl VisionTransformer {
    /// From the weights under DINOv2's on-disk names, with what they do not say.
    pub fn load(weights: HashMap<String, Tensor>, settings: VitSettings, device: &Device) -> Result<Self> {
        let VitSettings { heads, layer_norm_eps } = settings;
        let bad = |message: String| EngineError::BadModelFile(message);
        let dims = |name: &str| weights.get(name).map(|t| t.dims().to_vec()).ok_or_else(|| bad(format!("the weights lack `{name}`")));
        let patch_dims = dims("embeddings.patch_embeddings.projection.weight")?; // [width, 3, p, p]
        let position_dims = dims("embeddings.position_embeddings")?; // [1, leading + grid², width]
        let leading = 1 + usize::from(weights.contains_key("embeddings.distillation_token"));
        let [width, 3, patch, patch2] = patch_dims[..] else {
            return Err(bad(format!("the patch projection is {patch_dims:?}, not [width, 3, p, p]")));
        };
        let positions = position_dims.get(1).copied().unwrap_or(0);
        let grid = (positions.saturating_sub(leading) as f64).sqrt().round() as usize;
        if patch != patch2 || heads == 0 || width % heads != 0 || grid * grid + leading != positions {
            return Err(bad(format!("these weights do not make a Vision Transformer of {heads} heads (patch {patch_dims:?}, positions {position_dims:?})")));
        }
        let layers = (0..).take_while(|i| weights.contains_key(&format!("encoder.layer.{i}.norm1.weight"))).count();
        let hidden = dims("encoder.layer.0.mlp.fc1.bias")?.first().copied().unwrap_or(0);
        let sizes = VitSizes { width, heads, layers, patch, grid, leading };
        let vb = VarBuilder::from_tensors(weights, DType::F32, device);
        let misfit = |e: candle_core::Error| bad(format!("the weights do not fit a Vision Transformer: {}", crate::error::first_line(&e)));
        let eps = layer_norm_eps;
        let layer = |i: usize| -> candle_core::Result<Block> {
            let vb = vb.pp(format!("encoder.layer.{i}"));
            let attention = vb.pp("attention");
            Ok(Block {
                heads,
                norm1: layer_norm(vb.pp("norm1"), width, eps)?,
                query: Linear::load(attention.pp("attention.query"), width, width)?,
                key: Linear::load(attention.pp("attention.key"), width, width)?,
                value: Linear::load(attention.pp("attention.value"), width, width)?,
                output: Linear::load(attention.pp("output.dense"), width, width)?,
                scale1: vb.contains_tensor("layer_scale1.lambda1").then(|| vb.get(width, "layer_scale1.lambda1")).transpose()?,
                norm2: layer_norm(vb.pp("norm2"), width, eps)?,
                fc1: Linear::load(vb.pp("mlp.fc1"), width, hidden)?,
                fc2: Linear::load(vb.pp("mlp.fc2"), hidden, width)?,
                scale2: vb.contains_tensor("layer_scale2.lambda1").then(|| vb.get(width, "layer_scale2.lambda1")).transpose()?,
            })
        };
        let blocks = (0..layers).map(layer).collect::<candle_core::Result<Vec<_>>>().map_err(misfit)?;
        let patch_weight = vb.get((width, 3, patch, patch), "embeddings.patch_embeddings.projection.weight").map_err(misfit)?;
        let mut leading_tokens = vec![vb.get((1, 1, width), "embeddings.cls_token").map_err(misfit)?.reshape((1, width))?];
        if leading == 2 {
            leading_tokens.push(vb.get((1, 1, width), "embeddings.distillation_token").map_err(misfit)?.reshape((1, width))?);
        }
        Ok(Self {
            patch_weight: patch_weight.reshape((width, 3 * patch * patch))?.t()?.contiguous()?,
            patch_bias: vb.get(width, "embeddings.patch_embeddings.projection.bias").map_err(misfit)?,
            leading_tokens: Tensor::cat(&leading_tokens, 0)?,
            positions: vb.get((1, leading + grid * grid, width), "embeddings.position_embeddings").map_err(misfit)?.squeeze(0)?,
            blocks,
            sizes,
            device: device.clone(),
        })
    }

    /// The patches of `pixels` [3, H, W] (H and W multiples of the patch), each flattened
    /// channel by channel, row by row as the convolution's weight is: [patches, 3 · p · p].
    fn patches(&self, pixels: &[f32], height: usize, width: usize) -> Result<Tensor> {
        let p = self.sizes.patch;
        let (rows, columns) = (height / p, width / p);
        let mut out = Vec::with_capacity(rows * columns * 3 * p * p);
        for r in 0..rows {
            for c in 0..columns {
                for channel in 0..3 {
                    for y in 0..p {
                        let at = (channel * height + r * p + y) * width + c * p;
                        out.extend_from_slice(&pixels[at..at + p]);
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (rows * columns, 3 * p * p), &self.device)?)
    }

    /// Its positions on a `side` × `side` grid of patches (the picture it reads), as added:
    /// the leading rows and every patch's (not cut to `shown`: 257 for DINOv2 at 224 px).
    pub fn position_set(&self, side: usize) -> Result<crate::report::positions::PositionSet> {
        use crate::report::positions::{PositionKind, PositionSet, Table};
        let (width, leading) = (self.sizes.width, self.sizes.leading);
        let values: Vec<f32> = self.positions_for(side, side)?.flatten_all()?.to_vec1()?;
        let rows = leading + side * side;
        let table = Table::of(&values, width, rows);
        let kind = PositionKind::Grid { leading, rows: side, columns: side, trained: self.sizes.grid, width, table };
        Ok(PositionSet { name: "patches".into(), layers: Vec::new(), kind })
    }

    /// The position table for a grid of `rows` × `columns` patches: the trained table as it
    /// is when it fits, else its patch part resized bicubically (see [`bicubic`]).
    fn positions_for(&self, rows: usize, columns: usize) -> Result<Tensor> {
        let (grid, width, leading) = (self.sizes.grid, self.sizes.width, self.sizes.leading);
        if rows == grid && columns == grid {
            return Ok(self.positions.clone());
        }
        let table = self.positions.narrow(0, leading, grid * grid)?.t()?.contiguous()?.to_vec2::<f32>()?; // [width][grid²]
        let resized: Vec<f32> = table.iter().flat_map(|channel| bicubic(channel, grid, grid, rows, columns)).collect();
        let patches = Tensor::from_vec(resized, (width, rows * columns), &self.device)?.t()?;
        Ok(Tensor::cat(&[&self.positions.narrow(0, 0, leading)?, &patches], 0)?)
    }

    /// Runs a picture `pixels` [3, height, width] (normalised as the model was trained)
    /// through every layer in `pass` (whose observers keep what the run asks for): the
    /// tokens that ran, the leading ones and the patches. The final norm changes no attention
    /// and nothing reads the output after it, so it does not run.
    pub fn forward(&self, pixels: &[f32], height: usize, width: usize, pass: &mut Pass) -> Result<usize> {
        let p = self.sizes.patch;
        if !height.is_multiple_of(p) || !width.is_multiple_of(p) || height == 0 || width == 0 || pixels.len() != 3 * height * width {
            return Err(EngineError::BadModelFile(format!("a picture of {height} × {width} does not cut into {p}-pixel patches")));
        }
        let patches = self.patches(pixels, height, width)?.matmul(&self.patch_weight)?.broadcast_add(&self.patch_bias)?; // [n, width]
        let x = (Tensor::cat(&[&self.leading_tokens, &patches], 0)? + self.positions_for(height / p, width / p)?)?; // [leading + n, width]
        let tokens = x.dim(0)?;
        pass.through(&self.blocks, x, 0..self.blocks.len(), Span::whole(Mask::None, tokens), None, &self.device)?;
        Ok(tokens)
    }
}

/// A branch's output times LayerScale's λ, when the model has one.
fn scaled(branch: Tensor, scale: Option<&Tensor>) -> candle_core::Result<Tensor> {
    match scale {
        Some(scale) => branch.broadcast_mul(scale),
        None => Ok(branch),
    }
}

/// A `rows` × `columns` grid resized to `to_rows` × `to_columns` as torch's
/// `interpolate(mode="bicubic", align_corners=False)` does: source coordinate
/// (i + ½) · in/out − ½, Keys' cubic with a = −0.75, neighbours clamped at the borders.
pub fn bicubic(values: &[f32], rows: usize, columns: usize, to_rows: usize, to_columns: usize) -> Vec<f32> {
    const A: f64 = -0.75;
    let weights = |t: f64| -> [f64; 4] {
        let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
        let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
        [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
    };
    let taps = |i: usize, from: usize, to: usize| -> ([usize; 4], [f64; 4]) {
        let source = (i as f64 + 0.5) * from as f64 / to as f64 - 0.5;
        let floor = source.floor();
        let clamp = |k: f64| (k.max(0.0) as usize).min(from - 1);
        ([clamp(floor - 1.0), clamp(floor), clamp(floor + 1.0), clamp(floor + 2.0)], weights(source - floor))
    };
    let mut out = Vec::with_capacity(to_rows * to_columns);
    for r in 0..to_rows {
        let (ys, wy) = taps(r, rows, to_rows);
        for c in 0..to_columns {
            let (xs, wx) = taps(c, columns, to_columns);
            let mut sum = 0.0f64;
            for (y, wyy) in ys.iter().zip(wy) {
                let row: f64 = xs.iter().zip(wx).map(|(&x, wxx)| f64::from(values[y * columns + x]) * wxx).sum();
                sum += row * wyy;
            }
            out.push(sum as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bicubic_keeps_a_plane_and_the_same_size_is_the_same() {
        // A linear ramp stays a ramp (cubic convolution reproduces linear functions away
        // from the clamped borders), and 3 × 3 to 3 × 3 is the identity.
        let grid: Vec<f32> = (0..9).map(|i| i as f32).collect();
        assert_eq!(bicubic(&grid, 3, 3, 3, 3), grid);
        let ramp: Vec<f32> = (0..64).map(|i| (i % 8) as f32).collect();
        let half = bicubic(&ramp, 8, 8, 4, 4);
        // Output column 1 samples x = 2.5, away from the borders.
        assert!((half[1] - 2.5).abs() < 1e-6, "{half:?}");
    }
}
