//! Pictures in: RGB pixels made into what a Vision Transformer reads. The page decodes the
//! file with the browser, the command line natively; the engine gets 8-bit RGB.

pub mod letterbox;

/// ImageNet's per-channel mean and standard deviation, on values in [0, 1].
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
