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

Not run by the tests (they read the committed fixtures). Usage, from the project's root:
    KERAS_BACKEND=torch .cache/torch/bin/python scripts/rnn_reference.py
"""
import json
import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

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


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    for make in (khmer_translit,):
        made = make()
        with open(os.path.join(FIXTURES, f"{made['model']}.json"), "w", encoding="utf-8") as f:
            json.dump(made, f, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    main()
