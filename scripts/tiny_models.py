#!/usr/bin/env python3
"""Tiny random models of every architecture family the engine loads, and their reference maps.

Usage, from the project root (needs the venv `make bench` makes, .cache/torch, with torch and
transformers at the versions the other reference maps were made with):

    .cache/torch/bin/python scripts/tiny_models.py            # every family
    .cache/torch/bin/python scripts/tiny_models.py qwen3 ...   # some

For each family it builds a model with transformers from a small config (2 layers, width 32,
4 query heads, random weights from a fixed seed, float32), saves it as Hugging Face does
(config.json + model.safetensors) into tests/fixtures/tiny/<name>/, and runs it with eager
attention on fixed token ids, writing tests/fixtures/tiny/<name>/reference.safetensors:

- `ids` (int64 [t]);
- `causal` (float32 [layer, head, t, t]): the model's own mask (for a causal language model:
  its causal mask, sliding windows included where its config has them; for an encoder, the
  same weights run as a decoder, `is_decoder = true`);
- `plain-causal`: query i sees keys 0..=i on every layer, windows or not (a 4D additive
  causal mask given to the model);
- `none`: every query sees every key (for a causal model an all-zero 4D additive mask, the
  model run bidirectionally; an encoder's own mode);
- `logits` (float32 [vocab]): a causal language model's last position under its own mask.

Encoders (BERT, RoBERTa, DistilBERT) are run without a head; their own mode is `none`, and
`causal` is for them the plain causal mask, given as a 4D additive mask.

The files are a few tens of kilobytes each and the same bytes on every run (fixed seeds,
single-threaded torch); the tests read them, never this script.
"""

import os
import sys

import torch
import transformers
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tiny")
TOKENS = 12
SEED = 0

# What every tiny decoder shares: small enough to commit, big enough to have groups of heads.
DECODER = dict(
    vocab_size=96,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    initializer_range=0.3,  # peaked attention, so that a wrong map shows
    tie_word_embeddings=False,
)

# name -> (model class, config class, config arguments). Each is a family the engine reads
# from Hugging Face's layout, with the switches that family is known for turned on.
FAMILIES = {
    # Llama 2: rotate-half RoPE, grouped-query attention, RMSNorm, SwiGLU.
    "llama": ("LlamaForCausalLM", "LlamaConfig", dict(DECODER, rope_theta=10_000.0)),
    # Llama 3: RoPE frequencies rescaled (its "llama3" rope type), a large base.
    "llama3": ("LlamaForCausalLM", "LlamaConfig", dict(DECODER, rope_parameters={
        "rope_type": "llama3", "rope_theta": 500_000.0, "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 16})),
    # Mistral: Llama's layers with a sliding window (5 keys here) on every layer.
    "mistral": ("MistralForCausalLM", "MistralConfig", dict(DECODER, sliding_window=5)),
    # Qwen2: biases on the query, key and value projections; tied embeddings.
    "qwen2": ("Qwen2ForCausalLM", "Qwen2Config", dict(DECODER, tie_word_embeddings=True)),
    # Qwen3: RMSNorm on each head's queries and keys; a head size not width / heads.
    "qwen3": ("Qwen3ForCausalLM", "Qwen3Config", dict(DECODER, head_dim=12)),
    # Gemma: embeddings × √width, norms multiplying by 1 + w, tanh-approximated GELU, tied output.
    "gemma": ("GemmaForCausalLM", "GemmaConfig", dict(DECODER, head_dim=8, tie_word_embeddings=True,
                                                      hidden_activation="gelu_pytorch_tanh")),
    # Gemma 2: norms on both sides of each sublayer, its own query scaling, soft-capped
    # attention and logits (caps low enough to bite here), a window on every other layer.
    # Its query scaling is 1/√head_dim here, as in the real 2B and 9B (and what llama.cpp's
    # GGUF assumes, which has no place for it); gemma2_scaled scales by another number.
    "gemma2": ("Gemma2ForCausalLM", "Gemma2Config", dict(DECODER, head_dim=8, tie_word_embeddings=True,
                                                         query_pre_attn_scalar=8, attn_logit_softcapping=3.0,
                                                         final_logit_softcapping=4.0, sliding_window=4)),
    "gemma2_scaled": ("Gemma2ForCausalLM", "Gemma2Config", dict(DECODER, head_dim=8, tie_word_embeddings=True,
                                                                query_pre_attn_scalar=12, attn_logit_softcapping=3.0,
                                                                final_logit_softcapping=4.0, sliding_window=4)),
    # Gemma 3: q/k norms, five windowed layers with their own rotary base, then a global one
    # (six layers: its default pattern, which llama.cpp assumes for every Gemma 3 GGUF).
    "gemma3": ("Gemma3ForCausalLM", "Gemma3TextConfig", dict(DECODER, head_dim=8, tie_word_embeddings=True,
                                                             num_hidden_layers=6, query_pre_attn_scalar=8,
                                                             sliding_window=4)),
    # Phi-3: fused q|k|v and gate|up projections; here half of each head rotates (as Phi-4-mini's 3/4).
    "phi3": ("Phi3ForCausalLM", "Phi3Config", dict(DECODER, partial_rotary_factor=0.5, sliding_window=None,
                                                     pad_token_id=0, bos_token_id=1, eos_token_id=2)),
    # GPT-NeoX (Pythia): LayerNorm, fused per-head q|k|v with biases, a quarter of each head
    # rotating, attention and feed-forward side by side from the same input.
    "gpt_neox": ("GPTNeoXForCausalLM", "GPTNeoXConfig", dict(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=64, initializer_range=0.3, rotary_pct=0.25, use_parallel_residual=True,
        tie_word_embeddings=False)),
}

# Encoders: their own mode is unmasked; `causal` and `plain-causal` give them the causal
# mask as a 4D additive mask. They have no language-model head here.
ENCODER = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               max_position_embeddings=64, initializer_range=0.3)
ENCODERS = {
    "bert": ("BertModel", "BertConfig", dict(ENCODER, type_vocab_size=2)),
    # RoBERTa: positions counted from the padding id + 1, one token type.
    "roberta": ("RobertaModel", "RobertaConfig", dict(ENCODER, max_position_embeddings=66, pad_token_id=1,
                                                      type_vocab_size=1)),
    # DistilBERT: BERT's layers under other names, no token types.
    "distilbert": ("DistilBertModel", "DistilBertConfig", dict(
        vocab_size=96, dim=32, hidden_dim=64, n_layers=2, n_heads=4, max_position_embeddings=64,
        initializer_range=0.3)),
}
FAMILIES.update(ENCODERS)
# GPT-2 (its own tiny model in tests/fixtures/reference/tiny-gpt2 predates these; this one has
# the same layout as the others, for its GGUF). Last, so no other family's seed moves.
FAMILIES["gpt2"] = ("GPT2LMHeadModel", "GPT2Config", dict(
    vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64, n_ctx=64, initializer_range=0.3,
    tie_word_embeddings=True))


# StableLM (after GPT-2, so no other family's seed moves): LayerNorms with biases, half of
# each head rotating, biases on q, k, v, a LayerNorm of its own on each head's queries and
# keys; then the same with attention and feed-forward side by side from one normed input.
FAMILIES["stablelm"] = ("StableLmForCausalLM", "StableLmConfig", dict(
    DECODER, partial_rotary_factor=0.5, use_qkv_bias=True, qk_layernorm=True, use_parallel_residual=False))
FAMILIES["stablelm_parallel"] = ("StableLmForCausalLM", "StableLmConfig", dict(
    DECODER, partial_rotary_factor=0.25, use_parallel_residual=True, tie_word_embeddings=True))


def log(message):
    print(f"[tiny] {message}", flush=True)


def seed_of(name):
    """A seed per family, so that no two share their weights."""
    return SEED + list(FAMILIES).index(name)


def build(name):
    model_class, config_class, arguments = FAMILIES[name]
    torch.manual_seed(seed_of(name))
    config = getattr(transformers, config_class)(**arguments)
    config._attn_implementation = "eager"
    model = getattr(transformers, model_class)(config).eval().to(torch.float32)
    # Norm weights start as ones (or zeros, for Gemma's 1 + w): give them values, so
    # that a norm read wrongly shows in the maps.
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            if "norm" in parameter_name.lower():
                parameter.add_(0.2 * torch.randn(parameter.shape))
    return model


def run(model, ids, mask):
    """Every layer's attention [layer, head, t, t] and the last position's logits."""
    t = ids.shape[-1]
    kwargs = {}
    if mask == "none":
        # An all-zero additive mask: nothing hidden.
        kwargs["attention_mask"] = torch.zeros(1, 1, t, t, dtype=torch.float32)
    elif mask == "plain-causal":
        # The causal mask, the same on every layer: no window.
        hidden = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        kwargs["attention_mask"] = hidden.reshape(1, 1, t, t)
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, use_cache=False, **kwargs)
    maps = torch.stack([a[0] for a in out.attentions]).contiguous()
    logits = out.logits[0, -1].contiguous() if hasattr(out, "logits") else None
    return maps, logits


def write(name):
    model = build(name)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(folder, extra)
        if os.path.exists(path):
            os.remove(path)
    generator = torch.Generator().manual_seed(seed_of(name) + 1000)
    ids = torch.randint(3, model.config.vocab_size, (1, TOKENS), generator=generator)
    encoder = name in ENCODERS
    causal, logits = run(model, ids, "plain-causal" if encoder else "causal")
    none, _ = run(model, ids, "none")
    plain, _ = run(model, ids, "plain-causal")
    # The unmasked run must really differ, or the test of the mask would prove nothing.
    assert (causal - none).abs().max() > 1e-2, f"{name}: the masks give the same maps"
    windowed = any(t == "sliding_attention" for t in getattr(model.config, "layer_types", None) or [])
    windowed = windowed or getattr(model.config, "model_type", "") == "mistral"
    # A window must really hide keys here, or the test of it would prove nothing.
    assert not windowed or (causal - plain).abs().max() > 1e-2, f"{name}: the window hides nothing"
    tensors = {"ids": ids[0].contiguous(), "causal": causal, "plain-causal": plain, "none": none}
    if logits is not None:
        tensors["logits"] = logits
    save_file(tensors, os.path.join(folder, "reference.safetensors"),
              # One key: the writer orders several differently from run to run.
              metadata={"made_by": f"scripts/tiny_models.py, transformers {transformers.__version__}, torch {torch.__version__}"})
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    log(f"{name}: {model.config.num_hidden_layers} layers, {size // 1024} KB in tests/fixtures/tiny/{name}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    names = sys.argv[1:] or list(FAMILIES)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        sys.exit(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    for name in names:
        write(name)


if __name__ == "__main__":
    main()
