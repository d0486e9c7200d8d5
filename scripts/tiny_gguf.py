#!/usr/bin/env python3
"""GGUF copies of the tiny models, made by llama.cpp's own converter.

Usage, from the project root, after scripts/tiny_models.py (same venv, .cache/torch):

    .cache/torch/bin/python scripts/tiny_gguf.py            # every family llama.cpp converts
    .cache/torch/bin/python scripts/tiny_gguf.py gemma3 ... # some

llama.cpp's `convert_hf_to_gguf.py` (with its `conversion` package and `gguf-py`) comes from
the source distribution of the PyPI package llama-cpp-python (pinned below, sha256 checked),
which vendors llama.cpp; it is unpacked once into .cache/llama-cpp/. Each tiny model folder
(tests/fixtures/tiny/<name>/, config.json + model.safetensors) is converted at float32 into
tests/fixtures/tiny/<name>/ (see `unpack`: the file's tensors and metadata, which the tests
write back into a GGUF): the weights, their names, llama.cpp's permutation of a
Llama's q and k rows, Gemma's norms stored as 1 + w, the metadata, all as llama.cpp writes them.

The tiny models have no tokenizer, which the converter insists on: its `set_vocab` is replaced
by one that writes a plain vocabulary of the model's size (`<t0>`, `<t1>`, ...). Nothing else
of the converter is touched. The tests run these files on token ids against the same reference
maps as the safetensors (tests/fixtures/tiny/<name>/reference.safetensors).
"""

import hashlib
import os
import sys
import tarfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "fixtures", "tiny")
CACHE = os.path.join(ROOT, ".cache", "llama-cpp")

SDIST = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# What to take from it: the converter, its package and the gguf writer.
MEMBERS = ("vendor/llama.cpp/convert_hf_to_gguf.py", "vendor/llama.cpp/conversion/", "vendor/llama.cpp/gguf-py/")

# The families llama.cpp converts.
FAMILIES = ["llama", "llama3", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3",
            "gpt2", "gpt_neox", "bert", "roberta", "distilbert"]


def log(message):
    print(f"[tiny-gguf] {message}", flush=True)


def sdist_url():
    """The sdist's address, as PyPI's JSON API gives it."""
    import json
    with urllib.request.urlopen("https://pypi.org/pypi/llama-cpp-python/0.3.36/json", timeout=60) as answer:
        files = json.load(answer)["urls"]
    url = next(f["url"] for f in files if f["filename"] == SDIST)
    return urllib.parse.urljoin("https://pypi.org/pypi/llama-cpp-python/0.3.36/json", url)


def ensure_converter():
    """The converter unpacked in .cache/llama-cpp/llama.cpp/, from the checked sdist."""
    target = os.path.join(CACHE, "llama.cpp")
    stamp = os.path.join(CACHE, "unpacked.stamp")
    if os.path.exists(stamp) and open(stamp).read() == SDIST_SHA256:
        return target
    os.makedirs(CACHE, exist_ok=True)
    archive = os.path.join(CACHE, SDIST)
    if not os.path.exists(archive):
        log(f"downloading {SDIST} (77 MB) from PyPI")
        urllib.request.urlretrieve(sdist_url(), archive + ".part")
        os.replace(archive + ".part", archive)
    digest = hashlib.sha256(open(archive, "rb").read()).hexdigest()
    if digest != SDIST_SHA256:
        os.remove(archive)
        sys.exit(f"{SDIST}: sha256 {digest}, expected {SDIST_SHA256}")
    prefix = SDIST[: -len(".tar.gz")] + "/"
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            inner = member.name[len(prefix):] if member.name.startswith(prefix) else None
            if inner and any(inner == m or inner.startswith(m) for m in MEMBERS) and member.isfile():
                member.name = os.path.join("llama.cpp", inner[len("vendor/llama.cpp/"):])
                tar.extract(member, CACHE, filter="data")
    with open(stamp, "w") as f:
        f.write(SDIST_SHA256)
    return target


def plain_vocabulary(self):
    """Stands in for the converter's `set_vocab`: `<tN>` for every id, no merges."""
    size = self.hparams["vocab_size"]
    self.gguf_writer.add_tokenizer_model("llama")
    self.gguf_writer.add_tokenizer_pre("default")
    self.gguf_writer.add_token_list([f"<t{i}>" for i in range(size)])
    self.gguf_writer.add_token_scores([0.0] * size)
    self.gguf_writer.add_token_types([1] * size)


def convert(converter_dir, name):
    import json
    folder = os.path.join(TINY, name)
    out = os.path.join(folder, "model.gguf")
    sys.argv = ["convert_hf_to_gguf.py", folder, "--outfile", out, "--outtype", "f32"]
    import convert_hf_to_gguf  # noqa: E402  (from converter_dir, on sys.path)
    # The Gemma 3 converter counts the vocabulary in a tokenizer.json: a plain one, for the time of the run.
    tokenizer = os.path.join(folder, "tokenizer.json")
    size = json.load(open(os.path.join(folder, "config.json")))["vocab_size"]
    with open(tokenizer, "w") as f:
        json.dump({"model": {"vocab": {f"<t{i}>": i for i in range(size)}}, "added_tokens": []}, f)
    try:
        convert_hf_to_gguf.main()
    finally:
        os.remove(tokenizer)
    unpack(out, folder)
    os.remove(out)
    log(f"{name}: unpacked into tests/fixtures/tiny/{name}/gguf.safetensors and gguf-metadata.json")


def unpack(gguf_path, folder):
    """The converted file's contents, kept as what the project commits (no .gguf weights):
    gguf.safetensors (every tensor by its GGUF name, float32, in the file's order of
    dimensions) and gguf-metadata.json (every key with its GGUF type and value, in the
    file's order). The tests write them back into a GGUF with candle's writer: llama.cpp's
    names, permutations, 1 + w norms, fused projections and metadata, in candle's layout."""
    import json
    import numpy as np
    from safetensors.numpy import save_file
    import gguf
    reader = gguf.GGUFReader(gguf_path)
    metadata = []
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.alignment":
            continue
        types = [t.name for t in field.types]
        value = field.contents()
        metadata.append({"key": key, "type": types, "value": value})
    tensors = {t.name: np.ascontiguousarray(np.asarray(t.data, dtype=np.float32)) for t in reader.tensors}
    save_file(tensors, os.path.join(folder, "gguf.safetensors"), metadata={"made_by": "scripts/tiny_gguf.py"})
    with open(os.path.join(folder, "gguf-metadata.json"), "w") as f:
        json.dump(metadata, f, indent=0)
        f.write("\n")


def main():
    names = sys.argv[1:] or FAMILIES
    converter_dir = ensure_converter()
    sys.path.insert(0, converter_dir)
    sys.path.insert(1, os.path.join(converter_dir, "gguf-py"))
    import conversion  # noqa: E402

    # The model class the converter picks (its modules load on demand) gets the plain
    # vocabulary; the converter looks the class up through this function.
    pick = conversion.get_model_class

    def pick_with_plain_vocabulary(*args, **kwargs):
        cls = pick(*args, **kwargs)
        cls.set_vocab = plain_vocabulary
        return cls

    conversion.get_model_class = pick_with_plain_vocabulary

    # GPT-NeoX's converter reads `rotary_pct`, which the config transformers 5 hands it no
    # longer has (it is `rope_parameters.partial_rotary_factor` there): given back under the
    # old name. Nothing else of the settings changes.
    from conversion.base import ModelBase
    load_hparams = ModelBase.load_hparams

    def with_rotary_pct(*args, **kwargs):
        hparams = load_hparams(*args, **kwargs)
        share = (hparams.get("rope_parameters") or {}).get("partial_rotary_factor")
        if hparams.get("model_type") == "gpt_neox" and "rotary_pct" not in hparams and share is not None:
            hparams["rotary_pct"] = share
        return hparams

    ModelBase.load_hparams = staticmethod(with_rotary_pct)
    for name in names:
        if name not in FAMILIES:
            sys.exit(f"unknown family {name}; llama.cpp converts: {', '.join(FAMILIES)}")
        convert(converter_dir, name)


if __name__ == "__main__":
    main()
