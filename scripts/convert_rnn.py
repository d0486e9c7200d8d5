#!/usr/bin/env python3
"""Converts the RNN aligners of assets/aligners.json, once, to what the engine reads.

Each model's files come from its wheel as the package ships them (a Keras 3 `.keras` zip, a
Keras 2.3 `.h5`, ONNX graphs, pickles). The engine reads neither HDF5 (Rust's HDF5 crates need
a C library, which does not build for wasm) nor ONNX nor pickles, so this writes beside them:

- `model.safetensors`: every weight, float32, under the engine's names (below), in the
  orientation the framework stores it (the config says which);
- `config.json`: the architecture, its sizes and the framework's conventions (gate orders);
- `vocabulary.json`: the source and target symbols with their ids.

Every weight written is read back and compared with its source, bit for bit, and each model's
parameter count is checked against the one its framework reports (docs/notes/rnn-attention.md).
A model whose inputs have not changed since its last conversion (`converted.json` holds their
sha256) is left as it is.

Runs in its own venv (.cache/convert-venv: numpy, h5py, onnx, from PyPI), made on first use.
Usage: python3 scripts/convert_rnn.py [MODELS_DIR]   (default assets/models)
"""
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".cache", "convert-venv")
PACKAGES = ["numpy==2.2.6", "h5py==3.14.0", "onnx==1.18.0"]
# Bump when what is written changes, so that every model is converted again.
VERSION = 1


def fail(message):
    print(f"[convert] error: {message}", file=sys.stderr)
    sys.exit(1)


def in_venv():
    """Re-runs this script with the venv's Python, making the venv first if need be."""
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    check = [python, "-c", "import numpy, h5py, onnx"]
    if not os.path.exists(python) or subprocess.run(check, capture_output=True).returncode != 0:
        print(f"[convert] making {os.path.relpath(VENV, ROOT)} ({', '.join(PACKAGES)})")
        make_venv = [sys.executable, "-m", "venv", "--clear", VENV]
        if subprocess.run(make_venv, capture_output=True).returncode != 0:
            # Debian's Python keeps venv in a package of its own (tools.sh may hold apt's lock).
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            apt = [*sudo, "apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600", "python3-venv"]
            subprocess.run(apt, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
        for step in (make_venv, [python, "-m", "pip", "install", "--quiet", *PACKAGES]):
            result = subprocess.run(step, capture_output=True, text=True)
            if result.returncode != 0:
                fail(f"{' '.join(step[:4])} failed:\n{result.stderr.strip()}")
    os.execv(python, [python, *sys.argv])


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# --- safetensors, written and read by hand (the format is a JSON header and the raw bytes) ---

def write_safetensors(path, tensors):
    import numpy as np
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        data = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    body = raw[8 + size:]
    return {name: np.frombuffer(body[s:e], dtype="<f4").reshape(info["shape"])
            for name, info in header.items() for s, e in [info["data_offsets"]]}


# --- the three models ---

def keras3_weights(keras_zip):
    """A Keras 3 `.keras` file's config and its weights by path (layers/<name>/.../vars/<i>)."""
    import h5py
    with zipfile.ZipFile(keras_zip) as archive:
        config = json.loads(archive.read("config.json"))
        weights = {}
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
            def visit(name, item):
                if isinstance(item, h5py.Dataset) and name.startswith("layers/"):
                    weights[name[len("layers/"):]] = item[()]
            h5.visititems(visit)
    return config, weights


class _Tokenizer:
    """Stands in for keras' legacy `Tokenizer` when unpickling: only its fields are wanted."""

    def __setstate__(self, state):
        self.__dict__.update(state)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if name == "Tokenizer":
            return _Tokenizer
        return super().find_class(module, name)


def khmer_translit(folder):
    config, w = keras3_weights(os.path.join(folder, "model.keras"))
    with open(os.path.join(folder, "assets.pkl"), "rb") as f:
        assets = _Unpickler(f).load()
    layers = [layer["class_name"] for layer in config["config"]["layers"]]
    expected = ["InputLayer", "InputLayer", "Embedding", "Embedding", "Bidirectional", "GRU", "TimeDistributed",
                "AdditiveAttention", "Concatenate", "Dense"]
    if layers != expected:
        fail(f"khmer-translit: layers {layers}, expected {expected}")
    cell = lambda prefix: {"kernel": w[f"{prefix}/vars/0"], "recurrent_kernel": w[f"{prefix}/vars/1"], "bias": w[f"{prefix}/vars/2"]}
    tensors = {
        "source_embedding": w["embedding/vars/0"],
        "target_embedding": w["embedding_1/vars/0"],
        **{f"encoder.forward.{k}": v for k, v in cell("bidirectional/forward_layer/cell").items()},
        **{f"encoder.backward.{k}": v for k, v in cell("bidirectional/backward_layer/cell").items()},
        "keys.kernel": w["time_distributed/layer/vars/0"],
        "keys.bias": w["time_distributed/layer/vars/1"],
        **{f"decoder.{k}": v for k, v in cell("gru/cell").items()},
        "attention.scale": w["additive_attention/vars/0"],
        "output.kernel": w["dense/vars/0"],
        "output.bias": w["dense/vars/1"],
    }
    units = int(tensors["decoder.recurrent_kernel"].shape[0])
    model_config = {
        "architecture": "khmer-translit",
        "framework": "Keras 3: kernels [in, out]; GRU gates z, r, h with reset_after (bias rows: input, recurrent)",
        "source_slots": int(assets["max_eng_len"]),
        "target_limit": int(assets["max_khm_len"]),
        "embedding": int(tensors["source_embedding"].shape[1]),
        "encoder_units": int(tensors["encoder.forward.recurrent_kernel"].shape[0]),
        "decoder_units": units,
        "decoder_starts_from": "zeros",
        "score": "additive, Keras's AdditiveAttention(use_scale=True): sum(scale * tanh(query + key)); keys are values",
        "attends_padding": True,
    }
    source, target = assets["eng_tokenizer"], assets["khm_tokenizer"]
    vocabulary = {
        "source": {"ids": source.word_index, "padding": 0, "lower": bool(getattr(source, "lower", True))},
        "target": {"ids": target.word_index, "padding": 0, "start": target.word_index["\t"], "end": target.word_index["\n"]},
    }
    return tensors, model_config, vocabulary, 78_705


def cmu_g2p(folder):
    import h5py
    with h5py.File(os.path.join(folder, "model.h5"), "r") as h5:
        g = h5["model_weights"]
        var = lambda layer, path: g[layer][layer][path][()]
        lstm = lambda layer, inner: {k: g[layer][layer][inner][f"{k}:0"][()] for k in ("kernel", "recurrent_kernel", "bias")}
        tensors = {
            "source_embedding": var("embedding_1", "embeddings:0"),
            "target_embedding": var("embedding_2", "embeddings:0"),
            **{f"encoder.forward.{k}": v for k, v in lstm("bidirectional_1", "forward_lstm_1").items()},
            **{f"encoder.backward.{k}": v for k, v in lstm("bidirectional_1", "backward_lstm_1").items()},
            "decoder.kernel": var("lstm_2", "kernel:0"),
            "decoder.recurrent_kernel": var("lstm_2", "recurrent_kernel:0"),
            "decoder.bias": var("lstm_2", "bias:0"),
            "combine.kernel": var("time_distributed_1", "kernel:0"),
            "combine.bias": var("time_distributed_1", "bias:0"),
            "output.kernel": var("time_distributed_2", "kernel:0"),
            "output.bias": var("time_distributed_2", "bias:0"),
        }
        keras_version = h5.attrs["keras_version"]
        keras_version = keras_version.decode() if isinstance(keras_version, bytes) else keras_version
    with open(os.path.join(folder, "config.pkl"), "rb") as f:
        pickled = pickle.load(f)
    model_config = {
        "architecture": "cmu-g2p",
        "framework": f"Keras {keras_version}: kernels [in, out]; LSTM gates i, f, c, o; masked padding keeps the state and repeats the last output",
        "source_slots": int(pickled["max_length_input"]),
        "target_limit": int(pickled["max_length_output"]),
        "encoder_units": int(tensors["encoder.forward.recurrent_kernel"].shape[0]),
        "decoder_units": int(tensors["decoder.recurrent_kernel"].shape[0]),
        "decoder_starts_from": "the encoder's last states, [forward; backward]",
        "score": "Luong dot over every slot, padding included",
        "attends_padding": True,
    }
    ids = lambda table: {str(k): int(v) for k, v in table.items()}
    vocabulary = {
        "source": {"ids": ids(pickled["input_char2ix"]), "padding": int(pickled["PAD_INDEX"]), "lower": False},
        "target": {"ids": ids(pickled["output_char2ix"]), "padding": int(pickled["PAD_INDEX"]), "start": int(pickled["GO_INDEX"]),
                   "end": int(pickled["PAD_INDEX"])},
    }
    return tensors, model_config, vocabulary, 229_575


def arabic_names(folder):
    import numpy as np
    import onnx
    from onnx import numpy_helper
    graphs = {part: onnx.load(os.path.join(folder, f"{part}.onnx")).graph for part in ("encoder", "decoder")}
    init = {part: {t.name: numpy_helper.to_array(t) for t in g.initializer} for part, g in graphs.items()}
    enc, dec = init["encoder"], init["decoder"]
    if not np.array_equal(enc["m.emb.weight"], dec["m.emb.weight"]):
        fail("arabic-names: the encoder's and the decoder's embeddings differ")
    tensors = {"embedding": enc["m.emb.weight"], "bridge.weight": enc["m.bridge.weight"], "bridge.bias": enc["m.bridge.bias"]}
    # The encoder's GRU nodes in graph order, each with its inputs X, W, R, B.
    grus = [node for node in graphs["encoder"].node if node.op_type == "GRU"]
    for layer, node in enumerate(grus):
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("direction") != b"bidirectional" or attributes.get("linear_before_reset") != 1:
            fail(f"arabic-names: encoder GRU {layer} is {attributes}")
        for key, name in zip(("W", "R", "B"), node.input[1:4]):
            tensors[f"encoder.{layer}.{key}"] = enc[name]
    for name, value in dec.items():
        if name.startswith("m.decoder."):
            tensors["decoder." + name[len("m.decoder."):]] = value
    # The decoder's two MatMuls by weight: Luong general's W_a (the query side) and the
    # combination of [state; context].
    matmuls = {node.input[1]: node.input[0] for node in graphs["decoder"].node if node.op_type == "MatMul" and node.input[1] in dec}
    if len(matmuls) != 2:
        fail(f"arabic-names: the decoder's weight products are {matmuls}")
    for weight in matmuls:
        shape = dec[weight].shape
        tensors["attention.weight" if shape == (256, 256) else "combine.weight"] = dec[weight]
    tensors["combine.bias"] = dec["m.combine.bias"]
    tensors["output.weight"], tensors["output.bias"] = dec["m.out.weight"], dec["m.out.bias"]
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    with open(os.path.join(folder, "vocab.json")) as f:
        symbols = json.load(f)["tokens"]
    model_config = {
        "architecture": "arabic-names",
        "framework": "ONNX from PyTorch: the encoder's GRUs ONNX's (W, R, B; gates z, r, h, linear before reset), the decoder's PyTorch's (gates r, z, n); attention and combine multiply x W ([in, out]); bridge and output are PyTorch Linears ([out, in])",
        "encoder_layers": len(grus),
        "encoder_units": int(tensors["encoder.0.R"].shape[-1]),
        "decoder_layers": sum(1 for k in tensors if k.startswith("decoder.weight_ih_l")),
        "decoder_units": int(tensors["decoder.weight_hh_l0"].shape[1]),
        "target_limit": int(meta["max_tgt_len"]),
        "score": "Luong general: (h W_a) · memory",
        "attends_padding": False,
    }
    vocabulary = {"symbols": symbols, "padding": symbols.index("<PAD>"), "start": symbols.index("<BOS>"), "end": symbols.index("<EOS>")}
    return tensors, model_config, vocabulary, 1_727_136


CONVERTERS = {"khmer-translit": khmer_translit, "cmu-g2p": cmu_g2p, "arabic-names": arabic_names}


def convert(models_dir, model):
    folder = os.path.join(models_dir, model["id"])
    inputs = {f["name"]: f["sha256"] for f in model["files"]}
    for name, expected in inputs.items():
        path = os.path.join(folder, name)
        if not os.path.exists(path) or sha256_of(path) != expected:
            fail(f"{model['id']}/{name} is missing or changed: `make models` fetches it")
    stamp_path = os.path.join(folder, "converted.json")
    stamp = {"version": VERSION, "inputs": inputs}
    outputs = ["model.safetensors", "config.json", "vocabulary.json"]
    if os.path.exists(stamp_path) and all(os.path.exists(os.path.join(folder, o)) for o in outputs):
        with open(stamp_path) as f:
            if json.load(f) == stamp:
                print(f"[convert] {model['id']}: converted already")
                return
    import numpy as np
    tensors, config, vocabulary, parameters = CONVERTERS[model["id"]](folder)
    counted = sum(int(np.prod(t.shape)) for t in tensors.values())
    if counted != parameters:
        fail(f"{model['id']}: {counted} parameters converted, its framework counts {parameters}")
    if any(t.dtype != np.float32 for t in tensors.values()):
        fail(f"{model['id']}: a weight is not float32")
    config["parameters"] = parameters
    safetensors = os.path.join(folder, "model.safetensors")
    write_safetensors(safetensors, tensors)
    back = read_safetensors(safetensors)
    if sorted(back) != sorted(tensors) or not all(np.array_equal(back[k], tensors[k]) for k in tensors):
        fail(f"{model['id']}: model.safetensors does not read back as written")
    for name, value in (("config.json", config), ("vocabulary.json", vocabulary)):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False, indent=1)
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)
    print(f"[convert] {model['id']}: {len(tensors)} tensors, {parameters:,} parameters")


def main():
    in_venv()
    models_dir = os.path.join(ROOT, sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "assets", "models")
    with open(os.path.join(ROOT, "assets", "aligners.json")) as f:
        catalog = json.load(f)
    for model in catalog["models"]:
        convert(models_dir, model)


if __name__ == "__main__":
    main()
