#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Counts a file's key bytes in a live process's memory (run as root).

    memscan.py PID DEK_HEX CONTENT_KEY_HEX

Reads every readable mapping of /proc/PID/mem and prints one line per
name, "NAME COUNT [MAPPINGS]":
  dek       the DEK;
  dek_b64   the DEK in base64 or base64url at any alignment, as the HSM
            returns it inside an unwrapped key record;
  content   the content key, which is also the first two round keys of
            its AES-256 key schedule;
  schedule  round keys 2-3 (bytes 32..63 of the expanded key, in FIPS-197
            byte order as AES-NI code keeps them): only a cipher context
            holds those.
"""
import base64
import sys

CHUNK = 1 << 20


def sbox():
    s = [0] * 256
    p = q = 1
    while True:
        # p runs over the multiplicative group by 3, q over its inverses.
        p = (p ^ (p << 1) ^ (0x1B if p & 0x80 else 0)) & 0xFF
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q
        for r in (1, 2, 3, 4):
            x ^= ((q << r) | (q >> (8 - r))) & 0xFF
        s[p] = x ^ 0x63
        if p == 1:
            break
    s[0] = 0x63
    return s


def expand(key):
    """The AES-256 key schedule, 240 bytes."""
    s = sbox()
    w = [list(key[i:i + 4]) for i in range(0, 32, 4)]
    rcon = 1
    for i in range(8, 60):
        t = list(w[i - 1])
        if i % 8 == 0:
            t = [s[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = (rcon << 1) ^ (0x11B if rcon & 0x80 else 0)
        elif i % 8 == 4:
            t = [s[b] for b in t]
        w.append([a ^ b for a, b in zip(w[i - 8], t)])
    return bytes(b for word in w for b in word)


def self_check():
    # FIPS-197 appendix A.3: words 8..15 of the AES-256 example key.
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d7781"
                        "1f352c073b6108d72d9810a30914dff4")
    want = bytes.fromhex("9ba354118e6925afa51a8b5f2067fcde"
                         "a8b09c1a93d194cdbe49846eb75d5b9a")
    assert expand(key)[32:64] == want, "AES key expansion is wrong"


def b64_forms(key):
    """Base64 text that depends on key bytes alone, for each of the three
    alignments key can have in a longer encoded string, in both
    alphabets."""
    forms = []
    for shift, drop in ((0, 0), (1, 2), (2, 3)):
        text = base64.b64encode(bytes(shift) + key[:30 - shift])[drop:]
        forms += [text, text.translate(bytes.maketrans(b"+/", b"-_"))]
    return forms


def regions(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if parts[1][0] == "r":
                yield lo, hi, parts[5] if len(parts) > 5 else "[anon]"


def scan(pid, patterns):
    """patterns: name -> list of byte strings. Counts and mapping names."""
    counts = {name: 0 for name in patterns}
    where = {name: set() for name in patterns}
    keep = max(len(p) for ps in patterns.values() for p in ps) - 1
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi, mapping in regions(pid):
            tail = b""
            for off in range(lo, hi, CHUNK):
                try:
                    mem.seek(off)
                    buf = tail + mem.read(min(CHUNK, hi - off))
                except OSError:
                    tail = b""
                    continue
                for name, pats in patterns.items():
                    for pat in pats:
                        # Only hits that reach into the new bytes: none
                        # is counted twice.
                        i = buf.find(pat)
                        while i >= 0:
                            if i + len(pat) > len(tail):
                                counts[name] += 1
                                where[name].add(mapping)
                            i = buf.find(pat, i + 1)
                tail = buf[-keep:]
    return counts, where


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    self_check()
    dek = bytes.fromhex(sys.argv[2])
    ck = bytes.fromhex(sys.argv[3])
    patterns = {"dek": [dek], "dek_b64": b64_forms(dek), "content": [ck],
                "schedule": [expand(ck)[32:64]]}
    counts, where = scan(int(sys.argv[1]), patterns)
    for name in patterns:
        print(name, counts[name], " ".join(sorted(where[name])))


main()
