#!/usr/bin/env python3
"""What a tokenizer_config.json does to the tokens around a text, as transformers reads it.

Usage, from the project root (the venv `make bench` makes, .cache/torch):

    .cache/torch/bin/python scripts/tokenizer_config_reference.py

For each config below, transformers loads all-MiniLM-L6-v2's tokenizer.json (assets/models/)
with that tokenizer_config.json beside it and tokenizes a few texts; the configs and the ids go
to tests/fixtures/tokenizer_config/cases.json. What it shows, for transformers 5.23: with a
tokenizer.json there, the tokenizer is tokenizer.json's alone; the config's `add_bos_token` and
`add_eos_token` do not change the tokens around a text (the ids are the same under every
config). attnscope reads tokenizer.json alone too, and the tests hold it to these ids.
"""

import json
import os
import shutil
import tempfile

import transformers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "assets", "models", "all-minilm-l6-v2", "tokenizer.json")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer_config", "cases.json")
TEXTS = ["The cat sat on the mat", "naïve café", "a"]

CONFIGS = {
    "bos-only": {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": True, "bos_token": "[CLS]", "eos_token": "[SEP]"},
    "both-as-objects": {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": True, "add_eos_token": True,
                        "bos_token": {"__type": "AddedToken", "content": "[SEP]", "special": True}, "eos_token": {"__type": "AddedToken", "content": "[CLS]", "special": True}},
    "neither": {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False, "add_eos_token": False},
    "silent": {"tokenizer_class": "PreTrainedTokenizerFast"},
}


def main():
    cases = []
    for name, config in CONFIGS.items():
        with tempfile.TemporaryDirectory() as folder:
            shutil.copy(SOURCE, os.path.join(folder, "tokenizer.json"))
            with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
                json.dump(config, f)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            ids = [tokenizer(text)["input_ids"] for text in TEXTS]
        cases.append({"name": name, "config": config, "texts": TEXTS, "ids": ids})
        print(f"[tokenizer-config] {name}: {ids[0]}")
    with open(OUT, "w") as f:
        json.dump({"generator": f"transformers {transformers.__version__}", "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
