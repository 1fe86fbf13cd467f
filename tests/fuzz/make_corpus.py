#!/usr/bin/env python3
"""Seed the fuzz corpora in tests/fuzz/corpus/ from the test vectors.

    python3 tests/fuzz/make_corpus.py [--prune]

corpus/packify/         every packed_hex / canonical_hex of packify.json, the packify
                        blobs of peer.json, and the auth blobs (packify dicts) of frames
corpus/stream_decoder/  every frame (encoded_hex) of message.json, peer.json,
                        hmac_auth.json and sha256_stream_cipher.json, plus
                        concatenations of 2-3 frames; each input starts with the
                        chunk-size byte fuzz_stream_decoder.cpp reads first
corpus/hmac_check/      raw inputs (mode byte 0): the HMAC frames of hmac_auth.json
                        (made, and every check case - tampered, missing fields,
                        wrong lengths - framed here), some retyped, the plain and
                        invalid frames of message.json; structured inputs (mode 1,
                        u16 frame length, frame, ops; see fuzz_support.hpp): small
                        frames with the op scripts in OPS
corpus/cipher_decrypt/  raw: the stream-cipher frames of sha256_stream_cipher.json
                        (one plugin layer and stacks), the plain frames of
                        message.json; structured: small frames with OPS
corpus/tcp_server/      a server-layer byte (fuzz_tcp_server.cpp: 0 none, 1 HMAC
                        "test", 2 HMAC "secret" + cipher "key", 3 HMAC requiring
                        xmac) and a byte stream: single and concatenated frames,
                        the invalid frames, truncated ones; each layer with the
                        frames its keys authenticate

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
import zlib
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


# Op scripts for the structured inputs (4 bytes per op: kind, a, b, c; see
# fuzz_support.hpp apply()): none, re-type to DELETE_URI (4), flip a field bit,
# erase a field, set a 16-byte field ("iv" in the HMAC target's name list), flip
# a body bit, truncate a field, and two combinations.
OPS = [
    b"",
    bytes([0, 4, 0, 0]),
    bytes([1, 0, 3, 1]),
    bytes([2, 1, 0, 0]),
    bytes([3, 0, 4, 16]),
    bytes([4, 0, 2, 5]),
    bytes([5, 2, 1, 0]),
    bytes([0, 4, 0, 0, 3, 9, 4, 16]),
    bytes([1, 2, 0, 7, 4, 1, 0, 0]),
]


def header(message_type, auth, body):
    """netaio's 9-byte header: type, u16 auth length, u16 body length, CRC-32 of the body."""
    return (bytes([message_type]) + len(auth).to_bytes(2, "big") + len(body).to_bytes(2, "big")
            + (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big"))


def framed(message_type, auth, body):
    return header(message_type, auth, body) + auth + body


def frames_of(name, kinds=None):
    """The encoded frames of one vector file (optionally only some case kinds)."""
    out = []
    for case in load(name)["cases"]:
        if kinds is not None and case.get("kind") not in kinds:
            continue
        for key, value, _parent in walk(case):
            if key == "encoded_hex" and isinstance(value, str):
                b = hex_bytes(value)
                if b is not None:
                    out.append(b)
    return unique(out)


def hmac_check_frames():
    """Every HMAC case as a frame: make outputs as recorded, check cases framed here."""
    out = frames_of("hmac_auth.json", {"make"})
    for case in load("hmac_auth.json")["cases"]:
        if case.get("kind") == "check":
            auth, body = hex_bytes(case["auth_hex"]), hex_bytes(case["body_hex"])
            out.append(framed(7, auth, body))  # PUBLISH_URI, as the make vectors
            out.append(framed(4, auth, body))  # the same re-typed to DELETE_URI
    return unique(out)


def structured(frame, ops):
    return bytes([1]) + len(frame).to_bytes(2, "big") + frame + ops


def small_plain_frames(limit=8):
    return [f for f in frames_of("message.json", {"frame"}) if len(f) <= 256][:limit]


def hmac_check_inputs():
    raw = hmac_check_frames() + frames_of("message.json", {"frame", "invalid_frame"})
    out = [bytes([0]) + f for f in raw]
    for f in small_plain_frames() + frames_of("hmac_auth.json", {"make"})[:4]:
        out.extend(structured(f, ops) for ops in OPS)
    return out


def cipher_decrypt_inputs():
    raw = frames_of("sha256_stream_cipher.json") + frames_of("message.json", {"frame"})
    out = [bytes([0]) + f for f in raw]
    for f in small_plain_frames():
        out.extend(structured(f, ops) for ops in OPS)
    return out


def tcp_server_inputs():
    plain = frames_of("message.json", {"frame"})
    invalid = frames_of("message.json", {"invalid_frame"})
    hmac_frames = hmac_check_frames()
    stacks = frames_of("sha256_stream_cipher.json", {"plugin_stack"})
    rng = random.Random(0x74637073)  # deterministic
    out = []
    out.extend(bytes([0]) + f for f in plain[:12])
    out.extend(bytes([0]) + f for f in invalid)
    out.extend(bytes([0]) + f[: len(f) // 2] for f in plain[:4])  # cut mid-frame, then FIN
    for i in range(8):
        parts = [rng.choice(plain[:16]) for _ in range(2 + i % 2)]
        out.append(bytes([0]) + b"".join(parts))
    out.extend(bytes([1]) + f for f in hmac_frames[:12])
    out.append(bytes([1]) + b"".join(hmac_frames[:3]))
    out.extend(bytes([2]) + f for f in stacks)
    out.append(bytes([2]) + b"".join(stacks))
    out.extend(bytes([3]) + f for f in hmac_frames[:4])
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
    write_corpus("hmac_check", hmac_check_inputs(), args.prune)
    write_corpus("cipher_decrypt", cipher_decrypt_inputs(), args.prune)
    write_corpus("tcp_server", tcp_server_inputs(), args.prune)
    return 0


if __name__ == "__main__":
    sys.exit(main())
