#!/usr/bin/env python3
"""Seed the fuzz corpora in tests/fuzz/corpus/ from the test vectors.

    python3 tests/fuzz/make_corpus.py [--prune]

corpus/packify/         every packed_hex / canonical_hex of packify.json, the packify
                        blobs of peer.json, and the auth blobs (packify dicts) of frames
corpus/stream_decoder/  every frame (encoded_hex) of message.json, peer.json,
                        hmac_auth.json and sha256_stream_cipher.json, plus
                        concatenations of 2-3 frames; each input starts with the
                        chunk-size byte fuzz_stream_decoder.cpp reads first

Files are named by the SHA-1 of their content; the output is deterministic.
Inputs larger than MAX_SIZE bytes are left out to keep the corpus small and
fast. --prune deletes corpus files this script would not write.
Standard library only.
"""

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "vectors"
CORPUS = HERE / "corpus"

MAX_SIZE = 4096
FRAME_FILES = ["message.json", "peer.json", "hmac_auth.json", "sha256_stream_cipher.json"]
# Chunk-size bytes for the stream corpus (chunk = byte + 1): whole-ish, byte by
# byte, and a few odd sizes that split headers.
CHUNK_BYTES = [255, 0, 4, 8, 12, 63]


def load(name):
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


def walk(node, key=None):
    """Yield (key, value, parent) for every value in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v, node
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)


def hex_bytes(text):
    try:
        return bytes.fromhex(text)
    except (TypeError, ValueError):
        return None


def packify_inputs():
    out = []
    for key, value, _parent in walk(load("packify.json")):
        if key in ("packed_hex", "canonical_hex") and isinstance(value, str):
            out.append(hex_bytes(value))
    for case in load("peer.json")["cases"]:
        for key in ("packed_hex",):
            if isinstance(case.get(key), str):
                out.append(hex_bytes(case[key]))
        if case.get("kind") == "encode_data" and isinstance(case.get("encoded_hex"), str):
            out.append(hex_bytes(case["encoded_hex"]))  # packify of the peer data
    for name in FRAME_FILES:
        for key, value, _parent in walk(load(name)):
            if key == "auth_hex" and isinstance(value, str) and value:
                out.append(hex_bytes(value))
    return [b for b in out if b is not None]


def frames():
    """Every encoded frame of the frame-carrying vector files, in file order."""
    out = []
    for name in FRAME_FILES:
        data = load(name)
        for case in data["cases"]:
            if name == "peer.json" and case.get("kind") == "encode_data":
                continue  # packify data, not a frame
            for key, value, _parent in walk(case):
                if key == "encoded_hex" and isinstance(value, str):
                    b = hex_bytes(value)
                    if b is not None:
                        out.append(b)
    return out


def unique(items):
    seen = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def stream_inputs():
    all_frames = unique(frames())
    out = []
    for i, frame in enumerate(all_frames):
        # byte 0: chunk selector; rotate so every frame is seen with some split size
        out.append(bytes([CHUNK_BYTES[i % len(CHUNK_BYTES)]]) + frame)
    small = [f for f in all_frames if len(f) <= 512]
    rng = random.Random(0x6E657461)  # deterministic
    for i in range(64):
        count = 2 + (i % 2)
        parts = [rng.choice(small) for _ in range(count)]
        out.append(bytes([CHUNK_BYTES[i % len(CHUNK_BYTES)]]) + b"".join(parts))
    return out


def write_corpus(name, inputs, prune):
    directory = CORPUS / name
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for data in inputs:
        if len(data) <= MAX_SIZE:
            wanted[hashlib.sha1(data).hexdigest()] = data
    written = 0
    for digest, data in sorted(wanted.items()):
        path = directory / digest
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            written += 1
    pruned = 0
    if prune:
        for path in directory.iterdir():
            if path.is_file() and path.name not in wanted:
                path.unlink()
                pruned += 1
    size = sum(len(d) for d in wanted.values())
    print(f"corpus/{name}: {len(wanted)} inputs ({size} bytes), {written} written, {pruned} pruned")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prune", action="store_true", help="delete corpus files not generated here")
    args = parser.parse_args()
    write_corpus("packify", packify_inputs(), args.prune)
    write_corpus("stream_decoder", stream_inputs(), args.prune)
    return 0


if __name__ == "__main__":
    sys.exit(main())
