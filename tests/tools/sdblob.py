#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An independent restore-blob maker for Managed HSM security domain files.

    sdblob.py SDFILE EXCHANGE_CER KEY [KEY...] > BLOB

Does what "az keyvault security-domain restore-blob" does, written from its
description and not from the emulator's code, so that a test can check that
the emulator's security domain file and its upload follow the Azure CLI's
format: each officer's KEY (PEM) has its certificate beside it (KEY's name
with .cer); its share is the enc_shares entry whose x5t_256 is the SHA-256
thumbprint of that certificate, a compact JWE (RSA-OAEP-256, A256CBC-HS512)
of 16-bit little-endian words x << 9 | y; `required` shares give the master
key byte by byte by Lagrange interpolation over GF(257); each EncData item
is a "dir" JWE under SP 800-108 (HMAC-SHA-512, label = its tag, 512 bits)
of the master key. The blob carries the items under a new master key and
that key as a JWE to the exchange key's certificate.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as apad
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

P = 257


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def oaep():
    return apad.OAEP(mgf=apad.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def mac(key, hdr, iv, ct):
    al = struct.pack(">Q", len(hdr) * 8)
    return hmac.new(key, hdr.encode() + iv + ct + al, hashlib.sha512).digest()[:32]


def jwe_open(compact, cek=None, priv=None):
    hdr, ek, iv, ct, tag = compact.split(".")
    h = json.loads(b64d(hdr))
    assert h["enc"] == "A256CBC-HS512", h
    if priv is not None:
        assert h["alg"] == "RSA-OAEP-256", h
        cek = priv.decrypt(b64d(ek), oaep())
    else:
        assert h["alg"] == "dir" and ek == "", h
    iv, ct = b64d(iv), b64d(ct)
    if not hmac.compare_digest(mac(cek[:32], hdr, iv, ct), b64d(tag)):
        raise ValueError("JWE authentication failed")
    d = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).decryptor()
    u = padding.PKCS7(128).unpadder()
    return u.update(d.update(ct) + d.finalize()) + u.finalize()


def jwe_seal(pt, cek, hdr_obj, ek=b""):
    hdr = b64e(json.dumps(hdr_obj, separators=(",", ":")).encode())
    iv = os.urandom(16)
    p = padding.PKCS7(128).padder()
    e = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).encryptor()
    ct = e.update(p.update(pt) + p.finalize()) + e.finalize()
    return ".".join([hdr, b64e(ek), b64e(iv), b64e(ct), b64e(mac(cek[:32], hdr, iv, ct))])


def kdf(key, label):
    data = struct.pack(">I", 1) + label.encode() + b"\0" + struct.pack(">I", 512)
    return hmac.new(key, data, hashlib.sha512).digest()


def combine(shares):
    out = bytearray()
    for words in zip(*shares):
        pts = [(w >> 9, w & 0x1FF) for w in words]
        s = 0
        for i, (xi, yi) in enumerate(pts):
            num = den = 1
            for j, (xj, _) in enumerate(pts):
                if j != i:
                    num = num * xj % P
                    den = den * (xj - xi) % P
            s = (s + yi * num * pow(den, P - 2, P)) % P
        if s > 255:
            raise ValueError("shares do not combine")
        out.append(s)
    return bytes(out)


def thumb(cert):
    return b64e(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())


def main(sdfile, exchange, keys):
    sd = json.load(open(sdfile))
    sk = sd["SharedKeys"]
    assert sk["key_algorithm"] == "shamir_share"
    shares = []
    for k in keys:
        priv = serialization.load_pem_private_key(open(k, "rb").read(), None)
        cert = x509.load_pem_x509_certificate(open(os.path.splitext(k)[0] + ".cer", "rb").read())
        for es in sk["enc_shares"]:
            if es["x5t_256"] == thumb(cert):
                b = jwe_open(es["enc_key"], priv=priv)
                shares.append(struct.unpack("<%dH" % (len(b) // 2), b))
        if len(shares) == sk["required"]:
            break
    if len(shares) < sk["required"]:
        sys.exit("sdblob.py: %d shares, quorum %d" % (len(shares), sk["required"]))
    master = combine(shares)
    fresh = os.urandom(32)
    data = []
    for item in sd["EncData"]["data"]:
        pt = jwe_open(item["compact_jwe"], cek=kdf(master, item["tag"]))
        hdr = {"alg": "dir", "enc": "A256CBC-HS512", "kid": item["tag"]}
        data.append({"compact_jwe": jwe_seal(pt, kdf(fresh, item["tag"]), hdr), "tag": item["tag"]})
    xc = x509.load_pem_x509_certificate(open(exchange, "rb").read())
    cek = os.urandom(64)
    hdr = {"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512", "kid": "not used"}
    wrapped = jwe_seal(fresh, cek, hdr, xc.public_key().encrypt(cek, oaep()))
    json.dump({"EncData": {"data": data, "kdf": "sp108_kdf"},
               "WrappedKey": {"enc_key": wrapped, "x5t_256": thumb(xc)}}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__.splitlines()[2])
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
