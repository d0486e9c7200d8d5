#!/usr/bin/env python3
"""The models' own position tables, made by the models' own packages, for the engine's tests
(issue 32): tests/fixtures/positions/positions.json.

Usage, from the project's root, in the venv `tools.sh --bench` makes (transformers, torch,
safetensors, onnx), after `make models`:
    .cache/torch/bin/python scripts/positions_reference.py

What each entry is, and who made it (none of it is the engine's code):
- smollm2-135m, gemma3-270m: the inverse frequencies transformers' own rotary classes make
  (`LlamaRotaryEmbedding.compute_default_rope_parameters`; `Gemma3RotaryEmbedding`'s
  `full_attention_inv_freq` and `sliding_attention_inv_freq`) from configs with the sizes the
  GGUF files give (SmolLM2: head 64, base 1e5; Gemma 3 270M: head 256, bases 1e6 and 1e4, 18
  layers), and which layers Gemma3TextConfig's `layer_types` makes windowed.
- all-minilm-l6-v2: rows of the checkpoint's `embeddings.position_embeddings.weight`, read by
  safetensors, and every row's sum.
- en-pt: rows of transformers' `sinusoids(128, 256)` (models/whisper/modeling_whisper.py),
  the function that makes Marian's table (not MarianSinusoidalPositionalEmbedding, whose
  frequencies differ: docs/notes/positions.md).
- whisper-tiny-en: rows of the CTranslate2 file's encoder and decoder tables (read by
  scripts/whisper_reference.py's reader), and of `sinusoids(1500, 384)`, which transformers
  fills the encoder's table with.
- dinov2-small: transformers' `Dinov2Embeddings.interpolate_pos_encoding` at 224 pixels on the
  ONNX file's table (mapped by scripts/vit_reference.py): the class row and two patches, and
  patch (8, 8)'s cosine similarity with every patch.
- tiny/<family> (tests/fixtures/tiny, the families a person's files may be): the rotary
  frequencies of the model transformers builds from the family's config.json (its
  `rotary_emb` buffers: Gemma 3's two), and which layers Gemma 3 windows; a learned table's
  first rows as the checkpoint stores them, from the row position 0 reads (RoBERTa: 2).
"""
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
MODELS = os.path.join(ROOT, "assets", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "positions")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SINUSOID_ROWS = [0, 1, 10, 127]
WHISPER_ROWS = [0, 10, 127]
# DINOv2 at 224 px: the class row, then patches (0, 15), (8, 8) of 16 × 16.
GRID_ROWS = [0, 16, 1 + 8 * 16 + 8]


def short(x):
    """A float32 as the 9 significant digits that name it exactly."""
    return float(f"{float(x):.9g}")


def rows(table, which):
    return [[short(x) for x in np.asarray(table[i], dtype=np.float32)] for i in which]


def rotary():
    from transformers import Gemma3TextConfig, LlamaConfig
    from transformers.models.gemma3.modeling_gemma3 import Gemma3RotaryEmbedding
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    smollm2 = LlamaConfig(hidden_size=576, num_attention_heads=9, num_key_value_heads=3, head_dim=64, rope_theta=100000.0,
                          max_position_embeddings=8192)
    inv_freq, _ = LlamaRotaryEmbedding.compute_default_rope_parameters(smollm2)
    gemma = Gemma3TextConfig(hidden_size=640, num_attention_heads=4, num_key_value_heads=1, head_dim=256, num_hidden_layers=18,
                             rope_theta=1_000_000.0, rope_local_base_freq=10_000.0, sliding_window=512, max_position_embeddings=32768)
    embedding = Gemma3RotaryEmbedding(gemma)
    windowed = [i for i, t in enumerate(gemma.layer_types) if t == "sliding_attention"]
    full = [i for i, t in enumerate(gemma.layer_types) if t == "full_attention"]
    return {
        "smollm2-135m": {"rotary": [{"layers": list(range(30)), "inv_freq": [short(f) for f in inv_freq]}]},
        "gemma3-270m": {"rotary": [
            {"layers": windowed, "inv_freq": [short(f) for f in embedding.sliding_attention_inv_freq]},
            {"layers": full, "inv_freq": [short(f) for f in embedding.full_attention_inv_freq]},
        ]},
    }


def minilm():
    from safetensors.numpy import load_file
    table = load_file(os.path.join(MODELS, "all-minilm-l6-v2", "model.safetensors"))["embeddings.position_embeddings.weight"]
    return {"learned": [{"rows": rows(table, [0, 100, 511]), "which": [0, 100, 511],
                         "sums": [short(s) for s in table.astype(np.float64).sum(axis=1)]}]}


def sinusoid_rows(length, channels, which):
    from transformers.models.whisper.modeling_whisper import sinusoids
    return rows(sinusoids(length, channels).numpy(), which)


def whisper():
    from whisper_reference import read_ct2
    _, _, v = read_ct2(os.path.join(MODELS, "whisper-tiny-en", "model.bin"))
    encoder = np.asarray(v["encoder/position_encodings/encodings"], dtype=np.float32)
    decoder = np.asarray(v["decoder/position_encodings/encodings"], dtype=np.float32)
    return {"learned": [
        {"rows": rows(encoder, WHISPER_ROWS), "which": WHISPER_ROWS, "sinusoids": sinusoid_rows(1500, 384, WHISPER_ROWS)},
        {"rows": rows(decoder, WHISPER_ROWS), "which": WHISPER_ROWS},
    ]}


def dinov2():
    from vit_reference import dinov2 as load
    model = load(os.path.join(MODELS, "dinov2-small", "vit_s_focus.onnx"))
    with torch.no_grad():
        dummy = torch.zeros(1, 1 + 16 * 16, 384)
        table = model.embeddings.interpolate_pos_encoding(dummy, 224, 224)[0].numpy()
    patches = table[1:]
    middle = patches[8 * 16 + 8]
    similarity = patches @ middle / (np.linalg.norm(patches, axis=1) * np.linalg.norm(middle))
    return {"grid": [{"rows": rows(table, GRID_ROWS), "which": GRID_ROWS, "middle_similarity": [short(s) for s in similarity]}]}


def tiny():
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoModel
    made = {}
    folder = os.path.join(ROOT, "tests", "fixtures", "tiny")
    learned = {"gpt2": ("wpe.weight", 0), "bert": ("embeddings.position_embeddings.weight", 0),
               "distilbert": ("embeddings.position_embeddings.weight", 0), "roberta": ("embeddings.position_embeddings.weight", 2)}
    for name in sorted(os.listdir(folder)):
        config = AutoConfig.from_pretrained(os.path.join(folder, name))
        if config.model_type in learned:
            tensors = load_file(os.path.join(folder, name, "model.safetensors"))
            key, offset = learned[config.model_type]
            table = next(v for k, v in tensors.items() if k.endswith(key))
            made[name] = {"learned": [{"offset": offset, "rows": rows(table, range(offset, offset + 8)), "which": list(range(8))}]}
            continue
        model = AutoModel.from_config(config)
        rotary = model.rotary_emb
        if hasattr(rotary, "sliding_attention_inv_freq"):
            windowed = [i for i, t in enumerate(config.layer_types) if t == "sliding_attention"]
            full = [i for i, t in enumerate(config.layer_types) if t == "full_attention"]
            sets = [{"layers": windowed, "inv_freq": [short(f) for f in rotary.sliding_attention_inv_freq]},
                    {"layers": full, "inv_freq": [short(f) for f in rotary.full_attention_inv_freq]}]
        else:
            sets = [{"layers": list(range(config.num_hidden_layers)), "inv_freq": [short(f) for f in rotary.inv_freq]}]
        made[name] = {"rotary": sets}
    return made


def main():
    import transformers
    made = {"made_by": "scripts/positions_reference.py", "transformers": transformers.__version__, "torch": torch.__version__}
    made.update(rotary())
    made["all-minilm-l6-v2"] = minilm()
    made["en-pt"] = {"sinusoidal": [{"rows": sinusoid_rows(128, 256, SINUSOID_ROWS), "which": SINUSOID_ROWS}]}
    made["whisper-tiny-en"] = whisper()
    made["dinov2-small"] = dinov2()
    made["tiny"] = tiny()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "positions.json"), "w") as f:
        json.dump(made, f)
    print("wrote tests/fixtures/positions/positions.json")


if __name__ == "__main__":
    main()
