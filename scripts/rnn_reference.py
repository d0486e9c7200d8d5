#!/usr/bin/env python3
"""The RNN aligners' reference runs (issue 31), made by each model's own framework, for the
engine's parity tests: tests/fixtures/rnn/<model>.json.

khmer-translit: Keras 3 (the version that saved it, 3.10.0; the torch backend of the venv
`tools.sh` makes, with `pip install keras==3.10.0`) loads the package's `.keras` file as it is,
and its own layers run the model's true greedy decode: the encoder as the package's
`build_inference_models` wires it, then the decoder GRU one step at a time from zeros, Keras's
`AdditiveAttention` (asked for its scores) over all 25 slots, the output Dense, the argmax fed
back, until the end symbol or the package's target length. The package itself decodes by a beam
of 3 and a dictionary; the engine shows what the network does, which is this.

cmu-g2p: Keras 2.3.1, which the model was trained and run with, installs nowhere here (it
needs TensorFlow 1 or 2.0), and Keras 3 masks padding otherwise; so a float64 NumPy forward with
2.3.1's masking makes the fixtures, after it gives Keras 3's own layers' weights on every word
with no padding (all 13 slots letters).

arabic-names: onnxruntime on the package's two graphs (its own normalisation and source ids),
the decoder's softmax added to the graph's outputs to read the weights.

Not run by the tests (they read the committed fixtures). Usage, from the project's root, in
the venv `tools.sh --bench` makes (torch, onnxruntime) with Keras and the romanizer's package:
    .cache/torch/bin/pip install keras==3.10.0
    .cache/torch/bin/pip install --no-deps arabic-name-romanizer==0.2.0
    KERAS_BACKEND=torch .cache/torch/bin/python scripts/rnn_reference.py
"""
import json
import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from convert_rnn import read_safetensors  # noqa: E402  (beside this script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "assets", "models")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "rnn")

# Place names and words of Cambodia, a one-letter word, one of exactly 25 letters and one
# longer (its first letters are cut, as `pad_sequences` cuts them), and letters the model
# never reads (removed before it sees the text).
KHMER_WORDS = ["siem reap", "phnom penh", "angkor", "kampuchea", "battambang", "sok sabay", "a",
               "aaaaabbbbbcccccdddddeeeee", "preahvihearkampongthomkratie", "Kep 2026!"]


def khmer_translit():
    folder = os.path.join(MODELS, "khmer-translit")
    model = keras.saving.load_model(os.path.join(folder, "model.keras"), compile=False)
    with open(os.path.join(folder, "vocabulary.json"), encoding="utf-8") as f:
        vocabulary = json.load(f)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    source_ids, target_ids = vocabulary["source"]["ids"], vocabulary["target"]["ids"]
    start, end = vocabulary["target"]["start"], vocabulary["target"]["end"]
    slots, limit = config["source_slots"], config["target_limit"]
    by_kind = {}
    for layer in model.layers:
        by_kind.setdefault(type(layer).__name__, []).append(layer)
    source_embedding, target_embedding = by_kind["Embedding"]
    encoder, decoder = by_kind["Bidirectional"][0], by_kind["GRU"][0]
    keys_dense, attention = by_kind["TimeDistributed"][0], by_kind["AdditiveAttention"][0]
    output = by_kind["Dense"][-1]
    cases = []
    for word in KHMER_WORDS:
        cleaned = re.sub(r"[^a-z]", "", word.strip().lower())
        ids = [source_ids[c] for c in cleaned]
        ids = ids[-slots:] + [0] * max(0, slots - len(ids))  # pad_sequences: cut "pre", pad "post"
        keys = keys_dense(encoder(source_embedding(np.array([ids]))))  # [1, 25, 64]
        state = np.zeros((1, decoder.units), dtype="float32")
        previous, written, weights = start, [], []
        for _ in range(limit):
            outputs, state = decoder(target_embedding(np.array([[previous]])), initial_state=state)
            context, scores = attention([outputs, keys], return_attention_scores=True)
            probabilities = output(keras.ops.concatenate([outputs, context], axis=-1))
            chosen = int(np.argmax(keras.ops.convert_to_numpy(probabilities)[0, -1]))
            written.append(chosen)
            weights.append([float(w) for w in keras.ops.convert_to_numpy(scores)[0, -1]])
            if chosen == end:
                break
            previous = chosen
        cases.append({"text": word, "source_ids": ids, "target_ids": written, "attention": weights})
        print(f"khmer-translit: {word!r} -> {len(written)} symbols")
    return {"model": "khmer-translit", "made_by": f"Keras {keras.__version__} ({keras.backend.backend()} backend)", "cases": cases}


# Words of CMUdict's kind, the KNIGHT among them; two of all 13 letters (where Keras 3
# and Keras 2.3.1 agree: no padding to mask), the rest shorter, and a one-letter word.
G2P_WORDS = ["KNIGHT", "PSYCHOLOGY", "OX", "ATTENTION", "PHONEME", "A", "QUEUE", "THROUGH",
             "INTERNATIONAL", "UNBELIEVABLES", "WEDNESDAY"]


def g2p_float64(t, ids, config, vocabulary):
    """cmu-g2p's forward in float64 NumPy, with Keras 2.3.1's masking (what the model was
    trained and run with): at a masked padding step an LSTM keeps its state and repeats its
    previous output, so past the word the forward encoder repeats its last letter's output and
    the backward one (which meets the padding first) writes zeros. The decoder starts from
    [h_fwd; h_bwd], [c_fwd; c_bwd], reads GO first, then each step's argmax, and ends on PAD;
    Luong's dot score over all 13 slots, no mask; tanh(Dense [context; state]), Dense."""
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))

    def lstm_step(prefix, x, h, c):
        z = x @ t[f"{prefix}.kernel"] + h @ t[f"{prefix}.recurrent_kernel"] + t[f"{prefix}.bias"]
        i, f, g, o = np.split(z, 4)  # gates i, f, c, o
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c

    def encode(prefix, order):
        units = t[f"{prefix}.recurrent_kernel"].shape[0]
        h, c, out = np.zeros(units), np.zeros(units), [None] * len(ids)
        for step in order:
            if ids[step] != vocabulary["source"]["padding"]:
                h, c = lstm_step(prefix, t["source_embedding"][ids[step]], h, c)
            out[step] = h  # masked: the previous output again (zeros before any letter)
        return np.array(out), h, c

    forward, hf, cf = encode("encoder.forward", range(len(ids)))
    backward, hb, cb = encode("encoder.backward", reversed(range(len(ids))))
    memory = np.concatenate([forward, backward], axis=1)  # [13, 128]
    h, c = np.concatenate([hf, hb]), np.concatenate([cf, cb])
    previous, written, weights = vocabulary["target"]["start"], [], []
    for _ in range(config["target_limit"]):
        h, c = lstm_step("decoder", t["target_embedding"][previous], h, c)
        scores = memory @ h
        w = np.exp(scores - scores.max())
        w /= w.sum()
        context = w @ memory
        hidden = np.tanh(np.concatenate([context, h]) @ t["combine.kernel"] + t["combine.bias"])
        logits = hidden @ t["output.kernel"] + t["output.bias"]
        chosen = int(np.argmax(logits))
        written.append(chosen)
        weights.append(w)
        if chosen == vocabulary["target"]["end"]:
            break
        previous = chosen
    return written, np.array(weights)


def g2p_keras3(t, ids, written, vocabulary):
    """The same network built of Keras 3's own layers (no masks), run teacher-forced on the
    symbols the float64 forward wrote: its attention, to check that forward on words with
    no padding."""
    layers = keras.layers
    source, target = layers.Input((len(ids),)), layers.Input((len(written),))
    source_embedding, target_embedding = layers.Embedding(*t["source_embedding"].shape), layers.Embedding(*t["target_embedding"].shape)
    encoder = layers.Bidirectional(layers.LSTM(64, return_sequences=True, return_state=True))
    decoder = layers.LSTM(128, return_sequences=True)
    memory, hf, cf, hb, cb = encoder(source_embedding(source))
    states = decoder(target_embedding(target), initial_state=[layers.Concatenate()([hf, hb]), layers.Concatenate()([cf, cb])])
    attention = layers.Activation("softmax")(layers.Dot(axes=[2, 2])([states, memory]))
    model = keras.Model([source, target], attention)
    source_embedding.set_weights([t["source_embedding"]])
    target_embedding.set_weights([t["target_embedding"]])
    encoder.set_weights([t[f"encoder.{d}.{k}"] for d in ("forward", "backward") for k in ("kernel", "recurrent_kernel", "bias")])
    decoder.set_weights([t[f"decoder.{k}"] for k in ("kernel", "recurrent_kernel", "bias")])
    inputs = [vocabulary["target"]["start"]] + written[:-1]
    return keras.ops.convert_to_numpy(model([np.array([ids]), np.array([inputs])]))[0]


def cmu_g2p():
    folder = os.path.join(MODELS, "cmu-g2p")
    t = {k: v.astype(np.float64) for k, v in read_safetensors(os.path.join(folder, "model.safetensors")).items()}
    with open(os.path.join(folder, "vocabulary.json")) as f:
        vocabulary = json.load(f)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    slots = config["source_slots"]
    cases, checked = [], 0
    for word in G2P_WORDS:
        ids = [vocabulary["source"]["ids"][c] for c in word] + [0] * (slots - len(word))
        written, weights = g2p_float64(t, ids, config, vocabulary)
        if len(word) == slots:
            # Where no slot is padding, Keras 3's layers must give the float64 forward's weights.
            keras_weights = g2p_keras3({k: v.astype(np.float32) for k, v in t.items()}, ids, written, vocabulary)
            gap = float(np.abs(keras_weights - weights).max())
            assert gap < 1e-4, f"{word}: the float64 forward is {gap} from Keras 3's weights"
            print(f"cmu-g2p: {word}: the float64 forward within {gap:.1e} of Keras {keras.__version__}")
            checked += 1
        cases.append({"text": word, "source_ids": ids, "target_ids": written, "attention": weights.tolist()})
        print(f"cmu-g2p: {word!r} -> {len(written)} symbols")
    assert checked >= 2, "no word of 13 letters checked the float64 forward against Keras 3"
    return {"model": "cmu-g2p", "made_by": f"a float64 NumPy forward with Keras 2.3.1's masking, checked against Keras {keras.__version__} where no slot is padding",
            "cases": cases}


# Names as the package's users write them: with a hamza, a ta marbuta, a particle unit (its
# space is a character), harakat and a tatweel (which normalisation removes), and one letter
# the vocabulary lacks.
ARABIC_NAMES = ["محمد", "فاطمة", "عبد الله", "أبو بكر", "يوسف", "عائشة", "مُحَمَّد", "خـالد", "ژاله"]


def arabic_names():
    """arabic-names: the package's own normalisation and source ids (`normalize_arabic`,
    `encode_source_ids` with no country and no role), then its two ONNX graphs in onnxruntime,
    the decoder's softmax added to its outputs, decoding greedily from BOS to EOS (the package
    decodes by a beam of 2 and forbids EOS at the first step)."""
    import onnx
    import onnxruntime
    from arabic_name_romanizer.inference import encode_source_ids
    from arabic_name_romanizer.normalize import normalize_arabic
    from arabic_name_romanizer.vocab import CharVocab

    folder = os.path.join(MODELS, "arabic-names")
    vocab = CharVocab.load(os.path.join(folder, "vocab.json"))
    with open(os.path.join(folder, "meta.json")) as f:
        limit = json.load(f)["max_tgt_len"]
    encoder = onnxruntime.InferenceSession(os.path.join(folder, "encoder.onnx"), providers=["CPUExecutionProvider"])
    graph = onnx.load(os.path.join(folder, "decoder.onnx"))
    graph.graph.output.append(onnx.helper.make_tensor_value_info("/Softmax_output_0", onnx.TensorProto.FLOAT, None))
    decoder = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    cases = []
    for name in ARABIC_NAMES:
        ids = encode_source_ids(vocab, normalize_arabic(name), None, None)
        src = np.array([ids], dtype=np.int64)
        memory, mask, hidden = encoder.run(None, {"src": src, "src_mask": src == vocab.pad_id})
        prefix, written, weights = [vocab.bos_id], [], []
        for _ in range(limit):
            logprobs, hidden, attention = decoder.run(None, {"prefix": np.array([prefix], dtype=np.int64), "memory": memory, "src_mask": mask, "hidden": hidden})
            chosen = int(np.argmax(logprobs[0]))
            written.append(chosen)
            weights.append([float(w) for w in attention.reshape(-1)])
            if chosen == vocab.eos_id:
                break
            prefix.append(chosen)
        cases.append({"text": name, "source_ids": ids, "target_ids": written, "attention": weights})
        print(f"arabic-names: {name} -> {vocab.decode(written)}")
    return {"model": "arabic-names", "made_by": f"onnxruntime {onnxruntime.__version__} on the package's graphs, its own normalisation and ids", "cases": cases}


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    for make in (khmer_translit, cmu_g2p, arabic_names):
        made = make()
        with open(os.path.join(FIXTURES, f"{made['model']}.json"), "w", encoding="utf-8") as f:
            json.dump(made, f, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    main()
