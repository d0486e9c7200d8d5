#!/usr/bin/env python3
"""Reference runs for interventions, made by Hugging Face transformers with hooks.

Usage, from the project root, after `make models` (needs the venv `make bench` makes,
.cache/torch, with torch, transformers and gguf):

    .cache/torch/bin/python scripts/intervention_reference.py            # every model
    .cache/torch/bin/python scripts/intervention_reference.py stablelm   # some tiny ones only

A head's output is the slice of the output projection's input that the head writes
(TransformerLens's `z`): a forward pre-hook on that projection zeroes it, replaces it by
its mean over the positions, or puts in the slice a run of another text gave. A head's
pattern is patched inside an eager attention function of this script's (for the Llama
family; it first reproduces transformers' own to the last bit). Direct logit
attribution is done here from hooks too: each head's slice times its columns of the
output projection, the feed-forwards' outputs, the embeddings, through the final norm
with its scale frozen at the run's. Everything runs in float32, eagerly, one thread.

Models: SmolLM2-135M (its GGUF, de-quantized by transformers) and the tiny random
models of tests/fixtures/tiny of the families whose attention is built differently
(GPT-2, GPT-NeoX, Qwen2 with biases, Gemma 3 with norms after each sublayer, StableLM with
its per-head norms). Written
into tests/fixtures/intervention/: `<model>.json` (texts, ids, what each case changed,
the ten likeliest next tokens with logits, the answers' logits, attributions, sweeps)
and `<model>.safetensors` (`<case>.attn`: the changed run's last `ROWS` query rows of
every layer, [layer, head, ROWS, t]).
"""

import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "intervention")
ROWS = 3

TEXT = "When Mary and John went to the store, John gave a drink to"
SOURCE = "When Mary and John went to the store, Mary gave a drink to"
MEANS = "The cat sat on the mat and looked at the birds."


def log(message):
    print(f"[intervention-reference] {message}", file=sys.stderr)


class Family:
    """Where a family keeps its layers, output projections, feed-forwards and final norm."""

    def __init__(self, model):
        self.model = model
        kind = model.config.model_type
        self.kind = kind
        if kind == "gpt2":
            self.layers = model.transformer.h
            self.o_proj = lambda l: self.layers[l].attn.c_proj
            self.o_weight = lambda l: self.o_proj(l).weight.T  # Conv1D keeps [in, out]
            self.final_norm = model.transformer.ln_f
            self.unembedding = model.lm_head.weight
            self.heads = model.config.n_head
        elif kind == "gpt_neox":
            self.layers = model.gpt_neox.layers
            self.o_proj = lambda l: self.layers[l].attention.dense
            self.o_weight = lambda l: self.o_proj(l).weight
            self.final_norm = model.gpt_neox.final_layer_norm
            self.unembedding = (getattr(model, "embed_out", None) or model.lm_head).weight
            self.heads = model.config.num_attention_heads
        else:
            self.layers = model.model.layers
            self.o_proj = lambda l: self.layers[l].self_attn.o_proj
            self.o_weight = lambda l: self.o_proj(l).weight
            self.final_norm = model.model.norm
            self.unembedding = model.lm_head.weight
            self.heads = model.config.num_attention_heads
        self.hidden = self.unembedding.shape[1]
        self.d = self.o_weight(0).shape[1] // self.heads

    def post_attention_norm(self, l):
        """Gemma 2 and 3 norm the attention's output before it joins the stream."""
        layer = self.layers[l]
        return layer.post_attention_layernorm if hasattr(layer, "pre_feedforward_layernorm") else None

    def feed_forward_out(self, l):
        """The module whose output is the feed-forward's write into the stream."""
        layer = self.layers[l]
        if hasattr(layer, "post_feedforward_layernorm"):
            return layer.post_feedforward_layernorm
        return layer.mlp


# --- one run with hooks -------------------------------------------------------------

PATTERNS = {}  # layer -> [(head, pattern [t, t])], read by the patched eager attention


def llama_eager(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager attention for the Llama family, with patterns put in."""
    from transformers.models.llama.modeling_llama import repeat_kv
    key_states = repeat_kv(key, module.num_key_value_groups)
    value_states = repeat_kv(value, module.num_key_value_groups)
    weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask[:, :, :, : key_states.shape[-2]]
    weights = torch.nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    for head, pattern in PATTERNS.get(module.layer_idx, []):
        weights = weights.clone()
        weights[0, head] = pattern
    output = torch.matmul(weights, value_states).transpose(1, 2).contiguous()
    return output, weights


def run(family, ids, changes=None, keep=False):
    """One run of `ids` with `changes` (layer -> [(head, how, value)], how in zero, mean,
    given): maps [layer, head, t, t], last logits [vocab], and, with `keep`, each layer's
    head outputs [t, heads * d] and the last position split by writer."""
    changes = changes or {}
    hooks, kept = [], {"z": {}, "attn_out": {}, "ff": {}, "embedding": None, "final": None}

    def change_z(l):
        def hook(module, args):
            z = args[0].clone()
            for head, how, value in changes.get(l, []):
                part = slice(head * family.d, (head + 1) * family.d)
                if how == "zero":
                    z[..., part] = 0.0
                elif how == "mean":
                    z[..., part] = z[..., part].mean(dim=1, keepdim=True).expand_as(z[..., part])
                else:
                    z[..., part] = value[..., part]
            if keep:
                kept["z"][l] = z.detach().clone()
            return (z,) + tuple(args[1:])
        return hook

    for l in range(len(family.layers)):
        hooks.append(family.o_proj(l).register_forward_pre_hook(change_z(l)))
        if keep:
            # The attention block's write: the projection's output, or its norm's.
            after = family.post_attention_norm(l) or family.o_proj(l)
            hooks.append(after.register_forward_hook(lambda m, a, out, l=l: kept["attn_out"].__setitem__(l, out[0, -1].detach().clone())))
            hooks.append(family.feed_forward_out(l).register_forward_hook(lambda m, a, out, l=l: kept["ff"].__setitem__(l, out[0, -1].detach().clone())))
    if keep:
        def first_input(module, args, kwargs):
            x = args[0] if args else kwargs["hidden_states"]
            kept["embedding"] = x[0, -1].detach().clone()
        hooks.append(family.layers[0].register_forward_pre_hook(first_input, with_kwargs=True))
        hooks.append(family.final_norm.register_forward_pre_hook(lambda m, a: kept.__setitem__("final", a[0][0, -1].detach().clone())))
    try:
        with torch.no_grad():
            out = family.model(input_ids=ids, output_attentions=True, use_cache=False)
    finally:
        for hook in hooks:
            hook.remove()
    maps = torch.stack([a[0] for a in out.attentions]).contiguous()
    return maps, out.logits[0, -1].contiguous(), kept


def attribution(family, kept, rows):
    """Each writer's direct contribution to rows[0]'s logit (minus rows[1]'s)."""
    direction = (rows[0] - rows[1]) if len(rows) > 1 else rows[0]
    norm = family.final_norm
    final = kept["final"].double()
    eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", None)
    layer_norm = isinstance(norm, torch.nn.LayerNorm)
    weight = norm.weight.double()
    if family.kind.startswith("gemma"):
        weight = 1.0 + weight  # Gemma's RMSNorm multiplies by 1 + w
    if layer_norm:
        scale = 1.0 / torch.sqrt(((final - final.mean()) ** 2).mean() + eps)
    else:
        scale = 1.0 / torch.sqrt((final ** 2).mean() + eps)
    read = weight * direction.double() * scale

    def contribution(c):
        c = c.double()
        if layer_norm:
            c = c - c.mean()
        return float((c * read).sum().detach())

    per_head, others = [], {"embeddings": contribution(kept["embedding"])}
    for l in range(len(family.layers)):
        z = kept["z"][l][0, -1].double()  # [heads * d]
        w = family.o_weight(l).double()  # [hidden, heads * d]
        writes = [w[:, h * family.d:(h + 1) * family.d] @ z[h * family.d:(h + 1) * family.d] for h in range(family.heads)]
        post = family.post_attention_norm(l)
        if post is not None:
            total = sum(writes)
            s = 1.0 / torch.sqrt((total ** 2).mean() + post.eps)
            writes = [x * s * (1.0 + post.weight.double()) for x in writes]
        own = [contribution(x) for x in writes]
        per_head.append(own)
        others[f"attention bias {l}"] = contribution(kept["attn_out"][l]) - sum(own)
        others[f"feed-forward {l}"] = contribution(kept["ff"][l])
    if layer_norm:
        others["final norm bias"] = float((norm.bias.double() * direction.double()).sum())
    total = sum(map(sum, per_head)) + sum(others.values())
    return per_head, others, total


def top10(tokenizer, logits):
    top = torch.topk(logits, 10)
    return {"ids": top.indices.tolist(), "logits": [round(v, 5) for v in top.values.tolist()]}


def one_token(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1, f"{text!r} is {len(ids)} tokens"
    return ids[0]


def reference(name, model, tokenizer, cases, sweeps, patterns):
    family = Family(model)
    if patterns:
        from transformers.models.llama import modeling_llama
        original = modeling_llama.eager_attention_forward
        ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
        theirs, _, _ = run(family, ids)
        modeling_llama.eager_attention_forward = llama_eager
        ours, _, _ = run(family, ids)
        assert torch.equal(theirs, ours), "the patched eager attention must first equal transformers' own"
        del original

    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    source_ids = tokenizer(SOURCE, return_tensors="pt")["input_ids"]
    means_ids = tokenizer(MEANS, return_tensors="pt")["input_ids"]
    assert ids.shape == source_ids.shape, "the two texts must be as long in tokens"
    mary, john = one_token(tokenizer, " Mary"), one_token(tokenizer, " John")
    torch.set_grad_enabled(False)
    clean_maps, clean_logits, clean = run(family, ids, keep=True)
    _, _, source = run(family, source_ids, keep=True)
    source_maps, _, _ = run(family, source_ids)
    _, _, means = run(family, means_ids, keep=True)
    t = ids.shape[-1]

    tensors, listed = {}, []
    for case in cases:
        changes = {}
        for head in case.get("zero", []):
            changes.setdefault(head[0], []).append((head[1], "zero", None))
        for head in case.get("mean", []):
            changes.setdefault(head[0], []).append((head[1], "mean", None))
        for head in case.get("mean_of_other", []):
            z = means["z"][head[0]]
            changes.setdefault(head[0], []).append((head[1], "given", z.mean(dim=1, keepdim=True)))
        for head in case.get("patch_outputs", []):
            changes.setdefault(head[0], []).append((head[1], "given", source["z"][head[0]]))
        PATTERNS.clear()
        for layer, head in case.get("patch_patterns", []):
            PATTERNS.setdefault(layer, []).append((head, source_maps[layer, head]))
        maps, logits, _ = run(family, ids, changes)
        PATTERNS.clear()
        changed_rows = (maps - clean_maps).abs().max().item()
        assert changed_rows > 1e-4 or not case.get("changes_maps", True), f"{case['key']}: the maps did not change"
        tensors[f"{case['key']}.attn"] = maps[:, :, -ROWS:].contiguous()
        listed.append({**case, "next_token_top10": top10(tokenizer, logits),
                       "answer_logits": {"mary": float(logits[mary]), "john": float(logits[john])}})
        log(f"{name} {case['key']}: logit diff {float(logits[mary] - logits[john]):.4f} (clean {float(clean_logits[mary] - clean_logits[john]):.4f})")

    rows = family.unembedding
    attributions = {}
    for key, answer in (("mary", [rows[mary]]), ("mary-john", [rows[mary], rows[john]])):
        per_head, others, total = attribution(family, clean, answer)
        logit = float(clean_logits[mary] - (clean_logits[john] if key == "mary-john" else 0.0))
        assert abs(total - logit) < 1e-3 * max(1.0, abs(logit)), f"{key}: the terms add to {total}, the logit is {logit}"
        attributions[key] = {"per_head": per_head, "others": others, "logit": logit}

    swept = {}
    if sweeps:
        baseline = float(clean_logits[mary] - clean_logits[john])
        for kind in ("zero", "patch"):
            effects = []
            for layer in range(len(family.layers)):
                row = []
                for head in range(family.heads):
                    how, value = ("zero", None) if kind == "zero" else ("given", source["z"][layer])
                    _, logits, _ = run(family, ids, {layer: [(head, how, value)]})
                    row.append(float(logits[mary] - logits[john]) - baseline)
                effects.append(row)
            swept[kind] = effects
            log(f"{name} sweep {kind}: largest |effect| {max(abs(e) for r in effects for e in r):.4f}")

    document = {
        "model": name,
        "generator": f"transformers {transformers.__version__}, torch {torch.__version__}, eager attention, float32, hooks",
        "text": TEXT, "source": SOURCE, "means_text": MEANS,
        "ids": ids[0].tolist(), "source_ids": source_ids[0].tolist(), "means_ids": means_ids[0].tolist(),
        "tokens": t, "rows": ROWS,
        "answers": {"mary": mary, "john": john},
        "clean": {"next_token_top10": top10(tokenizer, clean_logits),
                  "answer_logits": {"mary": float(clean_logits[mary]), "john": float(clean_logits[john])}},
        "cases": listed, "attribution": attributions, "sweeps": swept,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")
    save_file(tensors, os.path.join(OUT, f"{name}.safetensors"), metadata={"made_by": "scripts/intervention_reference.py"})
    log(f"wrote {name}.json and {name}.safetensors")


SMOLLM2_CASES = [
    {"key": "zero", "zero": [[3, 2], [10, 4], [20, 1]]},
    {"key": "mean", "mean": [[4, 0], [15, 7]]},
    {"key": "mean-of-other", "mean_of_other": [[4, 0], [15, 7]]},
    {"key": "patch-outputs", "patch_outputs": [[9, 1], [14, 5], [25, 3]]},
    {"key": "patch-patterns", "patch_patterns": [[8, 2], [22, 6]]},
    {"key": "whole-layer", "zero": [[6, h] for h in range(9)]},
]


def tiny_cases(heads):
    return [
        {"key": "zero", "zero": [[0, 1], [1, heads - 1]]},
        {"key": "mean", "mean": [[0, 0]]},
        {"key": "patch-outputs", "patch_outputs": [[0, 0], [1, 1]]},
    ]


TINY = ("gpt2", "gpt_neox", "qwen2", "gemma3", "stablelm")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    smollm2 = os.path.join(ROOT, "assets", "models", "smollm2-135m")
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokenizer = AutoTokenizer.from_pretrained(smollm2, gguf_file=gguf)
    only = sys.argv[1:]
    if not only:
        model = AutoModelForCausalLM.from_pretrained(smollm2, gguf_file=gguf, dtype=torch.float32, attn_implementation="eager").eval()
        reference("smollm2-135m", model, tokenizer, SMOLLM2_CASES, sweeps=True, patterns=True)

    # The tiny models read SmolLM2's tokenizer: their vocabularies are smaller, so the
    # texts' ids are taken modulo theirs (what matters is that both runs read the same ids).
    for name in only or TINY:
        folder = os.path.join(ROOT, "tests", "fixtures", "tiny", name)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
        reference(f"tiny-{name}", model, ModuloTokenizer(tokenizer, model.config.vocab_size), tiny_cases(Family(model).heads), sweeps=True, patterns=False)


class ModuloTokenizer:
    """SmolLM2's tokenizer with ids folded into a tiny model's vocabulary."""

    def __init__(self, inner, vocab):
        self.inner, self.vocab = inner, vocab

    def __call__(self, text, **kwargs):
        out = self.inner(text, **kwargs)
        ids = out["input_ids"]
        out["input_ids"] = ids % self.vocab if torch.is_tensor(ids) else [i % self.vocab for i in ids]
        return out


if __name__ == "__main__":
    main()
