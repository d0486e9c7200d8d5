"""Models of the sizes of GPT-2 small and Pythia-160m (GPT-NeoX) for `bench families`, made
here with random weights, and transformers' time on them, the rows' anchor.

The project fetches no real GPT-2 or GPT-NeoX model (none is on PyPI in a form it may use), and
a forward pass costs the same whatever its weights hold: so the benchmark makes each model in
its real shape (GPT-2 small: 12 layers, 12 heads, width 768, learned positions, GELU; Pythia-160m:
the same sizes with rotary embedding over a quarter of each head, parallel attention and
feed-forward, untied readout, vocabulary padded to 50,304), from seed 0, in float32, saved as
Hugging Face saves them (config.json, model.safetensors). Their tokenizer is GPT-2's byte-level
BPE: Whisper tiny.en's tokenizer.json (GPT-2's 50,257 tokens and merges) without Whisper's
special tokens around a text. A folder already made is kept (`done` holds what made it).

Then, for each model and prompt: transformers on torch, eager attention, every map returned, on
THREADS threads (default 1), the median's runs after a warm-up; prints JSON:
{"models": [{"id", "parameters", "prompts": [{"tokens", "ms": [...]}]}]}.

    python family_models.py OUT_DIR WHISPER_TOKENIZER_JSON PROMPTS_JSON RUNS [THREADS]
"""

import json
import os
import sys

import torch
import transformers

from torch_forward import timed_forward  # beside this script

out_dir, tokenizer_path, prompts_path, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1
torch.set_num_threads(threads)

# id -> (model class, config class, config): the published models' sizes.
FAMILIES = {
    "gpt2-small-shaped": ("GPT2LMHeadModel", "GPT2Config", dict(
        vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
        bos_token_id=50256, eos_token_id=50256,
    )),
    "pythia-160m-shaped": ("GPTNeoXForCausalLM", "GPTNeoXConfig", dict(
        vocab_size=50304, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, rotary_pct=0.25, rotary_emb_base=10000, max_position_embeddings=2048,
        use_parallel_residual=True, tie_word_embeddings=False, bos_token_id=0, eos_token_id=0,
    )),
}


def gpt2_tokenizer(whisper_tokenizer):
    """GPT-2's tokenizer.json from Whisper tiny.en's: the same byte-level BPE vocabulary and
    merges; only <|endoftext|> (50256) kept of the added tokens, nothing put around a text."""
    tokenizer = json.load(open(whisper_tokenizer))
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["id"] == 50256]
    tokenizer["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    return tokenizer


def make(model_id, folder):
    """Makes the model in `folder` unless it is there already, made by the same recipe."""
    model_class, config_class, config = FAMILIES[model_id]
    recipe = json.dumps({"transformers": transformers.__version__, "config": config, "seed": 0}, sort_keys=True)
    done = os.path.join(folder, "done")
    if os.path.isfile(done) and open(done).read() == recipe:
        return
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    model = getattr(transformers, model_class)(getattr(transformers, config_class)(**config)).to(torch.float32)
    model.save_pretrained(folder, safe_serialization=True)
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(gpt2_tokenizer(tokenizer_path), f, ensure_ascii=False)
    with open(done, "w") as f:
        f.write(recipe)


results = []
prompts = json.load(open(prompts_path))
for model_id in FAMILIES:
    folder = os.path.join(out_dir, model_id)
    make(model_id, folder)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"))
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    timed = timed_forward(model, tokenizer, prompts, runs)
    results.append({"id": model_id, "parameters": sum(p.numel() for p in model.parameters()), "prompts": timed})
print(json.dumps({"models": results}))
