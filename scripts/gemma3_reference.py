#!/usr/bin/env python3
"""Reference maps for Gemma 3 270M, made by Hugging Face transformers reading the same GGUF.

Usage, from the project root, after `make models` (needs the venv `make bench` makes,
.cache/torch, with torch, transformers and gguf):

    .cache/torch/bin/python scripts/gemma3_reference.py

transformers builds the tokenizer from the GGUF's metadata and de-quantizes every tensor to
float32; the model then runs with eager attention in float32. Written into
tests/fixtures/reference/:

- `gemma3-270m.json`: the cases (key, name, text, ids, tokens; the causal run's ten likeliest
  next tokens with their logits) and `tokenizer_cases` (texts and the ids transformers gives
  them, odd ones included: runs of spaces, tabs, newlines, accents, emoji, digits, markup);
- `gemma3-270m.safetensors`: `<key>.<mask>.attn` float32 [layer, head, query, key] for the
  masks `causal` (the model's own: 512-token sliding windows on its local layers),
  `plain-causal` (no window on any layer) and `none` (nothing hidden). The long case (over
  600 tokens, past the window) keeps only its last `LONG_ROWS` query rows, where the window
  hides the oldest keys, under the two causal masks only: `<key>.<mask>.attn` is then
  [layer, head, LONG_ROWS, t], and the JSON says `rows_from`.

The same bytes on every run (single-threaded, deterministic torch).
"""

import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_models import run  # noqa: E402  (every layer's maps under a mask, and the last logits)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(ROOT, "assets", "models", "gemma3-270m")
GGUF = "gemma-3-270m-q4_k_m.gguf"
OUT = os.path.join(ROOT, "tests", "fixtures", "reference")
LONG_ROWS = 2

SHORT_CASES = ["cat", "cat-twice", "ioi", "unicode"]

# Past the 512-token window: a paragraph of plain English, numbered so no two sentences match.
LONG_TEXT = " ".join(
    f"Sentence {i}: the {animal} walked along the {place} and looked at the {thing} for a while."
    for i, (animal, place, thing) in enumerate(
        [(a, p, t) for a in ("cat", "dog", "fox", "owl") for p in ("river", "road", "hill", "wall")
         for t in ("moon", "trees", "boats")][:36])
)

TOKENIZER_TEXTS = [
    "The cat sat on the mat",
    " leading space",
    "two  spaces and   three",
    "tabs\tand\nnew\n\nlines",
    "    indented code():\n        return 42",
    "naïve café — résumé, Ærøskøbing, straße",
    "Emoji 🙂🚀 and CJK 注意力 and Arabic انتباه",
    "digits 1234567890 and 3.14159",
    "<b>markup</b> & entities &amp; <bos> literally",
    "UPPER lower MiXeD",
    "trailing spaces   ",
    "",
]


def log(message):
    print(f"[gemma3-reference] {message}", file=sys.stderr)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    with open(os.path.join(OUT, "cases.json")) as f:
        texts = {c["name"]: c["text"] for c in json.load(f) if "text" in c}
    cases = [(name, texts[name]) for name in SHORT_CASES] + [("long", LONG_TEXT)]

    tensors, listed = {}, []
    for index, (name, text) in enumerate(cases):
        key = f"case{index}"
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        t = ids.shape[-1]
        entry = {"key": key, "name": name, "text": text, "ids": ids[0].tolist(),
                 "tokens": tokenizer.convert_ids_to_tokens(ids[0].tolist())}
        maps = {}
        for mask in ("causal", "plain-causal", "none"):
            attn, logits = run(model, ids, mask)
            maps[mask] = attn
            if mask == "causal":
                top = torch.topk(logits, 10)
                entry["next_token_top10"] = {"ids": top.indices.tolist(),
                                             "tokens": tokenizer.convert_ids_to_tokens(top.indices.tolist()),
                                             "logits": [round(v, 4) for v in top.values.tolist()]}
        if name == "long":
            assert t > 512 + LONG_ROWS, f"the long text is only {t} tokens"
            # The window must really hide keys in the kept rows, or the test would prove nothing.
            assert (maps["causal"] - maps["plain-causal"])[:, :, -LONG_ROWS:].abs().max() > 1e-3
            entry["rows_from"] = t - LONG_ROWS
            # `none` adds nothing a short case does not test; the two causal masks are the point.
            maps = {m: a[:, :, -LONG_ROWS:].contiguous() for m, a in maps.items() if m != "none"}
        for mask, attn in maps.items():
            tensors[f"{key}.{mask}.attn"] = attn
        listed.append(entry)
        log(f"{key} {name}: {t} tokens")

    tokenizer_cases = [{"text": text, "ids": tokenizer(text)["input_ids"]} for text in TOKENIZER_TEXTS]
    generator = f"transformers {transformers.__version__}, torch {torch.__version__}, GGUF de-quantized to float32, eager attention"
    document = {"model": "gemma3-270m", "files": {GGUF: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"},
                "generator": generator, "layout": "attn tensors are [layer, head, query, key] float32",
                "cases": listed, "tokenizer_cases": tokenizer_cases}
    with open(os.path.join(OUT, "gemma3-270m.json"), "w") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")
    save_file(tensors, os.path.join(OUT, "gemma3-270m.safetensors"), metadata={"made_by": "scripts/gemma3_reference.py"})
    size = os.path.getsize(os.path.join(OUT, "gemma3-270m.safetensors"))
    log(f"wrote gemma3-270m.json and gemma3-270m.safetensors ({size // 1024} KB)")


if __name__ == "__main__":
    main()
