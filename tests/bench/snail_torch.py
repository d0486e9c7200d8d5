"""The SNAIL (engine/src/rnn/snail.rs) trained in PyTorch from the same starting weights on the
same batches as the engine, for the benchmark's anchor: first the picture classifier (784 →
128 → 64 → 242, ReLUs) on batches of 64 moved drawings, then, frozen and layer-normalised,
the SNAIL over it on batches of 32 episodes (attention block, TC block of gated dilated
causal convolutions, attention block, the last step's logits); Adam (0.001) and the
gradient's norm clipped at 5 in both phases.

Usage: snail_torch.py FOLDER RUNS
FOLDER holds start.safetensors (the classifier under `classifier.`, the SNAIL's tensors as its
files name them), config.json (the SNAIL's) and batches.json: {"embedding": [[[drawing, dx,
dy, class] × 64] …], "episodes": [[{"drawings", "labels", "answer"} × 32] …], "omniglot": the
folder of index.json and images.bin.gz}. Prints JSON: the first batch's loss (which must equal
the engine's: the same model), the last batch's, and the milliseconds of each run of every
batch (one thread, as the engine's native row). The batches are made tensors before the timing
starts (the engine's row draws and moves its drawings inside it): PyTorch's row is its
arithmetic alone.
"""

import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

torch.set_num_threads(1)
SIDE = 28


def drawings(folder):
    count = json.loads((folder / "index.json").read_text())["drawings"]
    with gzip.open(folder / "images.bin.gz") as f:
        packed = np.frombuffer(f.read(), dtype=np.uint8)
    return np.unpackbits(packed).reshape(count, SIDE, SIDE).astype(np.float32)


def shifted(picture, dx, dy):
    """Moved dx right and dy down, what leaves the frame lost, paper coming in."""
    out = np.zeros_like(picture)
    ys, xs = slice(max(dy, 0), SIDE + min(dy, 0)), slice(max(dx, 0), SIDE + min(dx, 0))
    yt, xt = slice(max(-dy, 0), SIDE + min(-dy, 0)), slice(max(-dx, 0), SIDE + min(-dx, 0))
    out[ys, xs] = picture[yt, xt]
    return out


def dilations(steps):
    return [1 << i for i in range(math.ceil(math.log2(steps)))]


def linear(p, name, x, bias=True):
    y = x @ p[f"{name}.weight"]
    return y + p[f"{name}.bias"] if bias else y


def embed(p, x):
    return torch.relu(linear(p, "classifier.embedding", torch.relu(linear(p, "classifier.hidden", x))))


def snail_logits(p, config, x):
    """x: [B, T, F + N] → the last step's logits [B, N]."""
    b, t, _ = x.shape
    h, k = config["heads"], config["key"]
    causal = torch.full((t, t), -1e9).triu(1)
    for i, v in enumerate(config["values"]):
        split = lambda y, w: y.reshape(b, t, h, w).transpose(1, 2)
        q = split(linear(p, f"attention.{i}.query", x), k)
        kk = split(linear(p, f"attention.{i}.key", x), k)
        vv = split(linear(p, f"attention.{i}.value", x), v)
        weights = torch.softmax(q @ kk.transpose(2, 3) / math.sqrt(k) + causal, -1)
        x = torch.cat([x, (weights @ vv).transpose(1, 2).reshape(b, t, h * v)], 2)
        if i + 1 < len(config["values"]):
            for j, d in enumerate(dilations(t)):
                shift = min(d, t)
                earlier = torch.cat([torch.zeros(b, shift, x.shape[2]), x[:, : t - shift]], 1)
                y = linear(p, f"convolution.{i}.{j}.now", x) + linear(p, f"convolution.{i}.{j}.before", earlier, bias=False)
                f = config["filters"]
                x = torch.cat([x, torch.tanh(y[..., :f]) * torch.sigmoid(y[..., f:])], 2)
    return linear(p, "output", x[:, t - 1])


def step(optimiser, params, loss):
    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 5.0)
    optimiser.step()


def main():
    folder, runs = Path(sys.argv[1]), int(sys.argv[2])
    config = json.loads((folder / "config.json").read_text())
    given = json.loads((folder / "batches.json").read_text())
    pictures = drawings(Path(given["omniglot"]))
    all_pictures = torch.tensor(pictures.reshape(len(pictures), -1))
    embedding_batches = [
        (torch.tensor(np.stack([shifted(pictures[d], dx, dy).reshape(-1) for d, dx, dy, _ in batch])), torch.tensor([c for *_, c in batch]))
        for batch in given["embedding"]
    ]
    ways = config["ways"]
    episode_batches = []
    for batch in given["episodes"]:
        ids = torch.tensor([e["drawings"] for e in batch])
        one_hot = torch.zeros(len(batch), ids.shape[1], ways)
        for n, e in enumerate(batch):
            for s, label in enumerate(e["labels"]):
                if label is not None:
                    one_hot[n, s, label] = 1.0
        episode_batches.append((ids, one_hot, torch.tensor([e["answer"] for e in batch])))
    times, first, last = [], None, None
    for _ in range(runs):
        p = {k: v.clone().requires_grad_(True) for k, v in load_file(folder / "start.safetensors").items()}
        classifier = [v for k, v in p.items() if k.startswith("classifier.")]
        snail = [v for k, v in p.items() if not k.startswith("classifier.")]
        started = time.perf_counter()
        optimiser = torch.optim.Adam(classifier, lr=0.001, betas=(0.9, 0.999), eps=1e-8)
        for i, (x, labels) in enumerate(embedding_batches):
            loss = F.cross_entropy(linear(p, "classifier.classes", embed(p, x)), labels)
            step(optimiser, classifier, loss)
            if i == 0:
                first = loss.item()
            last = loss.item()
        if episode_batches:
            with torch.no_grad():
                features = F.layer_norm(embed(p, all_pictures), (embed(p, all_pictures[:1]).shape[1],), eps=1e-5)
            optimiser = torch.optim.Adam(snail, lr=0.001, betas=(0.9, 0.999), eps=1e-8)
            for ids, one_hot, answers in episode_batches:
                x = torch.cat([features[ids], one_hot], 2)
                loss = F.cross_entropy(snail_logits(p, config, x), answers)
                step(optimiser, snail, loss)
                last = loss.item()
        times.append((time.perf_counter() - started) * 1000.0)
    print(json.dumps({"first_loss": first, "last_loss": last, "ms": times}))


main()
