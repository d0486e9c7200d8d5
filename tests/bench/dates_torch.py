"""Bahdanau's dates model (engine/src/rnn/seq2seq.rs, score `additive`) trained in PyTorch on
the same starting weights and the same batches as the engine, for the benchmark's anchor.

Usage: dates_torch.py FOLDER RUNS
FOLDER holds the engine's model at step 0 (config.json, model.safetensors) and batches.json
(each batch's padded source ids, lengths, previous symbols and targets). Prints JSON: the
first batch's loss (which must equal the engine's: the same model), the last batch's, and the
milliseconds of each run of every batch (one thread, as the engine's native row).
"""

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

torch.set_num_threads(1)


def gru_step(gi, h, recurrent, recurrent_bias):
    # PyTorch's gate order r, z, n; x·W with W [inputs, 3H] as the engine stores it.
    gh = h @ recurrent + recurrent_bias
    units = h.shape[1]
    r = torch.sigmoid(gi[:, :units] + gh[:, :units])
    z = torch.sigmoid(gi[:, units : 2 * units] + gh[:, units : 2 * units])
    n = torch.tanh(gi[:, 2 * units :] + r * gh[:, 2 * units :])
    return n + z * (h - n)


def loss_of(p, config, ids, lengths, previous, targets):
    batch, slots = ids.shape
    units = config["encoder_units"]
    x = p["source_embedding"][ids]
    real = (torch.arange(slots)[None, :] < lengths[:, None]).float()

    def read(prefix, order):
        gates = x @ p[prefix + ".input"] + p[prefix + ".input_bias"]
        h = torch.zeros(batch, units)
        outputs = [None] * slots
        for t in order:
            after = gru_step(gates[:, t], h, p[prefix + ".recurrent"], p[prefix + ".recurrent_bias"])
            h = h + (after - h) * real[:, t : t + 1]  # padding keeps the state
            outputs[t] = h
        return torch.stack(outputs, 1), h

    forward, _ = read("encoder.forward", range(slots))
    backward, first_backward = read("encoder.backward", reversed(range(slots)))
    annotations = torch.cat([forward, backward], 2)
    keys = annotations @ p["attention.key.weight"]
    blocked = (real - 1.0) * 1e9
    state = torch.tanh(first_backward @ p["bridge.weight"] + p["bridge.bias"])
    logits = []
    for t in range(previous.shape[1]):
        embedded = p["target_embedding"][previous[:, t]]
        query = (state @ p["attention.query.weight"])[:, None, :]
        scores = torch.tanh(keys + query) @ p["attention.v"] + blocked
        weights = torch.softmax(scores, -1)
        context = torch.bmm(weights[:, None, :], annotations)[:, 0]
        gates = torch.cat([embedded, context], 1) @ p["decoder.input"] + p["decoder.input_bias"]
        state = gru_step(gates, state, p["decoder.recurrent"], p["decoder.recurrent_bias"])
        logits.append(torch.cat([state, context], 1) @ p["output.weight"] + p["output.bias"])
    logits = torch.stack(logits, 1)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def main():
    folder, runs = Path(sys.argv[1]), int(sys.argv[2])
    config = json.loads((folder / "config.json").read_text())
    assert config["score"] == "additive", config
    batches = [
        tuple(torch.tensor(b[k]) for k in ("ids", "lengths", "previous", "targets"))
        for b in json.loads((folder / "batches.json").read_text())
    ]
    times, first, last = [], None, None
    for _ in range(runs):
        p = {k: v.clone().requires_grad_(True) for k, v in load_file(folder / "model.safetensors").items()}
        optimiser = torch.optim.Adam(p.values(), lr=0.01, betas=(0.9, 0.999), eps=1e-8)
        started = time.perf_counter()
        for i, (ids, lengths, previous, targets) in enumerate(batches):
            loss = loss_of(p, config, ids, lengths, previous, targets)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(p.values(), 5.0)
            optimiser.step()
            if i == 0:
                first = loss.item()
            last = loss.item()
        times.append((time.perf_counter() - started) * 1000.0)
    print(json.dumps({"first_loss": first, "last_loss": last, "ms": times}))


main()
