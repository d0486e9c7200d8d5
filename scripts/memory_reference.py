#!/usr/bin/env python3
"""The memory network's reference: a tiny end-to-end memory network (Sukhbaatar et al. 2015,
MemN2N: three hops, adjacent weight tying, the paper's position encoding, temporal encoding)
and a float64 NumPy forward of it on a few bAbI-style stories, for the engine's parity tests.
It writes tests/fixtures/memory/: config.json, vocabulary.json, model.safetensors (float32,
from numpy's default_rng(2015)) and expected.json (per story: the sentences kept, each hop's
weights over them oldest first, the logits, the answer).

Usage, from the project's root, in the venv `tools.sh --bench` makes (numpy, safetensors):
    .cache/torch/bin/python scripts/memory_reference.py
    .cache/torch/bin/python scripts/memory_reference.py --check-against CHECKOUT
The second makes nothing: it runs the committed fixtures' weights and stories through the
code of github.com/vinhkhuc/MemN2N-babi-python (CHECKOUT, a work tree of it; its trained model
and data are not needed) and asserts that code's hop weights and logits agree with this
forward's to 1e-10, and this forward's with expected.json. Not run by the tests.

Why the reference can be trusted: the forward is the paper's equations written as loops (the
position encoding per word and dimension, the softmax over the filled slots, one hop after
another), none of the engine's factored matrix forms; and the check runs it against a NumPy
MemN2N its authors wrote (a port of Facebook's Matlab code) with the same weights, the
conventions that differ mapped as `check_against` says. That code's own position encoding is
not the paper's (Facebook's code never was: facebookarchive/MemNN issue 13, where an author
calls the difference unintentional); the check measures that it is exactly 2 l(k - 1/2, j - 1/2)
of this script's l with J the padded length, then hands that code the paper's weights.
Measured (numpy 2.4.6; the repository's last commit, 84f6351 of 2017-05-27, which says Python
2.7 but runs on 3.11 with the shim `their_modules` describes): their position encoding is
2 l(k - 1/2, j - 1/2) to 2.2e-16, and on the six stories their hop weights, u_(K+1) and logits
agree with this forward's to 1.8e-15 at most. The check fails (by 1e-9 to 6) when this forward
is given the temporal rows in story order, the hops' weights reversed, C^k read with A^k's
table, J off by a half, or its l scaled by 1.0001.
"""
import argparse
import json
import os
import sys
import types

import numpy as np
from safetensors.numpy import load_file, save_file

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests", "fixtures", "memory")

# The engine's vocabulary (engine/src/train/babi.rs WORDS): the empty word first, then the
# stories' people, places, things and verbs, and the question's words.
WORDS = ["<nil>", "mary", "john", "daniel", "sandra",
         "bathroom", "bedroom", "garden", "hallway", "kitchen", "office",
         "apple", "football", "milk",
         "moved", "went", "journeyed", "travelled", "back", "to", "the",
         "got", "grabbed", "picked", "up", "took", "there",
         "dropped", "discarded", "left", "put", "down",
         "where", "is"]
EMBEDDING = 8
HOPS = 3
MEMORY = 12
SEED = 2015
STD = 0.5  # wide enough that the hops' softmaxes are far from uniform

STORIES = [
    # Task 1, one line a sentence.
    "Mary moved to the bathroom.\nJohn went to the hallway.\nWhere is Mary?",
    # Task 2, sentences ended by full stops on one line.
    "Mary moved to the bathroom. John went to the hallway. Mary picked up the football there. "
    "Mary went to the garden. Where is the football?",
    # A single sentence: one slot, its weight 1 at every hop.
    "Sandra journeyed to the kitchen.\nWhere is Sandra?",
    # Words repeated within a sentence and a sentence repeated (identical but for its time).
    "Mary went to the kitchen.\nMary went to the kitchen.\nJohn John went to to the the garden garden!\nWhere is is Mary?",
    # Task 2 with a drop, capitals and a comma (not letters: split and dropped).
    "John took the apple there.\nJohn journeyed to the OFFICE.\nJohn discarded the apple, there.\n"
    "Daniel travelled to the bedroom.\nWhere is the apple?",
    # 15 sentences: only the last 12 are kept (the first three are forgotten).
    "Mary moved to the bathroom.\nSandra journeyed to the bedroom.\nMary got the milk there.\n"
    "John went back to the hallway.\nDaniel travelled to the office.\nSandra went to the garden.\n"
    "Mary dropped the milk.\nJohn grabbed the apple there.\nDaniel went to the kitchen.\n"
    "John moved to the bedroom.\nSandra took the football there.\nMary travelled to the hallway.\n"
    "John put down the apple.\nDaniel journeyed to the bathroom.\nSandra went back to the office.\n"
    "Where is Daniel?",
]


def words(sentence):
    """Lower case, split at every character that is not a letter, empty pieces dropped (as the
    engine's `babi::words`)."""
    pieces, piece = [], []
    for c in sentence:
        if c.isalpha():
            piece.append(c)
        elif piece:
            pieces.append("".join(piece))
            piece = []
    if piece:
        pieces.append("".join(piece))
    return [p.lower() for p in pieces]


def split_story(text):
    """A story's sentences and its question: sentences end at a line's end or after . ? or !;
    pieces with no words are dropped; the last must end with "?" and is the question."""
    pieces, piece = [], ""
    for c in text:
        if c == "\n":
            pieces.append(piece)
            piece = ""
        else:
            piece += c
            if c in ".?!":
                pieces.append(piece)
                piece = ""
    pieces.append(piece)
    pieces = [p.strip() for p in pieces if words(p)]
    if not pieces or not pieces[-1].endswith("?"):
        raise ValueError(f"no question at the end of {text!r}")
    if len(pieces) < 2:
        raise ValueError(f"no sentence before the question in {text!r}")
    return pieces[:-1], pieces[-1]


def ids_of(sentence):
    ids = []
    for w in words(sentence):
        if w not in WORDS:
            raise ValueError(f"{w!r} is not in the vocabulary")
        ids.append(WORDS.index(w))
    return ids


def position_weight(k, j, d, J):
    """The paper's l_kj (section 4.1) for word j of J and dimension k of d, both from 1. Kept
    a scalar function of real k and j so that the check can evaluate it between integers."""
    return (1 - j / J) - (k / d) * (1 - 2 * j / J)


def encode(table, ids):
    """A sentence's vector under an embedding table: sum over its words of l_j * table[x_j],
    literally word by word and dimension by dimension, J the sentence's own length."""
    J, d = len(ids), table.shape[1]
    vector = np.zeros(d)
    for j in range(1, J + 1):
        for k in range(1, d + 1):
            vector[k - 1] += position_weight(k, j, d, J) * table[ids[j - 1], k - 1]
    return vector


def softmax(scores):
    scores = np.asarray(scores, dtype=np.float64)
    e = np.exp(scores - scores.max())
    return e / e.sum()


def forward(embeddings, temporals, sentence_ids, question_ids):
    """The three hops. embeddings[k], temporals[k] are E_k [V, d] and T_k [M, d], k = 0..K:
    hop k reads memory vectors with table k - 1 (A^k) and output vectors with table k (C^k), so
    E_0 = B = A^1, C^k = A^(k+1), and the answer's W is C^K transposed. Returns the kept
    sentences' count, each hop's weights in story order (oldest first), the logits and u_(K+1)."""
    hops, memory = len(embeddings) - 1, temporals[0].shape[0]
    kept = sentence_ids[-memory:]
    n = len(kept)
    # Slot i holds the i-th most recent sentence, so T[0] marks the latest: the slot order.
    slots = [kept[n - 1 - i] for i in range(n)]
    u = encode(embeddings[0], question_ids)  # the question has no temporal term
    weights = []
    for k in range(1, hops + 1):
        m = [encode(embeddings[k - 1], s) + temporals[k - 1][i] for i, s in enumerate(slots)]
        c = [encode(embeddings[k], s) + temporals[k][i] for i, s in enumerate(slots)]
        p = softmax([float(np.dot(u, m_i)) for m_i in m])  # over the filled slots only
        o = np.zeros_like(u)
        for i in range(n):
            o += p[i] * c[i]
        u = u + o
        weights.append([float(p[n - 1 - s]) for s in range(n)])  # back to story order
    logits = embeddings[hops] @ u
    return n, weights, logits, u


def make_model(folder):
    """The tiny model's files. Draw order: embedding.0..K, then temporal.0..K."""
    rng = np.random.default_rng(SEED)
    V = len(WORDS)
    tensors = {}
    for k in range(HOPS + 1):
        tensors[f"embedding.{k}"] = rng.normal(0.0, STD, (V, EMBEDDING)).astype(np.float32)
    for k in range(HOPS + 1):
        tensors[f"temporal.{k}"] = rng.normal(0.0, STD, (MEMORY, EMBEDDING)).astype(np.float32)
    os.makedirs(folder, exist_ok=True)
    save_file(tensors, os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"architecture": "memory-network", "task": "babi-1", "hops": HOPS, "embedding": EMBEDDING,
                   "memory": MEMORY}, f, indent=1)
        f.write("\n")
    with open(os.path.join(folder, "vocabulary.json"), "w") as f:
        json.dump({"words": WORDS}, f)
        f.write("\n")


def read_model(folder):
    """The weights as stored (float32), cast to float64."""
    t = load_file(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json")) as f:
        hops = json.load(f)["hops"]
    embeddings = [t[f"embedding.{k}"].astype(np.float64) for k in range(hops + 1)]
    temporals = [t[f"temporal.{k}"].astype(np.float64) for k in range(hops + 1)]
    return embeddings, temporals


def run_story(embeddings, temporals, text):
    sentences, question = split_story(text)
    n, weights, logits, u = forward(embeddings, temporals, [ids_of(s) for s in sentences], ids_of(question))
    return {"text": text, "sentences_kept": n, "hops": weights, "logits": [float(x) for x in logits],
            "answer": WORDS[int(np.argmax(logits))]}  # argmax: the first of equal highest


def make_fixtures():
    make_model(FIXTURES)
    embeddings, temporals = read_model(FIXTURES)
    stories = [run_story(embeddings, temporals, text) for text in STORIES]
    for s in stories:
        print(f"{s['sentences_kept']:2} kept, answer {s['answer']!r}: {s['text'].splitlines()[-1][-40:]!r}")
    made = {"how": "scripts/memory_reference.py: float64 NumPy MemN2N forward (paper's position encoding per "
                   "sentence, temporal encoding, adjacent tying) on model.safetensors' float32 weights; hops "
                   "over the kept sentences, oldest first",
            "stories": stories}
    with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
        json.dump(made, f, separators=(",", ":"))
        f.write("\n")


def their_modules(checkout, float_type):
    """Imports the checkout's memn2n.nn, memn2n.memory, util and demo.qa, with their `np` a copy
    of numpy where `int` is Python's (numpy 2 removed np.int, which LookupTable uses) and
    `float32` is `float_type`: MatVecProd and build_model write into np.float32 buffers, so with
    float64 the comparison measures the algorithm, not float32 rounding."""
    sys.path.insert(0, checkout)
    import demo.qa as qa
    import memn2n.memory as memory
    import memn2n.nn as nn
    import util
    shim = types.ModuleType("numpy_for_memn2n")
    shim.__dict__.update(np.__dict__)
    shim.int, shim.float32 = int, float_type
    for module in (nn, memory, util):
        module.np = shim
    return qa, util


def check_against(checkout):
    """Runs vinhkhuc/MemN2N-babi-python's own code (util.build_model, its modules, and
    demo/qa.py's MemN2N.predict_answer, which fills the memory and runs the model) on the
    committed weights and stories. Their conventions and how each is mapped:

    - Tables: their LookupTable weight is [d, vocabulary], the vocabulary followed by one "time
      word" per memory slot; a time word's column is the temporal row. So hop table k is handed
      to them as [E_k; T_k] transposed. build_model's share_type 1 (adjacent) ties A^1 to B,
      A^(k+1) to C^k and the answer's LinearNB to C^K, as here: setting B and each hop's C sets
      all of them.
    - Temporal order: predict_answer keeps the story's last `sz` sentences in story order and
      gives the column of the c-th of n the time word n - 1 - c, so the latest sentence reads
      T[0]: this forward's slot order. Their probabilities come back in story order.
    - Position encoding: build_model's weight is 1 + 4 (k - (d+1)/2)(j - (W+1)/2) / (d W) with
      W the padded sentence length plus one for the time word (the Matlab code's formula, not
      the paper's), one matrix for every sentence, and its last column multiplies the time
      word. Measured first: it equals 2 l(k - 1/2, j - 1/2) of `position_weight` with J = W.
      Then, to run the paper's encoding through their ElemMult, each sentence (and the question)
      gets its own band of word positions whose weights are the paper's l for that sentence's
      own J, the time column is set to 1 (the temporal term is added unweighted), and every
      other position holds their padding, the nil word.
    - Nil: their padding is the word nil (index 0) whose columns their training keeps at zero
      (Memory.update); it is handed zero columns. This forward never reads row 0: no typed word
      is <nil>.
    - Empty slots: their memory always has `sz` slots and unfilled ones (all nil) take part in
      the softmax with score 0; here only filled slots do. So each story runs with sz = the
      number of sentences this forward keeps, except the 15-sentence story, fed whole with
      sz = 12 so that their truncation keeps the last 12; a one-sentence story (their modules
      squeeze a one-slot memory's axis away and fail) runs as that sentence twice, both slots
      with T[0]: two equal slots share the softmax's weight 1/2 each and give the same o, so
      their sum is compared with this forward's 1.
    - Output: their LinearNB gives logits over the vocabulary and the time words; words 1..V-1
      are compared (read by running their LinearNB again on their u_(K+1): their final Softmax
      overwrites its input in place). Their nil logit is 0 (its column is zero); this model's
      <nil> row is not, so its logit is compared through u_(K+1) only. Their batch is 2 (a
      batch of 1 is squeezed away too).
    """
    checkout = os.path.abspath(checkout)
    embeddings, temporals = read_model(FIXTURES)
    with open(os.path.join(FIXTURES, "expected.json")) as f:
        expected = json.load(f)["stories"]
    V, d, hops = len(WORDS), embeddings[0].shape[1], len(embeddings) - 1
    qa, util = their_modules(checkout, np.float64)
    dictionary = {("nil" if w == "<nil>" else w): i for i, w in enumerate(WORDS)}

    def build(sz, max_words, batch=2):
        train_config = {"init_lrate": 0.01, "max_grad_norm": 40, "in_dim": d, "out_dim": d, "sz": sz,
                        "voc_sz": V + sz, "bsz": batch, "max_words": max_words, "weight": None}
        config = types.SimpleNamespace(train_config=train_config, dictionary=dictionary, use_bow=False, nhops=hops,
                                       add_proj=False, share_type=1, enable_time=True, add_nonlin=False,
                                       batch_size=batch)
        memory, model, loss = util.build_model(config)
        return config, memory, model

    # Their position encoding, as build_model computes it, against this script's l.
    worst_pe, worst_paper = 0.0, 0.0
    for max_words in (2, 7, 13, 40):
        config, _, _ = build(2, max_words)
        theirs = config.train_config["weight"]
        for k in range(1, d + 1):
            for j in range(1, max_words + 1):
                worst_pe = max(worst_pe, abs(theirs[k - 1, j - 1] - 2 * position_weight(k - 0.5, j - 0.5, d, max_words)))
                worst_paper = max(worst_paper, abs(theirs[k - 1, j - 1] - position_weight(k, j, d, max_words)))
    assert worst_pe < 1e-12, f"their position encoding is {worst_pe} from 2 l(k - 1/2, j - 1/2)"
    print(f"their position encoding = 2 l(k - 1/2, j - 1/2) to {worst_pe:.1e} "
          f"(and differs from the paper's l by up to {worst_paper:.3f})", flush=True)

    worst = 0.0
    for text, wanted in zip(STORIES, expected):
        sentences, question = split_story(text)
        sentence_ids, question_ids = [ids_of(s) for s in sentences], ids_of(question)
        n, weights, logits, u = forward(embeddings, temporals, sentence_ids, question_ids)
        # This forward against the committed fixture, exactly (same code, same weights).
        assert wanted["text"] == text and wanted["sentences_kept"] == n and wanted["hops"] == weights
        assert wanted["logits"] == [float(x) for x in logits] and wanted["answer"] == WORDS[int(np.argmax(logits))]

        fed = sentence_ids if len(sentence_ids) > MEMORY else sentence_ids[-n:]
        doubled = len(fed) == 1
        if doubled:
            fed = fed * 2
        sz = min(len(fed), MEMORY)
        # Word positions: the question's band first, then one band per sentence, then time.
        bands, start = [], len(question_ids)
        for s in fed:
            bands.append(start)
            start += len(s)
        max_words = start + 1
        config, memory, model = build(sz, max_words)
        pe = np.zeros((d, max_words))
        for J, first in [(len(question_ids), 0)] + [(len(s), b) for s, b in zip(fed, bands)]:
            for j in range(1, J + 1):
                for k in range(1, d + 1):
                    pe[k - 1, first + j - 1] = position_weight(k, j, d, J)
        pe[:, -1] = 1.0
        # In place: the question's ElemMult holds a view of this matrix without its last column.
        config.train_config["weight"][:] = pe

        def table(k):
            time = temporals[k][:sz].copy()
            if doubled:
                time[1] = time[0]  # both copies of the one sentence are the latest
            t = np.concatenate([embeddings[k], time]).T.copy()
            t[:, dictionary["nil"]] = 0.0
            return t

        model.modules[0].weight.D = table(0)  # B, shared with memory[0]'s A
        for k in range(hops):
            memory[k].emb_out.weight.D = table(k + 1)  # C^(k+1), shared with A^(k+2) and, last, W
        story = np.zeros((max_words - 1, len(fed), 1))
        for c, (s, first) in enumerate(zip(fed, bands)):
            story[first:first + len(s), c, 0] = s
        qstory = np.zeros((max_words - 1, 1))
        qstory[:len(question_ids), 0] = question_ids
        runner = qa.MemN2N(None, None)
        runner.memory, runner.model, runner.general_config = memory, model, config
        runner.reversed_dict = {i: w for w, i in dictionary.items()}
        questions = np.zeros((14, 1), dtype=np.int64)  # only read for the correct answer's word
        answer, _, probs = runner.predict_answer(story, questions, qstory, 0, 0, len(fed) - 1)
        probs = np.asarray(probs, dtype=np.float64)
        if doubled:
            probs = probs.sum(axis=1, keepdims=True)
        their_u = model.modules[-3].output
        their_logits = model.modules[-2].fprop(their_u)
        assert np.array_equal(their_logits[:, 0], their_logits[:, 1])  # the batch's two copies
        gaps = (np.abs(probs - np.array(weights)).max(), np.abs(their_u[:, 0] - u).max(),
                np.abs(their_logits[1:V, 0] - logits[1:]).max())
        worst = max(worst, *gaps)
        assert max(gaps) < 1e-10, f"{text!r}: theirs differs by {gaps}"
        own = WORDS[1 + int(np.argmax(their_logits[1:V, 0]))]
        time_note = "" if answer < V else f" (their full argmax is time word {answer - V})"
        print(f"{n:2} kept: weights {gaps[0]:.1e}, u {gaps[1]:.1e}, logits {gaps[2]:.1e}; answer {own!r}{time_note}")
        assert own == wanted["answer"] or wanted["answer"] == "<nil>"
    print(f"agreement with vinhkhuc/MemN2N-babi-python on {len(STORIES)} stories: {worst:.1e} at most")
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-against", metavar="DIR",
                        help="a work tree of github.com/vinhkhuc/MemN2N-babi-python: check, make nothing")
    args = parser.parse_args()
    if args.check_against:
        check_against(args.check_against)
    else:
        make_fixtures()


if __name__ == "__main__":
    main()
