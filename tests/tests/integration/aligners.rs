//! The RNN aligners' files as the engine will read them (issue 31): what scripts/convert_rnn.py
//! made of each wheel's Keras or ONNX files, read with candle, every weight where its
//! architecture says, and as many parameters as each framework counts.

use std::collections::HashMap;

use attnscope_tests::model_dir;
use candle_core::{Device, Tensor};
use serde_json::Value;

fn converted(name: &str) -> (HashMap<String, Tensor>, Value) {
    let dir = model_dir(name);
    let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let config = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    (tensors, config)
}

fn dims(tensors: &HashMap<String, Tensor>, name: &str) -> Vec<usize> {
    tensors.get(name).unwrap_or_else(|| panic!("no tensor {name}")).dims().to_vec()
}

fn parameters(tensors: &HashMap<String, Tensor>) -> usize {
    tensors.values().map(Tensor::elem_count).sum()
}

fn size(config: &Value, key: &str) -> usize {
    config[key].as_u64().unwrap_or_else(|| panic!("config has no {key}: {config}")) as usize
}

#[test]
fn khmer_translit_is_a_bigru_with_keras_additive_attention() {
    let (t, config) = converted("khmer-translit");
    // Keras's own count (model.count_params(), the 78.7k).
    assert_eq!(parameters(&t), 78_705);
    let (e, u, d) = (size(&config, "embedding"), size(&config, "encoder_units"), size(&config, "decoder_units"));
    for gru in ["encoder.forward", "encoder.backward"] {
        // Keras GRU with reset_after: kernels [in, 3 units] (z, r, h), two bias rows.
        assert_eq!(dims(&t, &format!("{gru}.kernel")), [e, 3 * u]);
        assert_eq!(dims(&t, &format!("{gru}.recurrent_kernel")), [u, 3 * u]);
        assert_eq!(dims(&t, &format!("{gru}.bias")), [2, 3 * u]);
    }
    // The keys come from both directions' outputs; the decoder's query is added to them unprojected.
    assert_eq!(dims(&t, "keys.kernel"), [2 * u, d]);
    assert_eq!(dims(&t, "attention.scale"), [d]);
    assert_eq!(dims(&t, "decoder.recurrent_kernel"), [d, 3 * d]);
    assert_eq!(dims(&t, "output.kernel")[0], 2 * d, "the output reads [state; context]");
    assert_eq!(size(&config, "source_slots"), 25);
}

#[test]
fn cmu_g2p_is_a_bilstm_with_luong_dot_attention() {
    let (t, config) = converted("cmu-g2p");
    assert_eq!(parameters(&t), 229_575);
    let (u, d) = (size(&config, "encoder_units"), size(&config, "decoder_units"));
    // The decoder starts from [h_fwd; h_bwd] and scores by a dot product: its state is as wide
    // as the encoder's two directions together.
    assert_eq!(d, 2 * u);
    for lstm in ["encoder.forward", "encoder.backward"] {
        assert_eq!(dims(&t, &format!("{lstm}.recurrent_kernel")), [u, 4 * u], "gates i, f, c, o");
    }
    assert_eq!(dims(&t, "decoder.kernel"), [dims(&t, "target_embedding")[1], 4 * d]);
    assert_eq!(dims(&t, "combine.kernel")[0], 2 * d, "tanh(W [context; state])");
    assert_eq!(size(&config, "source_slots"), 13);
}

#[test]
fn arabic_names_is_a_two_layer_bigru_with_luong_general_attention() {
    let (t, config) = converted("arabic-names");
    // The encoder's and the decoder's ONNX graphs share one embedding, counted once.
    assert_eq!(parameters(&t), 1_727_136);
    let (layers, u, d) = (size(&config, "encoder_layers"), size(&config, "encoder_units"), size(&config, "decoder_units"));
    assert_eq!((layers, size(&config, "decoder_layers")), (2, 2));
    // ONNX's GRU: W [directions, 3 units, in], R [directions, 3 units, units].
    assert_eq!(dims(&t, "encoder.0.W"), [2, 3 * u, dims(&t, "embedding")[1]]);
    assert_eq!(dims(&t, "encoder.1.W"), [2, 3 * u, 2 * u], "the second layer reads both directions");
    assert_eq!(dims(&t, "encoder.1.R"), [2, 3 * u, u]);
    // Luong general: the query h W_a against the memory, both as wide as the decoder.
    assert_eq!(dims(&t, "attention.weight"), [d, 2 * u]);
    assert_eq!(dims(&t, "combine.weight"), [2 * d, d]);
}
