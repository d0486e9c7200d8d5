#!/usr/bin/env python3
"""Omniglot, compacted for the SNAIL few-shot learner: the two small background sets and the 20
one-shot classification runs of Lake, Salakhutdinov and Tenenbaum (Science 2015), from the zips
of github.com/brendenlake/omniglot, written into assets/data/omniglot/ so that the tests and
the page read nothing outside the repository:

- `images.bin.gz`: every drawing at 28 × 28, 1 bit a pixel (1 = ink), row-major, most
  significant bit first, 98 bytes a drawing: the background drawings, then the runs';
- `index.json`: which drawings are which (alphabets, characters, the runs and their answers);
- `LICENSE` (the source's, MIT) and `README.md` (provenance, format, counts, sha256s).

Usage (standard library only, so any python3 runs it; a few seconds):
    python3 scripts/omniglot_compact.py OMNIGLOT_DIR
OMNIGLOT_DIR holds images_background_small1.zip, images_background_small2.zip, all_runs.zip
and LICENSE; each zip's sha256 must be the one below (those the data's README lists). The zips
are read in place. Re-running on the same zips writes the same bytes.

Why these choices:
- 28 × 28, as the few-shot papers (SNAIL, MAML, matching networks) resize Omniglot's 105 × 105.
- 1 bit a pixel: the source drawings are binary (PNG, 1-bit grayscale, strokes black = 0 on
  white = 1), so a thresholded drawing loses nothing a gray level would keep but the strokes'
  exact edges, and the 6,640 drawings take 98 bytes each before gzip.
- Each output pixel is the exact ink area of its 3.75 × 3.75 box of source pixels (partial
  pixels at the box's edges weighted by their overlap, in integers: no library's resampling
  conventions), and it is ink when that area is at least 3/8 of the box. Measured on all 6,640
  drawings (8-connected components, the 28 × 28 drawing against its source): at 3/8 no drawing
  has more components than its source (no stroke is broken) and only 33 have more 4-connected
  components than the source has components; the overlap with the source (IoU, both at
  420 × 420) is 0.702 (0.680 at 1/4, 0.703 at 7/16, 0.696 at 1/2). At 1/2, 922 drawings have
  diagonal strokes that hold only by corners (more 4-connected components) and one has a
  stroke broken; at 1/4 and below strokes thicken and nearby ones merge (226 drawings have
  fewer components than their source at 1/4, 179 at 3/8); from 5/8 strokes break (9 drawings
  at 5/8, 1,311 at 11/16).
- The PNGs are decoded here (zlib and the five PNG filters), for the standard library's sake;
  anything but 105 × 105, 1-bit grayscale, non-interlaced is refused rather than guessed at.
- gzip with mtime 0 and no file name in its header, so that re-runs are byte-identical.

Found in the data (and checked here, so that a change in the zips is noticed): the two small
sets share two alphabets, Greek and Latin, drawing for drawing (1,000 drawings, pixel-identical
under the same names); both copies are kept, as the sets are. The small sets thus hold 8
distinct alphabets, not 10; the runs' alphabets are in neither.
"""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import sys
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "assets", "data", "omniglot")

# The zips' sha256, as the data's README (beside them) lists them: brendenlake/omniglot 057f034.
ZIPS = {
    "images_background_small1.zip": "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4",
    "images_background_small2.zip": "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f",
    "all_runs.zip": "437c1eeab0af8484112e1b4cc0f3d541ec727f7c47b9b202da738af9dfd6c325",
}
SETS = ["small1", "small2"]
SOURCE = 105
SIDE = 28
BYTES = SIDE * SIDE // 8
# Ink when the box's ink area is at least NUMERATOR / DENOMINATOR of it (see the docstring).
NUMERATOR, DENOMINATOR = 3, 8
RUNS = 20
PER_RUN = 20
DRAWERS = 20


def fail(message):
    print(f"[omniglot] error: {message}", file=sys.stderr)
    sys.exit(1)


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def rel(path):
    return os.path.relpath(path, ROOT)


# --- PNG, decoded by hand (these are the simplest PNGs there are) ---

def png_ink_rows(data, name):
    """The drawing's rows as ints of SOURCE bits, the leftmost pixel the most significant, a bit
    set where the pixel is ink (0, black, in the PNG)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{name}: not a PNG")
    pos, header, idat = 8, None, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if zlib.crc32(data[pos + 4:pos + 8 + length]) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            fail(f"{name}: bad CRC in {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + length
    # width, height, bit depth 1, color type 0 (grayscale), compression 0, filter 0, no interlace
    if header != (SOURCE, SOURCE, 1, 0, 0, 0, 0):
        fail(f"{name}: IHDR {header}, expected a {SOURCE} × {SOURCE} 1-bit grayscale PNG")
    stride = (SOURCE + 7) // 8
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != SOURCE * (stride + 1):
        fail(f"{name}: {len(raw)} bytes of scanlines, expected {SOURCE * (stride + 1)}")
    rows, previous = [], bytes(stride)
    all_bits = (1 << SOURCE) - 1
    for r in range(SOURCE):
        kind = raw[r * (stride + 1)]
        line = bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        # Filters work on bytes; at 1 bit a pixel the "pixel to the left" is the byte before.
        for i in range(stride):
            left = line[i - 1] if i else 0
            up = previous[i]
            upleft = previous[i - 1] if i else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 255
            elif kind == 4:
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else upleft)) & 255
            elif kind != 0:
                fail(f"{name}: filter type {kind}")
        previous = bytes(line)
        white = int.from_bytes(line, "big") >> (stride * 8 - SOURCE)
        rows.append(~white & all_bits)
    return rows


# --- 105 × 105 to 28 × 28 by exact box areas ---

def box_weights():
    """For each output box along one axis, the source pixels it overlaps and by how much, in
    1/SIDE of a pixel: box k spans [SOURCE k, SOURCE (k + 1)) and pixel j [SIDE j, SIDE (j + 1))
    in those units, so a box is SOURCE units wide and a whole pixel SIDE."""
    weights = []
    for k in range(SIDE):
        lo, hi = SOURCE * k, SOURCE * (k + 1)
        weights.append([(j, min(hi, SIDE * (j + 1)) - max(lo, SIDE * j))
                        for j in range(lo // SIDE, (hi + SIDE - 1) // SIDE)])
    return weights


WEIGHTS = box_weights()
# Per box along a row: a mask of the pixels it covers whole (popcount × SIDE), and the partial ones.
ROW_BOXES = [(sum(1 << (SOURCE - 1 - j) for j, w in box if w == SIDE),
              [(1 << (SOURCE - 1 - j), w) for j, w in box if w < SIDE]) for box in WEIGHTS]


def downsample(rows):
    """The 28 × 28 drawing packed as BYTES bytes: a pixel is ink when its box's ink area is at
    least NUMERATOR / DENOMINATOR of the box (SOURCE² in units of 1/SIDE² of a pixel)."""
    across = []  # per source row, each box column's ink length in 1/SIDE pixel units
    for row in rows:
        line = []
        for full, partial in ROW_BOXES:
            length = SIDE * (row & full).bit_count()
            for bit, w in partial:
                if row & bit:
                    length += w
            line.append(length)
        across.append(line)
    bits, bar = 0, NUMERATOR * SOURCE * SOURCE
    for box in WEIGHTS:
        area = [0] * SIDE
        for r, w in box:
            line = across[r]
            for c in range(SIDE):
                area[c] += w * line[c]
        for c in range(SIDE):
            bits = (bits << 1) | (DENOMINATOR * area[c] >= bar)
    return bits.to_bytes(BYTES, "big")


def ascii_art(drawing):
    bits = int.from_bytes(drawing, "big")
    return ["".join("#" if bits >> (SIDE * SIDE - 1 - (r * SIDE + c)) & 1 else "." for c in range(SIDE))
            for r in range(SIDE)]


# --- the zips ---

def read_drawing(archive, name):
    rows = png_ink_rows(archive.read(name), name)
    ink = sum(row.bit_count() for row in rows)
    # Strokes are black on white: ink is a few percent of a drawing (at most 19% in these).
    # A drawing with as much ink as paper would mean the polarity is not what is assumed.
    if not 0 < ink < SOURCE * SOURCE // 2:
        fail(f"{name}: {ink} of {SOURCE * SOURCE} pixels black; expected black strokes on white")
    return downsample(rows)


def background(directory, set_name, drawings):
    """The set's alphabets, their characters' drawings appended to `drawings` (sorted by
    alphabet, character, file name)."""
    top = f"images_background_{set_name}"
    with zipfile.ZipFile(os.path.join(directory, top + ".zip")) as archive:
        files = {}
        for name in archive.namelist():
            if name.endswith("/"):
                continue
            m = re.fullmatch(rf"{top}/([^/]+)/(character\d\d)/(\d{{4}}_\d\d\.png)", name)
            if not m:
                fail(f"{top}.zip: unexpected member {name}")
            files.setdefault(m[1], {}).setdefault(m[2], []).append(name)
        alphabets = []
        for alphabet in sorted(files):
            characters = []
            for character in sorted(files[alphabet]):
                names = sorted(files[alphabet][character])
                if len(names) != DRAWERS:
                    fail(f"{top}/{alphabet}/{character}: {len(names)} drawings, expected {DRAWERS}")
                characters.append({"name": character, "first": len(drawings), "count": len(names)})
                drawings.extend(read_drawing(archive, name) for name in names)
            alphabets.append({"set": set_name, "alphabet": alphabet, "characters": characters})
    return alphabets


def runs(directory, drawings):
    """The 20 runs, their training then test drawings appended to `drawings`."""
    result = []
    with zipfile.ZipFile(os.path.join(directory, "all_runs.zip")) as archive:
        members = set(archive.namelist())
        for number in range(1, RUNS + 1):
            run = f"run{number:02d}"
            training = [f"{run}/training/class{i:02d}.png" for i in range(1, PER_RUN + 1)]
            test = [f"{run}/test/item{i:02d}.png" for i in range(1, PER_RUN + 1)]
            pngs = sorted(m for m in members if m.startswith(run + "/") and m.endswith(".png"))
            if pngs != sorted(training + test):
                fail(f"all_runs.zip: {run} holds {len(pngs)} PNGs, not class01-20 and item01-20")
            # class_labels.txt: one line per test drawing, "runNN/test/itemKK.png runNN/training/classMM.png".
            labels = {}
            for line in archive.read(f"{run}/class_labels.txt").decode("ascii").split("\n"):
                if line.strip():
                    item, label = line.split()
                    if item not in test or label not in training or item in labels:
                        fail(f"{run}/class_labels.txt: unexpected line {line!r}")
                    labels[item] = label
            if len(labels) != PER_RUN:
                fail(f"{run}/class_labels.txt: {len(labels)} test drawings labelled, expected {PER_RUN}")
            answers = [training.index(labels[item]) for item in test]
            first = len(drawings)
            drawings.extend(read_drawing(archive, name) for name in training + test)
            result.append({"run": number,
                           "training": list(range(first, first + PER_RUN)),
                           "test": list(range(first + PER_RUN, first + 2 * PER_RUN)),
                           "answers": answers})
    return result


# --- writing ---

def index_json(index):
    """index.json, one line per character and per run: readable, and a tenth of indent=1's size."""
    out = ["{", f' "side": {index["side"]},', f' "drawings": {index["drawings"]},', ' "background": [']
    for a, alphabet in enumerate(index["background"]):
        out.append(f'  {{"set": {json.dumps(alphabet["set"])}, "alphabet": {json.dumps(alphabet["alphabet"])}, "characters": [')
        chars = alphabet["characters"]
        out += ["   " + json.dumps(c) + ("," if i + 1 < len(chars) else "") for i, c in enumerate(chars)]
        out.append("  ]}" + ("," if a + 1 < len(index["background"]) else ""))
    out += [" ],", ' "runs": [']
    out += ["  " + json.dumps(r) + ("," if i + 1 < len(index["runs"]) else "") for i, r in enumerate(index["runs"])]
    out += [" ]", "}", ""]
    text = "\n".join(out)
    if json.loads(text) != index:
        fail("index.json does not read back as written")
    return text


def write_gzip(path, data):
    buffer = io.BytesIO()
    # No file name and mtime 0 in the header: the same drawings give the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
        f.write(data)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


def readme(counts, sha, sizes):
    lines = [
        "# Omniglot, compacted (the small background sets and the 20 one-shot runs)",
        "",
        "From Brenden Lake's Omniglot repository (github.com/brendenlake/omniglot, commit 057f034, MIT",
        "license: LICENSE beside this file). Lake, Salakhutdinov and Tenenbaum, \"Human-level concept",
        "learning through probabilistic program induction\", Science 350 (2015). Made from that",
        "repository's images_background_small1.zip, images_background_small2.zip and all_runs.zip by",
        "scripts/omniglot_compact.py (which checks their sha256); re-running it writes the same bytes.",
        "",
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "| --- | --- | --- |",
    ]
    for name in ("images.bin.gz", "index.json"):
        lines.append(f"| {name} | {sizes[name]} | {sha[name]} |")
    lines += [
        "",
        f"`images.bin.gz` (gzip, mtime 0): {counts['drawings']} drawings of {SIDE} × {SIDE} pixels, one after",
        f"another, {BYTES} bytes each ({counts['drawings'] * BYTES} bytes in all). A drawing is its rows top to",
        f"bottom, each row's pixels left to right, 1 bit a pixel, most significant bit first (pixel",
        f"(row r, column c) is bit 7 - (({SIDE} r + c) mod 8) of byte ({SIDE} r + c) div 8); 1 is ink (a",
        "stroke), 0 paper. Drawing i starts at byte " + f"{BYTES} i.",
        "",
        "`index.json`:",
        "",
        f"- `side`: {SIDE}; `drawings`: {counts['drawings']}, the number of drawings in images.bin.gz.",
        "- `background`: the small sets' alphabets, sorted by set then alphabet, each",
        "  `{\"set\": \"small1\" | \"small2\", \"alphabet\", \"characters\"}`; a character is",
        "  `{\"name\": \"character01\", \"first\", \"count\"}`: its drawings are `first` .. `first + count - 1`",
        "  (20, one per drawer, sorted by the source's file name, e.g. 0108_01.png .. 0108_20.png).",
        "  Characters are sorted by name, and the drawings follow that order from 0.",
        f"- `runs`: the 20 one-shot runs (20-way classification: one drawing of each of 20 characters",
        "  to learn from, and 20 new drawings of them to classify), each",
        "  `{\"run\": 1..20, \"training\": [20 drawing indices, class01..class20], \"test\": [20, item01..item20],",
        "  \"answers\": [20]}`, where `answers[k]` is the position in `training` of test drawing k's",
        f"  character (the run's class_labels.txt). The runs' drawings follow the background's:",
        f"  {counts['background']} .. {counts['drawings'] - 1}, each run's training then test.",
        "",
        "## How the drawings were made",
        "",
        "The source drawings are 105 × 105 1-bit PNGs, strokes black (0) on white. Each output pixel",
        "covers a 3.75 × 3.75 box of source pixels; its ink area is computed exactly (pixels cut by",
        f"the box's edges count by their overlap) and the pixel is ink when that area is at least",
        f"{NUMERATOR}/{DENOMINATOR} of the box. At {NUMERATOR}/{DENOMINATOR} no drawing's strokes break (no drawing has more",
        "8-connected components than its source) and they overlap their sources as well as at any",
        "threshold tried (IoU 0.702 against the source, 0.703 at 7/16, 0.696 at 1/2, 0.680 at 1/4); 1/2",
        "leaves diagonal strokes joined only by corners in 922 drawings, 1/4 and below thicken strokes",
        "and merge nearby ones (the script's docstring has the measurements).",
        "",
        "## Counts",
        "",
        "| set | alphabets | characters | drawings |",
        "| --- | --- | --- | --- |",
    ]
    for set_name in SETS:
        c = counts[set_name]
        lines.append(f"| {set_name} | {c['alphabets']} ({', '.join(c['names'])}) | {c['characters']} | {c['drawings']} |")
    lines += [
        f"| runs | (not named; in neither small set) | 20 × 20 | {counts['runs']} (20 × 20 training, 20 × 20 test) |",
        f"| all | | | {counts['drawings']} |",
        "",
        f"Each drawing has {counts['ink'][0]} to {counts['ink'][1]} pixels of ink at 28 × 28 (the median {counts['ink'][2]}), as this",
        "script counted them.",
        "",
        "The two small sets share Greek and Latin, drawing for drawing (the same files, identical",
        f"pixels): {counts['shared']} drawings are stored twice, once per set, as the source has them. The small",
        "sets hold 8 distinct alphabets, so a split for training and validation should split",
        "alphabets, not sets.",
        "",
    ]
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        fail("usage: python3 scripts/omniglot_compact.py OMNIGLOT_DIR")
    directory = sys.argv[1]
    for name, expected in ZIPS.items():
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            fail(f"{name} not found in the directory given")
        if sha256_of(path) != expected:
            fail(f"{name}: sha256 {sha256_of(path)}, expected {expected}")
        print(f"[omniglot] {name}: sha256 matches")
    if not os.path.exists(os.path.join(directory, "LICENSE")):
        fail("LICENSE not found in the directory given")

    drawings, alphabets = [], []
    for set_name in SETS:
        alphabets += background(directory, set_name, drawings)
    background_count = len(drawings)
    run_list = runs(directory, drawings)

    for run in run_list:
        if sorted(run["answers"]) != list(range(PER_RUN)):
            fail(f"run {run['run']}: answers are not a permutation of 0..{PER_RUN - 1}")

    counts = {"drawings": len(drawings), "background": background_count, "runs": len(drawings) - background_count}
    for set_name in SETS:
        mine = [a for a in alphabets if a["set"] == set_name]
        counts[set_name] = {"alphabets": len(mine), "names": [a["alphabet"] for a in mine],
                            "characters": sum(len(a["characters"]) for a in mine),
                            "drawings": sum(c["count"] for a in mine for c in a["characters"])}
    # The alphabets both sets hold: check they are the same drawings (so that a consumer may
    # treat them as one), and count them.
    by_name = {}
    for a in alphabets:
        by_name.setdefault(a["alphabet"], []).append(a)
    counts["shared"] = 0
    for name, copies in by_name.items():
        if len(copies) == 2:
            first, second = ([drawings[c["first"] + i] for c in a["characters"] for i in range(c["count"])]
                             for a in copies)
            if first != second:
                fail(f"{name} is in both small sets with different drawings")
            counts["shared"] += len(first)
    expected = {"small1": 2720, "small2": 3120}  # the data's README
    for set_name, n in expected.items():
        if counts[set_name]["drawings"] != n:
            fail(f"{set_name}: {counts[set_name]['drawings']} drawings, the README says {n}")

    # Pixels of ink a drawing (its packed bytes' set bits): the README states the range, which
    # the engine's reader must count again.
    ink = sorted(sum(bin(byte).count("1") for byte in d) for d in drawings)
    counts["ink"] = (ink[0], ink[-1], ink[len(ink) // 2])
    index = {"side": SIDE, "drawings": len(drawings), "background": alphabets, "runs": run_list}
    os.makedirs(OUT, exist_ok=True)
    write_gzip(os.path.join(OUT, "images.bin.gz"), b"".join(drawings))
    with open(os.path.join(OUT, "index.json"), "w") as f:
        f.write(index_json(index))
    shutil.copyfile(os.path.join(directory, "LICENSE"), os.path.join(OUT, "LICENSE"))
    sha = {n: sha256_of(os.path.join(OUT, n)) for n in ("images.bin.gz", "index.json")}
    sizes = {n: os.path.getsize(os.path.join(OUT, n)) for n in ("images.bin.gz", "index.json")}
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(readme(counts, sha, sizes))

    for set_name in SETS:
        c = counts[set_name]
        print(f"[omniglot] {set_name}: {c['alphabets']} alphabets ({', '.join(c['names'])}), "
              f"{c['characters']} characters, {c['drawings']} drawings")
    print(f"[omniglot] shared by both sets, identical: {counts['shared']} drawings "
          f"({', '.join(n for n, c in by_name.items() if len(c) == 2)})")
    print(f"[omniglot] runs: {len(run_list)}, {counts['runs']} drawings; every run's answers are a permutation of 0..{PER_RUN - 1}")
    for n in ("images.bin.gz", "index.json"):
        print(f"[omniglot] wrote {rel(os.path.join(OUT, n))}: {sizes[n]} bytes, sha256 {sha[n]}")
    print(f"[omniglot] wrote {rel(os.path.join(OUT, 'LICENSE'))}, {rel(os.path.join(OUT, 'README.md'))}")
    # A look: run 1's first test drawing beside the training drawing it should be matched to,
    # and a background drawing.
    run = run_list[0]
    shown = [("run 1 test item01", run["test"][0]),
             (f"its answer, class{run['answers'][0] + 1:02d}", run["training"][run["answers"][0]]),
             (f"{alphabets[0]['alphabet']} character01", alphabets[0]["characters"][0]["first"])]
    print("[omniglot] " + " | ".join(f"{label} (drawing {i})" for label, i in shown))
    for lines in zip(*(ascii_art(drawings[i]) for _, i in shown)):
        print("  ".join(lines))


if __name__ == "__main__":
    main()
