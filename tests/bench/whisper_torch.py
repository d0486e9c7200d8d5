"""The native anchor of the speech benchmark: transformers' WhisperForConditionalGeneration
on torch, on the CPU, one thread, eager attention, with Whisper tiny.en converted from the
same CTranslate2 file (scripts/whisper_reference.py), transcribing the bench clip greedily
with the model's suppressed tokens and every cross-attention map returned (`generate` with
`output_attentions`). The log-mel (WhisperFeatureExtractor) is timed too. Prints JSON:
{"ids": [...], "ms": [...]}.

    python whisper_torch.py MODEL_DIR CLIP.wav RUNS
"""

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from whisper_reference import load_model, read_clip  # noqa: E402
from transformers import WhisperFeatureExtractor  # noqa: E402

model_dir, clip, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(1)
model, config = load_model(model_dir)
settings = json.load(open(f"{model_dir}/config.json"))
audio = read_clip(clip).astype("float32")
extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)

times, ids = [], None
with torch.inference_mode():
    for i in range(runs + 1):
        started = time.perf_counter()
        features = extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
        out = model.generate(
            features, decoder_input_ids=torch.tensor([[50257, 50362]]), max_new_tokens=224,
            suppress_tokens=settings["suppress_ids"], begin_suppress_tokens=settings["suppress_ids_begin"],
            do_sample=False, num_beams=1, output_attentions=True, return_dict_in_generate=True,
        )
        assert len(out.cross_attentions[0]) == config.decoder_layers
        if i > 0:  # the first is a warm-up
            times.append((time.perf_counter() - started) * 1000)
        ids = out.sequences[0].tolist()
print(json.dumps({"ids": ids, "ms": times}))
