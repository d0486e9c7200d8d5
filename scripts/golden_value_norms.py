"""Golden value norms for the tests: an independent float64 NumPy forward pass of
tiny-gpt2, all-MiniLM-L6-v2 and SmolLM2-135M (its GGUF de-quantized by the `gguf`
package) that keeps, per layer and head, ‖f_h(x_j)‖ with
f_h(x) = (x W_V + b_V)_h W_O,h (Kobayashi et al., 2020).

The script first checks that its own attention maps equal Hugging Face's reference
maps (tests/fixtures/reference) to 5e-5 (theirs are float32), so the norms come from a forward pass proven
right. Run from the project root after `make models`:

    pip install numpy safetensors gguf
    python3 scripts/golden_value_norms.py

It writes tests/fixtures/value_norms/<model>.json.
"""

import json
import math
import pathlib

import numpy as np
from safetensors.numpy import load_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "fixtures" / "reference"
OUT = ROOT / "tests" / "fixtures" / "value_norms"


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def heads(x, n):
    """[t, n * d] -> [n, t, d]"""
    t, width = x.shape
    return x.reshape(t, n, width // n).transpose(1, 0, 2)


def attention(q, k, v, causal):
    """q, k, v: [heads, t, d] -> (output [t, heads * d], probabilities [heads, t, t])"""
    n, t, d = q.shape
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
    if causal:
        scores = scores + np.triu(np.full((t, t), -np.inf), 1)
    scores = scores - scores.max(-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(-1, keepdims=True)
    out = (probs @ v).transpose(1, 0, 2).reshape(t, n * d)
    return out, probs


def value_norms(v, w_o):
    """v: [heads, t, d]; w_o: [heads * d, hidden] (x W_O form) -> [heads, t]"""
    n, t, d = v.shape
    per_head = w_o.reshape(n, d, -1)  # head h reads rows h*d..(h+1)*d
    return np.linalg.norm(v @ per_head, axis=-1)


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_erf(x):
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def gpt2(w, cfg, ids, causal):
    p = "transformer."
    n, eps = cfg["n_head"], cfg["layer_norm_epsilon"]
    x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][: len(ids)]
    maps, norms = [], []
    for i in range(cfg["n_layer"]):
        b = f"{p}h.{i}."
        h = layer_norm(x, w[b + "ln_1.weight"], w[b + "ln_1.bias"], eps)
        qkv = h @ w[b + "attn.c_attn.weight"] + w[b + "attn.c_attn.bias"]  # Conv1D: x W
        q, k, v = (heads(part, n) for part in np.split(qkv, 3, axis=1))
        out, probs = attention(q, k, v, causal)
        maps.append(probs)
        norms.append(value_norms(v, w[b + "attn.c_proj.weight"]))
        x = x + out @ w[b + "attn.c_proj.weight"] + w[b + "attn.c_proj.bias"]
        h = layer_norm(x, w[b + "ln_2.weight"], w[b + "ln_2.bias"], eps)
        inner = gelu_tanh(h @ w[b + "mlp.c_fc.weight"] + w[b + "mlp.c_fc.bias"])
        x = x + inner @ w[b + "mlp.c_proj.weight"] + w[b + "mlp.c_proj.bias"]
    return np.stack(maps), np.stack(norms)


def bert(w, cfg, ids, causal):
    n, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    linear = lambda x, name: x @ w[name + ".weight"].T + w[name + ".bias"]  # Linear: x Wᵀ + b
    e = "embeddings."
    x = w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][: len(ids)]
    x = x + w[e + "token_type_embeddings.weight"][0]
    x = layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    maps, norms = [], []
    for i in range(cfg["num_hidden_layers"]):
        b = f"encoder.layer.{i}."
        q, k, v = (heads(linear(x, b + "attention.self." + part), n) for part in ("query", "key", "value"))
        out, probs = attention(q, k, v, causal)
        maps.append(probs)
        norms.append(value_norms(v, w[b + "attention.output.dense.weight"].T))
        x = layer_norm(linear(out, b + "attention.output.dense") + x, w[b + "attention.output.LayerNorm.weight"], w[b + "attention.output.LayerNorm.bias"], eps)
        inner = gelu_erf(linear(x, b + "intermediate.dense"))
        x = layer_norm(linear(inner, b + "output.dense") + x, w[b + "output.LayerNorm.weight"], w[b + "output.LayerNorm.bias"], eps)
    return np.stack(maps), np.stack(norms)


def rms_norm(x, weight, eps):
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * weight


def rope_interleaved(x, base):
    """Rotates adjacent pairs (x0, x1), (x2, x3), ... of x: [heads, t, d]: the GGUF's
    permuted q and k rows make this Hugging Face's rotate-half."""
    n, t, d = x.shape
    inv_freq = 1.0 / base ** (np.arange(0, d, 2, dtype=np.float64) / d)
    angles = np.arange(t)[:, None] * inv_freq[None, :]  # [t, d/2]
    cos, sin = np.cos(angles), np.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def llama(w, cfg, ids, causal):
    n, kv, eps, base = cfg["heads"], cfg["kv_heads"], cfg["eps"], cfg["rope_base"]
    linear = lambda x, name: x @ w[name].T  # GGUF weights are [out, in]
    x = w["token_embd.weight"][ids]
    maps, norms = [], []
    for i in range(cfg["layers"]):
        b = f"blk.{i}."
        h = rms_norm(x, w[b + "attn_norm.weight"], eps)
        q = rope_interleaved(heads(linear(h, b + "attn_q.weight"), n), base)
        k = rope_interleaved(heads(linear(h, b + "attn_k.weight"), kv), base)
        v = heads(linear(h, b + "attn_v.weight"), kv)
        # Query head h reads key/value head h // (n / kv).
        k, v = np.repeat(k, n // kv, axis=0), np.repeat(v, n // kv, axis=0)
        out, probs = attention(q, k, v, causal)
        maps.append(probs)
        norms.append(value_norms(v, w[b + "attn_output.weight"].T))
        x = x + linear(out, b + "attn_output.weight")
        h = rms_norm(x, w[b + "ffn_norm.weight"], eps)
        gate = linear(h, b + "ffn_gate.weight")
        x = x + linear(gate / (1 + np.exp(-gate)) * linear(h, b + "ffn_up.weight"), b + "ffn_down.weight")
    return np.stack(maps), np.stack(norms)


def gguf_weights(path):
    import gguf

    reader = gguf.GGUFReader(path)
    field = lambda key: reader.fields[key].parts[reader.fields[key].data[0]][0]
    cfg = {
        "layers": int(field("llama.block_count")),
        "heads": int(field("llama.attention.head_count")),
        "kv_heads": int(field("llama.attention.head_count_kv")),
        "eps": float(field("llama.attention.layer_norm_rms_epsilon")),
        "rope_base": float(field("llama.rope.freq_base")),
    }
    weights = {t.name: gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64) for t in reader.tensors}
    return weights, cfg


def safetensors_weights(path):
    return {k: v.astype(np.float64) for k, v in load_file(path).items() if v.dtype.kind == "f"}


def golden(name, forward, w, cfg, reference, keys):
    ref = load_file(reference)
    cases = []
    for key in keys:
        ids = ref[f"{key}.ids"].tolist()
        for mask in ("causal", "none"):
            maps, norms = forward(w, cfg, ids, mask == "causal")
            worst = np.abs(maps - ref[f"{key}.{mask}.attn"]).max()
            assert worst < 5e-5, f"{name} {key} {mask}: this forward pass is off by {worst}"
            cases.append({"key": key, "ids": ids, "mask": mask, "norms": np.round(norms, 7).tolist()})
            print(f"{name} {key} {mask}: {len(ids)} tokens, maps within {worst:.1e} of transformers")
    OUT.mkdir(parents=True, exist_ok=True)
    document = {"model": name, "generator": "scripts/golden_value_norms.py (NumPy, float64)", "layout": "norms [layer][head][token]", "cases": cases}
    (OUT / f"{name}.json").write_text(json.dumps(document) + "\n")


tiny = REFERENCE / "tiny-gpt2"
golden("tiny-gpt2", gpt2, safetensors_weights(tiny / "model.safetensors"), json.loads((tiny / "config.json").read_text()), tiny / "reference.safetensors", ["case0", "case1", "case2"])
minilm = ROOT / "assets" / "models" / "all-minilm-l6-v2"
golden("all-minilm-l6-v2", bert, safetensors_weights(minilm / "model.safetensors"), json.loads((minilm / "config.json").read_text()), REFERENCE / "all-minilm-l6-v2.safetensors", ["case0", "case4"])
smollm2 = ROOT / "assets" / "models" / "smollm2-135m" / "SmolLM2-135M-Instruct.Q4_1.gguf"
golden("smollm2-135m", llama, *gguf_weights(smollm2), REFERENCE / "smollm2-135m.safetensors", ["case0", "case4"])
