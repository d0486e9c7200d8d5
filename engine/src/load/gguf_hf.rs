//! GGUF files of the families whose networks read Hugging Face's layout (GPT-2, GPT-NeoX,
//! BERT and what llama.cpp converts as BERT: RoBERTa, DistilBERT): their metadata becomes the
//! config.json Hugging Face would have, and their tensors go back to Hugging Face's names and
//! layouts, undoing what llama.cpp's converter did (`convert_hf_to_gguf.py`, its `conversion/`
//! gpt2.py, gptneox.py and bert.py):
//! - GPT-2's `Conv1D` weights were transposed to [out, in]: transposed back to [in, out];
//! - GPT-NeoX's fused q|k|v, per head in Hugging Face ([head, q|k|v, d]), was regrouped as all
//!   queries, then all keys, then all values: regrouped back;
//! - RoBERTa's position table lost its first pad + 1 rows, so position i is row i (a plain
//!   BERT here); DistilBERT has no token types (none here either).

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use candle_core::Tensor;
use serde_json::json;

use crate::arch::llama_config::number;
use crate::error::{EngineError, Result};

fn float(metadata: &HashMap<String, Value>, key: &str) -> Option<f64> {
    metadata.get(key).and_then(|v| v.to_f32().ok().map(f64::from).or_else(|| v.to_f64().ok()))
}

fn bad(what: String) -> EngineError {
    EngineError::BadModelFile(what)
}

/// config.json (as bytes) and the tensors by Hugging Face's names, from a GGUF of a family read whole ([`crate::arch::family::Builder::Whole`]).
pub fn to_hugging_face(
    architecture: &str,
    metadata: &HashMap<String, Value>,
    vocab: usize,
    tensors: HashMap<String, Tensor>,
) -> Result<(Vec<u8>, HashMap<String, Tensor>)> {
    let token_types = tensors.get("token_types.weight").map_or(Ok(0), |t| t.dim(0))?;
    let config = hf_config(architecture, metadata, vocab, token_types)?;
    let heads = number(metadata, &format!("{architecture}.attention.head_count"))?;
    let renamed: fn(&str) -> Option<String> = match architecture {
        "gpt2" => gpt2_name,
        "gptneox" => neox_name,
        _ => bert_name,
    };
    let mut out = HashMap::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let Some(hf) = renamed(&name) else { continue };
        let tensor = match architecture {
            // Conv1D: [in, out] in Hugging Face's file.
            "gpt2" if tensor.rank() == 2 && name.starts_with("blk.") => tensor.t()?.contiguous()?,
            "gptneox" if name.contains("attn_qkv") => per_head_qkv(&tensor, heads)?,
            _ => tensor,
        };
        out.insert(hf, tensor);
    }
    // A tied GPT-NeoX (llama.cpp writes no `output` then) reads its input table.
    if architecture == "gptneox" && !out.contains_key("embed_out.weight") {
        if let Some(table) = out.get("gpt_neox.embed_in.weight").cloned() {
            out.insert("embed_out.weight".into(), table);
        }
    }
    Ok((config, out))
}

/// The config.json Hugging Face would have for such a GGUF (`token_types`: the
/// rows of its token-type table, 0 for none), as bytes.
pub fn hf_config(architecture: &str, metadata: &HashMap<String, Value>, vocab: usize, token_types: usize) -> Result<Vec<u8>> {
    let key = |name: &str| format!("{architecture}.{name}");
    let layers = number(metadata, &key("block_count"))?;
    let width = number(metadata, &key("embedding_length"))?;
    let heads = number(metadata, &key("attention.head_count"))?;
    let feed_forward = number(metadata, &key("feed_forward_length"))?;
    let positions = number(metadata, &key("context_length"))?;
    let eps = float(metadata, &key("attention.layer_norm_epsilon")).unwrap_or(1e-5);
    if heads == 0 || width % heads != 0 {
        return Err(bad(format!("{heads} heads do not divide a width of {width}")));
    }
    let config = match architecture {
        "gpt2" => json!({"model_type": "gpt2", "vocab_size": vocab, "n_embd": width, "n_layer": layers, "n_head": heads,
                         "n_positions": positions, "n_inner": feed_forward, "layer_norm_epsilon": eps}),
        "gptneox" => {
            let head = width / heads;
            let rotary = number(metadata, &key("rope.dimension_count")).unwrap_or(head);
            let base = float(metadata, &key("rope.freq_base")).unwrap_or(10_000.0);
            let parallel = metadata.get(&key("use_parallel_residual")).and_then(|v| v.to_bool().ok()).unwrap_or(true);
            json!({"model_type": "gpt_neox", "vocab_size": vocab, "hidden_size": width, "intermediate_size": feed_forward,
                   "num_hidden_layers": layers, "num_attention_heads": heads, "max_position_embeddings": positions,
                   "layer_norm_eps": eps, "rotary_pct": rotary as f64 / head as f64, "rotary_emb_base": base,
                   "use_parallel_residual": parallel, "hidden_act": "gelu"})
        }
        _ => json!({"model_type": "bert", "vocab_size": vocab, "hidden_size": width, "num_hidden_layers": layers,
                    "num_attention_heads": heads, "intermediate_size": feed_forward, "max_position_embeddings": positions,
                    "type_vocab_size": token_types, "layer_norm_eps": eps, "hidden_act": "gelu"}),
    };
    serde_json::to_vec(&config).map_err(|e| bad(e.to_string()))
}

/// [q of every head; k …; v …] ([3·width] rows) → per head [q; k; v], as GPT-NeoX stores it.
fn per_head_qkv(tensor: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let rows = tensor.dim(0)?;
    let rest: Vec<usize> = tensor.dims()[1..].to_vec();
    let d = rows / (3 * heads);
    let mut grouped = vec![3, heads, d];
    grouped.extend(&rest);
    let mut shape = vec![rows];
    shape.extend(&rest);
    tensor.reshape(grouped)?.transpose(0, 1)?.contiguous()?.reshape(shape)
}

/// A GGUF name's Hugging Face name: whole-model tensors from `top`, a block's
/// (`blk.N.<stem>.<kind>`) as `<prefix>.N.<part>.<kind>` from `parts`.
fn renamed(name: &str, top: &[(&str, &str)], prefix: &str, parts: &[(&str, &str)]) -> Option<String> {
    if let Some((_, hf)) = top.iter().find(|(gguf, _)| *gguf == name) {
        return Some(hf.to_string());
    }
    let (index, rest) = name.strip_prefix("blk.")?.split_once('.')?;
    let index: usize = index.parse().ok()?;
    let (stem, kind) = rest.rsplit_once('.')?;
    let (_, part) = parts.iter().find(|(gguf, _)| *gguf == stem)?;
    Some(format!("{prefix}.{index}.{part}.{kind}"))
}

fn gpt2_name(name: &str) -> Option<String> {
    const TOP: [(&str, &str); 4] =
        [("token_embd.weight", "wte.weight"), ("position_embd.weight", "wpe.weight"), ("output_norm.weight", "ln_f.weight"), ("output_norm.bias", "ln_f.bias")];
    const PARTS: [(&str, &str); 6] = [
        ("attn_norm", "ln_1"),
        ("attn_qkv", "attn.c_attn"),
        ("attn_output", "attn.c_proj"),
        ("ffn_norm", "ln_2"),
        ("ffn_up", "mlp.c_fc"),
        ("ffn_down", "mlp.c_proj"),
    ];
    renamed(name, &TOP, "h", &PARTS)
}

fn neox_name(name: &str) -> Option<String> {
    const TOP: [(&str, &str); 4] = [
        ("token_embd.weight", "gpt_neox.embed_in.weight"),
        ("output.weight", "embed_out.weight"),
        ("output_norm.weight", "gpt_neox.final_layer_norm.weight"),
        ("output_norm.bias", "gpt_neox.final_layer_norm.bias"),
    ];
    const PARTS: [(&str, &str); 6] = [
        ("attn_norm", "input_layernorm"),
        ("attn_qkv", "attention.query_key_value"),
        ("attn_output", "attention.dense"),
        ("ffn_norm", "post_attention_layernorm"),
        ("ffn_up", "mlp.dense_h_to_4h"),
        ("ffn_down", "mlp.dense_4h_to_h"),
    ];
    renamed(name, &TOP, "gpt_neox.layers", &PARTS)
}

fn bert_name(name: &str) -> Option<String> {
    const TOP: [(&str, &str); 5] = [
        ("token_embd.weight", "embeddings.word_embeddings.weight"),
        ("position_embd.weight", "embeddings.position_embeddings.weight"),
        ("token_types.weight", "embeddings.token_type_embeddings.weight"),
        ("token_embd_norm.weight", "embeddings.LayerNorm.weight"),
        ("token_embd_norm.bias", "embeddings.LayerNorm.bias"),
    ];
    const PARTS: [(&str, &str); 8] = [
        ("attn_q", "attention.self.query"),
        ("attn_k", "attention.self.key"),
        ("attn_v", "attention.self.value"),
        ("attn_output", "attention.output.dense"),
        ("attn_output_norm", "attention.output.LayerNorm"),
        ("ffn_up", "intermediate.dense"),
        ("ffn_down", "output.dense"),
        ("layer_output_norm", "output.LayerNorm"),
    ];
    renamed(name, &TOP, "encoder.layer", &PARTS)
}
