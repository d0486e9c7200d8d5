"""The native anchor of `make bench`: Hugging Face transformers on torch, on the CPU,
one thread, eager attention, every attention map returned, SmolLM2-135M de-quantized
from the same GGUF to float32 (as the reference maps were made). Prints, as JSON, the
forward pass's times per prompt: [{"tokens": n, "ms": [...]}, ...]. THREADS (default 1):
torch's threads; MAX_TOKENS: each prompt's tokens cut to at most that many.

    python torch_forward.py MODEL_DIR GGUF_NAME PROMPTS_JSON RUNS [THREADS [MAX_TOKENS]]
"""

import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def timed_forward(model, tokenizer, texts, runs, max_tokens=None):
    """Each text's forward pass, every map returned, timed `runs` times after a warm-up:
    [{"tokens": n, "ms": [...]}, ...]. (tests/bench/family_models.py times its models so too.)"""
    results = []
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids[:, :max_tokens]
            times = []
            for i in range(runs + 1):
                started = time.perf_counter()
                out = model(ids, output_attentions=True)
                assert len(out.attentions) == model.config.num_hidden_layers
                if i > 0:  # the first is a warm-up
                    times.append((time.perf_counter() - started) * 1000)
            results.append({"tokens": ids.shape[1], "ms": times})
    return results


if __name__ == "__main__":
    model_dir, gguf_name, prompts_path, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    max_tokens = int(sys.argv[6]) if len(sys.argv) > 6 else None
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=gguf_name, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    print(json.dumps(timed_forward(model, tokenizer, json.load(open(prompts_path)), runs, max_tokens)))
