#!/usr/bin/env python3
"""The SNAIL's reference: a tiny SNAIL (Mishra et al. 2018: attention blocks and a TC block of
gated, dilated causal convolutions, each block's output concatenated to its input) over the
frozen, layer-normalised picture embedding, and a float64 NumPy forward of it on episodes of
Omniglot's drawings as the project keeps them, for the engine's parity tests. It writes
tests/fixtures/snail/: config.json, model.safetensors (float32, from numpy's
default_rng(2018)) and expected.json (per episode: the drawings' indices and labels, each
block's attention [heads][T][T], the query's logits).

Usage, from the project's root, in the venv `tools.sh --bench` makes (numpy, safetensors, torch):
    .cache/torch/bin/python scripts/snail_reference.py
    .cache/torch/bin/python scripts/snail_reference.py --check-against-torch
The second makes nothing: it runs the committed fixtures' weights and episodes through the
same network built of PyTorch's own modules (nn.Linear, nn.Conv1d with its dilation and the
causal padding, nn.LayerNorm without its affine, F.scaled_dot_product_attention with
is_causal) in float64, and asserts its attention and logits agree with this forward's to
1e-10, and this forward's with expected.json. Not run by the tests.

Why the reference can be trusted: the forward is the paper's equations written as loops over
steps, heads and taps (a dense block's y_t = W_now x_t + W_before x_(t-R) + b, zero before the
episode; the softmax over steps s <= t), none of the engine's shifted products; and the check
runs it against PyTorch's convolution and attention, whose conventions its authors fixed.
Measured (numpy 2.4.6, torch 2.15, float64): attention and logits agree to 2.3e-15 at most;
the loops differ from PyTorch's by 1.6e-4 to 2.6 when the convolution's taps are swapped
(0.63), the dilation is off by one (1.6), a step reads the one after it (2.6), or the layer
norm's epsilon is dropped (1.6e-4).
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "snail")
OMNIGLOT = os.path.join(ROOT, "assets", "data", "omniglot")
SIDE = 28
# A picture embedding of 8 hidden units and 6 features (the trained one's 128 and 64 would make
# a 400 KB fixture); 3-way 2-shot: T = 7, so the TC block has dilations 1, 2, 4.
HIDDEN, FEATURES = 8, 6
CONFIG = {"architecture": "snail", "hidden": HIDDEN, "features": FEATURES, "ways": 3, "shots": 2, "heads": 2, "key": 4, "values": [3, 5], "filters": 3}
SEED = 2018
# Episodes: drawings of the one-shot runs (indices into the project's copy) and their labels,
# the query last. Run 1's characters 0, 1, 2 are drawings 5840, 5841, 5842 (training) and its
# tests follow at 5860; any drawings serve, as long as the engine reads the same.
EPISODES = [
    {"drawings": [5840, 5841, 5842, 5843, 5844, 5845, 5860], "labels": [0, 0, 1, 1, 2, 2]},
    {"drawings": [5900, 5905, 5910, 5915, 5920, 5925, 5930], "labels": [2, 1, 0, 2, 1, 0]},
    {"drawings": [100, 2000, 3000, 4000, 5000, 6000, 6600], "labels": [1, 2, 0, 0, 2, 1]},
]


def fail(message):
    print(f"snail_reference: {message}", file=sys.stderr)
    sys.exit(1)


def drawings():
    """Every drawing of the project's Omniglot copy, [n, 784] of 0.0 and 1.0."""
    with open(os.path.join(OMNIGLOT, "index.json")) as f:
        count = json.load(f)["drawings"]
    with gzip.open(os.path.join(OMNIGLOT, "images.bin.gz")) as f:
        packed = np.frombuffer(f.read(), dtype=np.uint8)
    if packed.size != count * SIDE * SIDE // 8:
        fail(f"images.bin.gz holds {packed.size} bytes for {count} drawings")
    return np.unpackbits(packed).reshape(count, SIDE * SIDE).astype(np.float64)


def dilations(steps):
    blocks = int(np.ceil(np.log2(steps)))
    return [1 << i for i in range(blocks)]


def names(config):
    """Every tensor's name and shape, in the engine's order."""
    shapes = [("picture.hidden.weight", (SIDE * SIDE, HIDDEN)), ("picture.hidden.bias", (HIDDEN,)),
              ("picture.embedding.weight", (HIDDEN, FEATURES)), ("picture.embedding.bias", (FEATURES,))]
    width = FEATURES + config["ways"]
    h, k = config["heads"], config["key"]
    steps = config["ways"] * config["shots"] + 1
    for i, v in enumerate(config["values"]):
        for part, out in (("query", h * k), ("key", h * k), ("value", h * v)):
            shapes += [(f"attention.{i}.{part}.weight", (width, out)), (f"attention.{i}.{part}.bias", (out,))]
        width += h * v
        if i + 1 < len(config["values"]):
            for j, _ in enumerate(dilations(steps)):
                f2 = 2 * config["filters"]
                shapes += [(f"convolution.{i}.{j}.now.weight", (width, f2)), (f"convolution.{i}.{j}.now.bias", (f2,)),
                           (f"convolution.{i}.{j}.before.weight", (width, f2))]
                width += config["filters"]
    shapes += [("output.weight", (width, config["ways"])), ("output.bias", (config["ways"],))]
    return shapes


def make_weights(config):
    rng = np.random.default_rng(SEED)
    tensors = {}
    for name, shape in names(config):
        # The picture's weights as a trained embedding's are scaled (fan-in); the SNAIL's wide
        # enough that the attention is far from even.
        scale = 1.0 / np.sqrt(shape[0]) if name.startswith("picture.") and len(shape) == 2 else 0.5
        tensors[name] = (scale * rng.standard_normal(shape)).astype(np.float32)
    return tensors


# --- the forward, as loops ---

def features(w, pixels):
    """One drawing's embedding, layer-normalised (no affine, epsilon 1e-5)."""
    hidden = np.maximum(0.0, pixels @ w["picture.hidden.weight"] + w["picture.hidden.bias"])
    e = np.maximum(0.0, hidden @ w["picture.embedding.weight"] + w["picture.embedding.bias"])
    mean = sum(e) / len(e)
    variance = sum((x - mean) ** 2 for x in e) / len(e)
    return np.array([(x - mean) / np.sqrt(variance + 1e-5) for x in e])


def attention_block(w, i, x, config):
    """x: a list of T step vectors. Returns the steps with each head's read appended, and the
    weights [heads][T][T]."""
    h, k, v = config["heads"], config["key"], config["values"][i]
    T = len(x)
    affine = lambda part, t: x[t] @ w[f"attention.{i}.{part}.weight"] + w[f"attention.{i}.{part}.bias"]
    q = [affine("query", t) for t in range(T)]
    kk = [affine("key", t) for t in range(T)]
    vv = [affine("value", t) for t in range(T)]
    weights = np.zeros((h, T, T))
    out = []
    for t in range(T):
        reads = []
        for head in range(h):
            scores = [sum(q[t][head * k + a] * kk[s][head * k + a] for a in range(k)) / np.sqrt(k) for s in range(t + 1)]
            top = max(scores)
            exps = [np.exp(c - top) for c in scores]
            total = sum(exps)
            for s in range(t + 1):
                weights[head, t, s] = exps[s] / total
            reads.append([sum(weights[head, t, s] * vv[s][head * v + b] for s in range(t + 1)) for b in range(v)])
        out.append(np.concatenate([x[t]] + [np.array(r) for r in reads]))
    return out, weights


def dense_block(w, prefix, x, dilation, filters):
    T = len(x)
    out = []
    for t in range(T):
        y = x[t] @ w[f"{prefix}.now.weight"] + w[f"{prefix}.now.bias"]
        if t - dilation >= 0:
            y = y + x[t - dilation] @ w[f"{prefix}.before.weight"]
        gated = [np.tanh(y[f]) / (1.0 + np.exp(-y[filters + f])) for f in range(filters)]
        out.append(np.concatenate([x[t], np.array(gated)]))
    return out


def forward(w, config, pixels, labels):
    T = len(pixels)
    x = []
    for t in range(T):
        one_hot = np.zeros(config["ways"])
        if t < len(labels):
            one_hot[labels[t]] = 1.0
        x.append(np.concatenate([features(w, pixels[t]), one_hot]))
    attention = []
    for i in range(len(config["values"])):
        x, weights = attention_block(w, i, x, config)
        attention.append(weights)
        if i + 1 < len(config["values"]):
            for j, dilation in enumerate(dilations(T)):
                x = dense_block(w, f"convolution.{i}.{j}", x, dilation, config["filters"])
    logits = x[T - 1] @ w["output.weight"] + w["output.bias"]
    return attention, logits


def run_all(w, config, pictures):
    results = []
    for episode in EPISODES:
        attention, logits = forward(w, config, pictures[episode["drawings"]], episode["labels"])
        results.append({**episode, "attention": [a.tolist() for a in attention], "logits": logits.tolist()})
    return results


# --- the check: the same network of PyTorch's modules ---

def torch_forward(w, config, pixels, labels):
    import torch
    import torch.nn.functional as F

    t64 = lambda name: torch.tensor(w[name], dtype=torch.float64)
    T = len(pixels)
    x = torch.tensor(pixels, dtype=torch.float64)
    hidden = torch.relu(F.linear(x, t64("picture.hidden.weight").T, t64("picture.hidden.bias")))
    e = torch.relu(F.linear(hidden, t64("picture.embedding.weight").T, t64("picture.embedding.bias")))
    e = torch.nn.LayerNorm(FEATURES, eps=1e-5, elementwise_affine=False, dtype=torch.float64)(e)
    one_hot = torch.zeros(T, config["ways"], dtype=torch.float64)
    for t, label in enumerate(labels):
        one_hot[t, label] = 1.0
    x = torch.cat([e, one_hot], 1)  # [T, C]
    h, k = config["heads"], config["key"]
    attention = []
    for i, v in enumerate(config["values"]):
        lin = lambda part: F.linear(x, t64(f"attention.{i}.{part}.weight").T, t64(f"attention.{i}.{part}.bias"))
        q, kk, vv = (lin(p).reshape(T, h, -1).transpose(0, 1) for p in ("query", "key", "value"))
        read = F.scaled_dot_product_attention(q, kk, vv, is_causal=True)  # [h, T, v]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        weights = torch.softmax((q @ kk.transpose(1, 2) / np.sqrt(k)).masked_fill(~mask, float("-inf")), -1)
        attention.append(weights.detach().numpy())
        x = torch.cat([x, read.transpose(0, 1).reshape(T, h * v)], 1)
        if i + 1 < len(config["values"]):
            for j, dilation in enumerate(dilations(T)):
                prefix = f"convolution.{i}.{j}"
                f2 = 2 * config["filters"]
                conv = torch.nn.Conv1d(x.shape[1], f2, kernel_size=2, dilation=dilation, dtype=torch.float64)
                with torch.no_grad():
                    # Tap 0 reads x_(t-d), tap 1 x_t, after d zeros of padding on the left.
                    conv.weight[:, :, 0] = t64(f"{prefix}.before.weight").T
                    conv.weight[:, :, 1] = t64(f"{prefix}.now.weight").T
                    conv.bias[:] = t64(f"{prefix}.now.bias")
                y = conv(F.pad(x.T.unsqueeze(0), (dilation, 0))).squeeze(0).T  # [T, 2F]
                filters = config["filters"]
                x = torch.cat([x, torch.tanh(y[:, :filters]) * torch.sigmoid(y[:, filters:])], 1)
    logits = F.linear(x[T - 1], t64("output.weight").T, t64("output.bias"))
    return attention, logits.detach().numpy()


def check_against_torch():
    with open(os.path.join(FIXTURES, "config.json")) as f:
        config = json.load(f)
    w = {n: t.astype(np.float64) for n, t in load_file(os.path.join(FIXTURES, "model.safetensors")).items()}
    with open(os.path.join(FIXTURES, "expected.json")) as f:
        expected = json.load(f)["episodes"]
    pictures = drawings()
    worst = 0.0
    for episode, want in zip(EPISODES, expected):
        ours_attention, ours_logits = forward(w, config, pictures[episode["drawings"]], episode["labels"])
        theirs_attention, theirs_logits = torch_forward(w, config, pictures[episode["drawings"]], episode["labels"])
        for ours, theirs in zip(ours_attention, theirs_attention):
            worst = max(worst, float(np.abs(ours - theirs).max()))
        worst = max(worst, float(np.abs(ours_logits - theirs_logits).max()))
        if float(np.abs(np.array(want["logits"]) - ours_logits).max()) > 1e-12:
            fail("expected.json is not this forward's: run the script again")
    print(f"PyTorch's modules against the loops: {worst:.1e} at most")
    if worst > 1e-10:
        fail(f"the loops and PyTorch's modules differ by {worst}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check-against-torch", action="store_true")
    args = parser.parse_args()
    if args.check_against_torch:
        check_against_torch()
        return
    os.makedirs(FIXTURES, exist_ok=True)
    tensors = make_weights(CONFIG)
    save_file(tensors, os.path.join(FIXTURES, "model.safetensors"))
    with open(os.path.join(FIXTURES, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    w = {n: t.astype(np.float64) for n, t in tensors.items()}
    results = run_all(w, CONFIG, drawings())
    with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
        json.dump({"made_by": "scripts/snail_reference.py", "episodes": results}, f)
    print(f"wrote tests/fixtures/snail: {len(results)} episodes")


if __name__ == "__main__":
    main()
