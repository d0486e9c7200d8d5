"""The anchor of the sweep row in `make bench`: the ablation sweep as TransformerLens
runs one (`run_with_hooks` once per head, every run from the first layer), here with
Hugging Face transformers on torch, one thread, eager attention, float32 from the same
GGUF. Each head is zeroed by a forward pre-hook on its layer's output projection (the
head's slice of its input, TransformerLens's `z`). Prints, as JSON, the sweeps' times and
the last sweep's effects on the logit difference: {"ms": [...], "effects": [...]}.

    python sweep_torch.py MODEL_DIR GGUF_NAME TEXT ANSWER VERSUS RUNS
"""

import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

model_dir, gguf_name, text, answer, versus, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
torch.set_num_threads(1)
tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_name)
model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=gguf_name, dtype=torch.float32, attn_implementation="eager").eval()
config = model.config
heads, head_dim = config.num_attention_heads, config.hidden_size // config.num_attention_heads
ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids


def one_token(text):
    found = tokenizer(text, add_special_tokens=False).input_ids
    assert len(found) == 1, f"{text!r} is {len(found)} tokens"
    return found[0]


token, other = one_token(answer), one_token(versus)


def measure(logits):
    return (logits[0, -1, token] - logits[0, -1, other]).item()


def sweep():
    baseline = measure(model(ids).logits)
    effects = []
    for layer, block in enumerate(model.model.layers):
        for head in range(heads):
            def zero(module, args, head=head):
                z = args[0].clone()
                z[..., head * head_dim:(head + 1) * head_dim] = 0
                return (z,)
            handle = block.self_attn.o_proj.register_forward_pre_hook(zero)
            effects.append(measure(model(ids).logits) - baseline)
            handle.remove()
    return effects


times = []
with torch.inference_mode():
    for i in range(runs + 1):
        started = time.perf_counter()
        effects = sweep()
        if i > 0:  # the first is a warm-up
            times.append((time.perf_counter() - started) * 1000)
print(json.dumps({"ms": times, "effects": effects}))
