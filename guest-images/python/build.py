#!/usr/bin/env python3
"""Builds sandrun's Python guest image from pinned packages.

    python3 guest-images/python/build.py --out DIR [--work DIR] [--quiet]

Steps, each printed as it starts unless --quiet:
  1. a private virtualenv under --work with the pinned, hash-checked packages
     of requirements.txt (pip verifies every sha256);
  2. the CPython 3.14 standard library, unpacked from the zstd-compressed tar
     that componentize-py carries, into DIR/lib/python3.14 (mounted read-only
     into every guest so that any module can be imported on demand);
  3. the component: componentize-py snapshots CPython after importing our shim
     (shim/sandrun_guest.py) against the WIT world in guest-images/wit;
  4. DIR/image.json: the image's name, versions and digest (sha256 over the
     component and every library file, so results can name what ran).

The image is built in a temporary folder beside DIR and renamed into place,
so a reader never sees a half-built image and two builders do not collide.
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
WIT_DIR = os.path.join(HERE, "..", "wit")
SHIM_DIR = os.path.join(HERE, "shim")
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
IMAGE_FORMAT = 1
PYTHON_VERSION = "3.14"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def log(args, message):
    if not args.quiet:
        print(f"[python image] {message}", file=sys.stderr, flush=True)


def ensure_venv(args):
    """A virtualenv whose packages match requirements.txt exactly."""
    env_dir = os.path.join(args.work, "venv")
    stamp = os.path.join(env_dir, "requirements.sha256")
    want = hashlib.sha256(open(REQUIREMENTS, "rb").read()).hexdigest()
    python = os.path.join(env_dir, "bin", "python")
    if os.path.exists(stamp) and open(stamp).read() == want:
        return python
    log(args, "installing pinned packages (componentize-py, zstandard) with pip")
    shutil.rmtree(env_dir, ignore_errors=True)
    venv.EnvBuilder(with_pip=True).create(env_dir)
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check",
           "--require-hashes", "--no-deps", "--only-binary=:all:", "-r", REQUIREMENTS]
    if args.quiet:
        cmd.append("--quiet")
    subprocess.run(cmd, check=True, stdout=sys.stderr if not args.quiet else subprocess.DEVNULL)
    with open(stamp, "w") as f:
        f.write(want)
    return python


def extract_stdlib(python, dest):
    """componentize-py's native module embeds the standard library as a
    zstd-compressed tar; find the frame that holds it and unpack it safely."""
    code = f"""
import componentize_py, glob, os, sys, zstandard
lib = glob.glob(os.path.join(os.path.dirname(componentize_py.__file__), 'componentize_py*.so'))[0]
data = open(lib, 'rb').read()
magic = {ZSTD_MAGIC!r}
at = data.find(magic)
while at >= 0:
    try:
        out = zstandard.ZstdDecompressor().decompressobj().decompress(data[at:])
    except zstandard.ZstdError:
        out = b''
    if b'encodings/__init__.py' in out[:1 << 20] or b'encodings/__init__.py' in out:
        if b'os.py' in out:
            sys.stdout.buffer.write(out)
            sys.exit(0)
    at = data.find(magic, at + 4)
sys.exit('no standard library found in ' + lib)
"""
    tar_bytes = subprocess.run([python, "-c", code], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        members = []
        for member in tar.getmembers():
            name = os.path.normpath(member.name)
            if name.startswith(("/", "..")) or not (member.isfile() or member.isdir()):
                raise SystemExit(f"refusing unsafe entry in the standard library tar: {member.name}")
            members.append(member)
        tar.extractall(dest, members=members, filter="data")


def build_component(python, out_file, args):
    tool = os.path.join(os.path.dirname(python), "componentize-py")
    cmd = [tool, "-d", WIT_DIR, "-w", "python",
           "componentize", "sandrun_guest", "-p", SHIM_DIR, "-o", out_file]
    if args.quiet:
        cmd.insert(1, "--quiet")
    # An empty environment: nothing of the build machine reaches the snapshot.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": args.work}
    subprocess.run(cmd, check=True, env=env,
                   stdout=sys.stderr if not args.quiet else subprocess.DEVNULL)


def tree_digest(root):
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel == "image.json":
                continue
            digest.update(rel.encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
    return "sha256:" + digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the image folder to create")
    parser.add_argument("--work", help="where the pinned virtualenv is kept (default: beside --out)")
    parser.add_argument("--quiet", action="store_true", help="print errors only")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    args.work = os.path.abspath(args.work or os.path.join(os.path.dirname(out), "build"))
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(os.path.dirname(out), exist_ok=True)

    python = ensure_venv(args)
    staging = tempfile.mkdtemp(prefix=".python-image-", dir=os.path.dirname(out))
    try:
        log(args, f"unpacking the CPython {PYTHON_VERSION} standard library")
        extract_stdlib(python, os.path.join(staging, "lib", f"python{PYTHON_VERSION}"))
        log(args, "snapshotting CPython with the sandrun shim (componentize-py)")
        build_component(python, os.path.join(staging, "python.wasm"), args)
        log(args, "hashing the image")
        manifest = {
            "format": IMAGE_FORMAT,
            "name": "python",
            "language_version": PYTHON_VERSION,
            "kind": "component",
            "module": "python.wasm",
            "mounts": {f"/python/lib/python{PYTHON_VERSION}": f"lib/python{PYTHON_VERSION}"},
            "digest": tree_digest(staging),
        }
        with open(os.path.join(staging, "image.json"), "w") as f:
            json.dump(manifest, f, indent=2)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(args, f"image ready: {out} ({manifest['digest']})")


if __name__ == "__main__":
    main()
