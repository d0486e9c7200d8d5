//! The Llama family's settings, from a GGUF's metadata or a Hugging Face config.json,
//! and Hugging Face's weight names in llama.cpp's terms. Every switch the network has is
//! set here, so [`super::llama`] holds only the arithmetic.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde::Deserialize;

use super::family::{Builder, Family};
use super::rotary::RopeScaling;
use crate::error::{EngineError, Result};
use crate::report::{ModelInfo, ModelKind, Scoring};

/// A family the Llama network runs with its switches: its GGUF name is its name.
const fn llama_family(name: &'static str, model_types: &'static [&'static str]) -> Family {
    Family { name, model_types, gguf: Some(name), kind: ModelKind::Text, builder: Builder::Llama }
}

pub const LLAMA: Family = llama_family("llama", &["llama"]);
pub const MISTRAL: Family = llama_family("mistral", &["mistral"]);
pub const QWEN2: Family = llama_family("qwen2", &["qwen2"]);
pub const QWEN3: Family = llama_family("qwen3", &["qwen3"]);
pub const GEMMA: Family = llama_family("gemma", &["gemma"]);
pub const GEMMA2: Family = llama_family("gemma2", &["gemma2"]);
pub const GEMMA3: Family = llama_family("gemma3", &["gemma3", "gemma3_text"]);
pub const PHI3: Family = llama_family("phi3", &["phi3"]);

/// The most layers, heads or head size a file may claim: far above any real model, and
/// low enough that nothing sized by them is large before the weights have been checked.
const MOST: usize = 1 << 14;

/// Refuses a count a lying header made up, before anything is sized by it.
fn plausible(what: &str, value: usize) -> Result<usize> {
    if value > MOST {
        return Err(EngineError::BadModelFile(format!("{what} of {value} is not plausible (at most {MOST})")));
    }
    Ok(value)
}

/// The feed-forward's gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// SiLU (Llama, Mistral, Qwen).
    Silu,
    /// GELU, tanh-approximated (Gemma).
    GeluTanh,
}

/// The settings a network of the family needs.
#[derive(Clone, Debug)]
pub struct LlamaConfig {
    /// The family (`llama`, `qwen3`, `gemma3`, ...).
    pub family: String,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub hidden: usize,
    /// Each head's query, key and value size (hidden / heads unless the model says otherwise).
    pub head_dim: usize,
    /// How many leading dimensions of each head rotate (all but a part in Phi).
    pub rotary_dims: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub rope_base: f32,
    pub rope_scaling: RopeScaling,
    /// Gemma 3: the rotary base of its windowed (local) layers; `None`: `rope_base` everywhere.
    pub local_rope_base: Option<f32>,
    /// Adjacent pairs rotate (llama.cpp's permuted Llama weights); else halves.
    pub rope_interleaved: bool,
    pub rms_eps: f64,
    pub max_positions: usize,
    /// Gemma: the embeddings are multiplied by √hidden.
    pub embedding_scale: Option<f32>,
    pub activation: Activation,
    /// How q·k is scaled (Gemma's `query_pre_attn_scalar`) and capped (Gemma 2).
    pub scoring: Scoring,
    /// Gemma 2: the logits are capped as cap · tanh(logits / cap).
    pub final_softcap: Option<f32>,
    /// Each layer's sliding window under the model's own mask (empty: no layer has one).
    pub layer_windows: Vec<Option<usize>>,
}

impl LlamaConfig {
    fn is_gemma(family: &str) -> bool {
        family.starts_with("gemma")
    }

    /// Which layers slide: `sliding` says, layer by layer, whether one does.
    fn windows(layers: usize, window: Option<usize>, sliding: impl Fn(usize) -> bool) -> Vec<Option<usize>> {
        match window {
            Some(w) if w > 0 && (0..layers).any(&sliding) => (0..layers).map(|l| sliding(l).then_some(w)).collect(),
            _ => Vec::new(),
        }
    }

    /// Refuses sizes that cannot make a network (before any weight is read).
    pub fn check(&self) -> Result<()> {
        let (heads, kv_heads) = (self.heads, self.kv_heads);
        let rotary_odd = !self.rotary_dims.is_multiple_of(2) || self.rotary_dims > self.head_dim;
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || self.head_dim == 0 || !self.head_dim.is_multiple_of(2) || self.layers == 0 || rotary_odd {
            return Err(EngineError::BadModelFile(format!(
                "inconsistent sizes: {} layers, {heads} heads, {kv_heads} key/value heads, head size {}, hidden size {}",
                self.layers, self.head_dim, self.hidden
            )));
        }
        Ok(())
    }

    /// The facts a report gives about a model of this configuration.
    pub fn info(&self, name: &str) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            architecture: self.family.clone(),
            layers: self.layers,
            heads: self.heads,
            kv_heads: self.kv_heads,
            causal: true,
            max_positions: self.max_positions,
            vocab_size: self.vocab,
            layer_windows: self.layer_windows.clone(),
            ..ModelInfo::default()
        }
    }
}

// ---------------------------------------------------------------------------------------
// GGUF
// ---------------------------------------------------------------------------------------

fn setting<'a>(metadata: &'a HashMap<String, Value>, key: &str) -> Result<&'a Value> {
    metadata.get(key).ok_or_else(|| EngineError::MissingSetting { source_name: "GGUF metadata", key: key.into() })
}

/// A whole number from the metadata.
pub fn number(metadata: &HashMap<String, Value>, key: &str) -> Result<usize> {
    let value = setting(metadata, key)?;
    value
        .to_u32()
        .map(|v| v as usize)
        .or_else(|_| value.to_u64().map(|v| v as usize))
        .map_err(|_| EngineError::BadModelFile(format!("`{key}` is not a whole number")))
}

fn float(metadata: &HashMap<String, Value>, key: &str) -> Result<f32> {
    setting(metadata, key)?.to_f32().map_err(|_| EngineError::BadModelFile(format!("`{key}` is not a number")))
}

impl LlamaConfig {
    /// From a GGUF's metadata; `vocab` is the tokenizer's size.
    pub fn from_gguf(family: &str, metadata: &HashMap<String, Value>, vocab: usize) -> Result<Self> {
        let key = |k: &str| format!("{family}.{k}");
        let heads = plausible("a head count", number(metadata, &key("attention.head_count"))?)?;
        let hidden = number(metadata, &key("embedding_length"))?;
        let layers = plausible("a layer count", number(metadata, &key("block_count"))?)?;
        let head_dim = plausible("a head size", number(metadata, &key("attention.key_length")).unwrap_or(hidden.checked_div(heads).unwrap_or(0)))?;
        let gemma = Self::is_gemma(family);
        // llama.cpp's layer patterns: Gemma 2 slides on even layers, Gemma 3 on five of six.
        let window = number(metadata, &key("attention.sliding_window")).ok();
        let layer_windows = match family {
            "phi3" => Self::windows(layers, window, |_| true),
            "gemma2" => Self::windows(layers, window, |l| l % 2 == 0),
            "gemma3" => {
                let pattern = number(metadata, &key("attention.sliding_window_pattern")).unwrap_or(6).max(1);
                Self::windows(layers, window, |l| l % pattern < pattern - 1)
            }
            _ => Vec::new(),
        };
        let cfg = Self {
            family: family.into(),
            layers,
            heads,
            kv_heads: number(metadata, &key("attention.head_count_kv")).unwrap_or(heads),
            hidden,
            head_dim,
            rotary_dims: number(metadata, &key("rope.dimension_count")).unwrap_or(head_dim).min(head_dim),
            intermediate: number(metadata, &key("feed_forward_length"))?,
            vocab,
            rope_base: float(metadata, &key("rope.freq_base")).unwrap_or(10_000.0),
            // `rope_freqs.weight`, where a GGUF has it, replaces this (Llama 3).
            rope_scaling: match float(metadata, &key("rope.scaling.factor")) {
                Ok(factor) if factor > 0.0 && factor != 1.0 => RopeScaling::Linear(factor),
                _ => RopeScaling::None,
            },
            local_rope_base: (family == "gemma3").then(|| float(metadata, &key("rope.freq_base_swa")).unwrap_or(10_000.0)),
            // llama.cpp permutes a Llama's q and k rows for adjacent pairs; its other families turn halves.
            rope_interleaved: family == "llama" || family == "mistral",
            rms_eps: float(metadata, &key("attention.layer_norm_rms_epsilon"))? as f64,
            max_positions: number(metadata, &key("context_length"))?,
            embedding_scale: gemma.then(|| (hidden as f32).sqrt()),
            activation: if gemma { Activation::GeluTanh } else { Activation::Silu },
            scoring: Scoring { softcap: float(metadata, &key("attn_logit_softcapping")).ok(), ..Scoring::standard(head_dim) },
            final_softcap: float(metadata, &key("final_logit_softcapping")).ok(),
            layer_windows,
        };
        cfg.check()?;
        Ok(cfg)
    }
}

// ---------------------------------------------------------------------------------------
// Hugging Face
// ---------------------------------------------------------------------------------------

/// The part of a Hugging Face config.json the family needs. Rotary settings come either
/// the older way (`rope_theta` + `rope_scaling`, Gemma 3's `rope_local_base_freq`) or the
/// newer (`rope_parameters`, per layer type for Gemma 3).
#[derive(Deserialize)]
struct HfConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    #[serde(default = "default_rms_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_max_positions")]
    max_position_embeddings: usize,
    rope_theta: Option<f32>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
    rope_local_base_freq: Option<f32>,
    partial_rotary_factor: Option<f64>,
    query_pre_attn_scalar: Option<f64>,
    attn_logit_softcapping: Option<f32>,
    final_logit_softcapping: Option<f32>,
    sliding_window: Option<usize>,
    sliding_window_pattern: Option<usize>,
    use_sliding_window: Option<bool>,
    max_window_layers: Option<usize>,
    layer_types: Option<Vec<String>>,
}

fn default_rms_eps() -> f64 {
    1e-6
}
fn default_max_positions() -> usize {
    2048
}

/// A rotary setting's scaling, from its (older or newer) dictionary.
fn rope_scaling(rope: Option<&serde_json::Value>) -> Result<RopeScaling> {
    let field = |key: &str| rope.and_then(|r| r.get(key)).and_then(serde_json::Value::as_f64).map(|v| v as f32);
    let need = |key: &str| field(key).ok_or_else(|| EngineError::MissingSetting { source_name: "config.json", key: format!("rope_scaling.{key}") });
    let rope_type = rope.and_then(|r| r.get("rope_type").or_else(|| r.get("type"))).and_then(|t| t.as_str()).unwrap_or("default");
    Ok(match rope_type {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear(need("factor")?),
        "llama3" => RopeScaling::Llama3 {
            factor: need("factor")?,
            low_freq_factor: need("low_freq_factor")?,
            high_freq_factor: need("high_freq_factor")?,
            original_max_positions: need("original_max_position_embeddings")?,
        },
        other => {
            return Err(EngineError::BadModelFile(format!("config.json: the rotary scaling `{other}` is not supported (supported: default, linear, llama3)")))
        }
    })
}

impl LlamaConfig {
    /// From a Hugging Face config.json of the family.
    pub fn from_hf(config: &[u8]) -> Result<Self> {
        let hf: HfConfig = serde_json::from_slice(config).map_err(|e| EngineError::BadModelFile(format!("config.json: {e}")))?;
        let family = if hf.model_type == "gemma3_text" { "gemma3".to_string() } else { hf.model_type.clone() };
        let gemma = Self::is_gemma(&family);
        // Gemma 3's newer config has one rotary dictionary per layer type.
        let per_type = hf.rope_parameters.as_ref().filter(|r| r.get("full_attention").is_some());
        let (global, local) = match per_type {
            Some(r) => (r.get("full_attention"), r.get("sliding_attention")),
            None => (hf.rope_parameters.as_ref().or(hf.rope_scaling.as_ref()), None),
        };
        let theta = |r: Option<&serde_json::Value>| r.and_then(|r| r.get("rope_theta")).and_then(serde_json::Value::as_f64).map(|v| v as f32);
        let heads = plausible("a head count", hf.num_attention_heads)?;
        let head_dim = plausible("a head size", hf.head_dim.unwrap_or(hf.hidden_size.checked_div(heads).unwrap_or(0)))?;
        let layers = plausible("a layer count", hf.num_hidden_layers)?;
        let layer_windows = match (&hf.layer_types, family.as_str()) {
            (Some(types), _) => Self::windows(layers, hf.sliding_window, |l| types.get(l).is_some_and(|t| t == "sliding_attention")),
            (None, "mistral" | "phi3") => Self::windows(layers, hf.sliding_window, |_| true),
            (None, "gemma2") => Self::windows(layers, hf.sliding_window, |l| l % 2 == 0),
            (None, "gemma3") => {
                let pattern = hf.sliding_window_pattern.unwrap_or(6).max(1);
                Self::windows(layers, hf.sliding_window, |l| (l + 1) % pattern != 0)
            }
            (None, "qwen2" | "qwen3") if hf.use_sliding_window == Some(true) => {
                let from = hf.max_window_layers.unwrap_or(0);
                Self::windows(layers, hf.sliding_window, |l| l >= from)
            }
            _ => Vec::new(),
        };
        let scale = match hf.query_pre_attn_scalar {
            Some(s) if gemma && family != "gemma" => (1.0 / s.sqrt()) as f32,
            _ => Scoring::standard(head_dim).scale,
        };
        let partial = global.and_then(|r| r.get("partial_rotary_factor")).and_then(serde_json::Value::as_f64).or(hf.partial_rotary_factor);
        let cfg = Self {
            layers,
            heads,
            kv_heads: hf.num_key_value_heads.unwrap_or(heads),
            hidden: hf.hidden_size,
            head_dim,
            rotary_dims: partial.map_or(head_dim, |p| ((head_dim as f64 * p) as usize).min(head_dim)),
            intermediate: hf.intermediate_size,
            vocab: hf.vocab_size,
            rope_base: theta(global).or(hf.rope_theta).unwrap_or(if family == "gemma3" { 1_000_000.0 } else { 10_000.0 }),
            rope_scaling: rope_scaling(global)?,
            local_rope_base: (family == "gemma3").then(|| theta(local).or(hf.rope_local_base_freq).unwrap_or(10_000.0)),
            rope_interleaved: false,
            rms_eps: hf.rms_norm_eps,
            max_positions: hf.max_position_embeddings,
            embedding_scale: gemma.then(|| (hf.hidden_size as f32).sqrt()),
            activation: if gemma { Activation::GeluTanh } else { Activation::Silu },
            scoring: Scoring { scale, softcap: hf.attn_logit_softcapping },
            final_softcap: hf.final_logit_softcapping,
            layer_windows,
            family,
        };
        cfg.check()?;
        Ok(cfg)
    }
}

/// The GGUF name of a Hugging Face weight of `family` (`None`: not one the network uses).
/// Gemma 2 and 3 norm both sides of each sublayer ("sandwich" norms), which llama.cpp
/// names `post_attention_norm`, `ffn_norm` (before the feed-forward) and `post_ffw_norm`.
pub fn gguf_name(hf: &str, family: &str) -> Option<String> {
    let hf = hf.strip_prefix("model.").unwrap_or(hf);
    let fixed = match hf {
        "embed_tokens.weight" => Some("token_embd.weight"),
        "norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Some(name.into());
    }
    let sandwich = family == "gemma2" || family == "gemma3" || family == "gemma3_text";
    let rest = hf.strip_prefix("layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = part.rsplit_once('.')?;
    let ours = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" if sandwich => "post_attention_norm",
        "post_attention_layernorm" => "ffn_norm",
        "pre_feedforward_layernorm" => "ffn_norm",
        "post_feedforward_layernorm" => "post_ffw_norm",
        "self_attn.qkv_proj" => "attn_qkv",
        "mlp.gate_up_proj" => "ffn_up",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{ours}.{kind}"))
}

/// Whether a weight (by GGUF name) is an RMSNorm's, which Gemma's checkpoints store as
/// w with the norm multiplying by (1 + w); llama.cpp's conversion stores 1 + w.
pub fn is_norm(name: &str) -> bool {
    name.ends_with("norm.weight")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_names_become_llama_cpp_names() {
        let cases = [
            ("model.embed_tokens.weight", "llama", Some("token_embd.weight")),
            ("lm_head.weight", "llama", Some("output.weight")),
            ("model.norm.weight", "qwen3", Some("output_norm.weight")),
            ("model.layers.3.self_attn.q_proj.bias", "qwen2", Some("blk.3.attn_q.bias")),
            ("model.layers.0.self_attn.k_norm.weight", "qwen3", Some("blk.0.attn_k_norm.weight")),
            ("model.layers.12.post_attention_layernorm.weight", "llama", Some("blk.12.ffn_norm.weight")),
            ("model.layers.12.post_attention_layernorm.weight", "gemma3_text", Some("blk.12.post_attention_norm.weight")),
            ("model.layers.2.pre_feedforward_layernorm.weight", "gemma2", Some("blk.2.ffn_norm.weight")),
            ("model.layers.2.post_feedforward_layernorm.weight", "gemma2", Some("blk.2.post_ffw_norm.weight")),
            ("model.layers.1.mlp.down_proj.weight", "llama", Some("blk.1.ffn_down.weight")),
            ("model.layers.1.self_attn.rotary_emb.inv_freq", "llama", None),
            ("model.layers.x.mlp.up_proj.weight", "llama", None),
        ];
        for (hf, family, ours) in cases {
            assert_eq!(gguf_name(hf, family).as_deref(), ours, "{hf} ({family})");
        }
    }

    #[test]
    fn gemma_3s_pattern_slides_five_layers_of_six() {
        let windows = LlamaConfig::windows(12, Some(512), |l| (l + 1) % 6 != 0);
        let sliding: Vec<usize> = (0..12).filter(|&l| windows[l].is_some()).collect();
        assert_eq!(sliding, [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]);
        assert!(LlamaConfig::windows(4, None, |_| true).is_empty(), "no window, no sliding");
    }
}
