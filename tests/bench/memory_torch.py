"""The memory network (engine/src/rnn/memory.rs) trained in PyTorch on the same starting
weights and the same stories as the engine, for the benchmark's anchor: 3 hops, adjacent
tying, the paper's position encoding and temporal encoding, the linear start ended at the
batch where the engine ended it, Adam (0.01) and the gradient's norm clipped at 40.

Usage: memory_torch.py FOLDER RUNS
FOLDER holds the engine's network at step 0 (config.json, model.safetensors) and
batches.json: {"linear_until": the first batch with the softmax in, "validation": stories,
"batches": [stories]}, a story [[sentence word ids]…, question word ids, answer id]. While the
start is linear, the validation stories' loss is measured every 25 batches, as the engine
measures it to decide when to end it. Prints JSON: the first batch's loss (which must equal
the engine's: the same model), the last batch's, and the milliseconds of each run of every
batch (one thread, as the engine's native row). The stories are made tensors before the
timing starts (the engine's row draws and reads its stories inside it): PyTorch's row is its
arithmetic alone.
"""

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

torch.set_num_threads(1)


def position_weights(sentences, width):
    """Word ids [S, W] (0: none) and the position encoding's two parts per word, α_j = 1 − j/J
    and β_j = 2j/J − 1, [S, W] each (0 where there is no word)."""
    pad = lambda values: values + [0] * (width - len(values))
    ids = [pad(list(words)) for words in sentences]
    alpha = [pad([1.0 - j / len(words) for j in range(1, len(words) + 1)]) for words in sentences]
    beta = [pad([2.0 * j / len(words) - 1.0 for j in range(1, len(words) + 1)]) for words in sentences]
    return torch.tensor(ids), torch.tensor(alpha), torch.tensor(beta)


def tensors(stories, memory):
    """A batch's slots (the latest sentence first), their mask, the questions, the answers."""
    width = max(len(w) for story in stories for w in story[0] + [story[1]])
    slots = []
    for statements, _, _ in stories:
        kept = list(reversed(statements))[:memory]
        slots.extend(kept + [[]] * (memory - len(kept)))
    story = position_weights(slots, width)
    filled = torch.tensor([[1.0] * min(len(s[0]), memory) + [0.0] * (memory - min(len(s[0]), memory)) for s in stories])
    question = position_weights([s[1] for s in stories], width)
    answers = torch.tensor([s[2] for s in stories])
    return story, filled, question, answers


def encode(table, ids, alpha, beta, k_over_d):
    # Σ_j (α_j + (k/d) β_j) E[x_j, k]: the paper's l_kj.
    words = table[ids]  # [..., W, d]
    weights = alpha[..., None] + beta[..., None] * k_over_d
    return (words * weights).sum(-2)


def loss_of(p, config, batch, softmax):
    (ids, alpha, beta), filled, (q_ids, q_alpha, q_beta), answers = batch
    hops, d, memory = config["hops"], config["embedding"], config["memory"]
    k_over_d = torch.arange(1, d + 1, dtype=torch.float32) / d
    b = filled.shape[0]

    def slots(k):
        words = encode(p[f"embedding.{k}"], ids, alpha, beta, k_over_d).reshape(b, memory, d)
        return (words + p[f"temporal.{k}"][None]) * filled[..., None]

    u = encode(p["embedding.0"], q_ids, q_alpha, q_beta, k_over_d)
    blocked = (filled - 1.0) * 1e9
    m = slots(0)
    for k in range(1, hops + 1):
        c = slots(k)
        scores = torch.bmm(m, u[:, :, None])[:, :, 0]
        weights = torch.softmax(scores + blocked, -1) if softmax else scores
        u = u + torch.bmm(weights[:, None, :], c)[:, 0]
        m = c
    logits = u @ p[f"embedding.{hops}"].T
    return F.cross_entropy(logits, answers)


def main():
    folder, runs = Path(sys.argv[1]), int(sys.argv[2])
    config = json.loads((folder / "config.json").read_text())
    given = json.loads((folder / "batches.json").read_text())
    linear_until, batches = given["linear_until"], given["batches"]
    validation = tensors(given["validation"], config["memory"])
    batches = [tensors(stories, config["memory"]) for stories in batches]
    times, first, last = [], None, None
    for _ in range(runs):
        p = {k: v.clone().requires_grad_(True) for k, v in load_file(folder / "model.safetensors").items()}
        optimiser = torch.optim.Adam(p.values(), lr=0.01, betas=(0.9, 0.999), eps=1e-8)
        started = time.perf_counter()
        for i, batch in enumerate(batches):
            loss = loss_of(p, config, batch, i >= linear_until)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(p.values(), 40.0)
            optimiser.step()
            if i + 1 <= linear_until and (i + 1) % 25 == 0:
                with torch.no_grad():
                    loss_of(p, config, validation, False).item()
            if i == 0:
                first = loss.item()
            last = loss.item()
        times.append((time.perf_counter() - started) * 1000.0)
    print(json.dumps({"first_loss": first, "last_loss": last, "ms": times}))


main()
