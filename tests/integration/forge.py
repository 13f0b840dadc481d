#!/usr/bin/python3
"""Forged volume configs, as an attacker who controls the backing directory
makes them, for tests/integration/adversary.sh. Writes CONF in place.

    forge.py kek CONF URL
        a fresh volume id and the KEK at URL (the volume key slot names a
        version of it); the rest as it was
    forge.py vk CONF JWK.json
        the same volume id and KEK, and a volume key of the attacker's
        choosing wrapped with the RSA KEK's public key (the JWK the HSM
        hands out; RSA-OAEP-256 by the openssl CLI), sealed with a valid
        MAC (crypto/FORMAT.md section 2)
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hkdf(ikm, info, n=32):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def lp(b):
    return struct.pack(">I", len(b)) + b


ALGS = {"RSA-OAEP-256": 1, "A256KW": 2, "CKM_AES_KEY_WRAP_PAD": 3}
FEATS = {"encrypted-names": 1, "long-names": 2, "plaintext-names": 4}


def mac(c, vk):
    feats = sum(FEATS[f] for f in c["features"])
    m = (lp(b"hsmfs.conf v1") + lp(bytes([c["format"]])) +
         lp(c["creator"].encode()) + lp(unb64u(c["volume_id"])) +
         lp(struct.pack(">I", feats)) + lp(c["kek"].encode()) +
         lp(bytes([ALGS[c["volume_key"]["alg"]]])) +
         lp(c["volume_key"]["kid"].encode()) +
         lp(unb64u(c["volume_key"]["wrapped"])))
    if "previous_keks" in c:
        m += lp(b"previous_keks") + b"".join(lp(u.encode())
                                             for u in c["previous_keks"])
    key = hkdf(vk, b"hsmfs v1 config mac")
    return b64u(hmac.new(key, m, hashlib.sha256).digest())


def der(tag, body):
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + body


def der_int(b):
    return der(0x02, b"\0" + b if b[0] & 0x80 else b)


def pem_of_jwk(jwk, out):
    """The RSA public key of a JWK, as PEM, by way of PKCS#1 DER."""
    k = json.load(open(jwk))
    pkcs1 = der(0x30, der_int(unb64u(k["n"])) + der_int(unb64u(k["e"])))
    subprocess.run(["openssl", "rsa", "-RSAPublicKey_in", "-inform", "DER",
                    "-pubout", "-out", out], input=pkcs1, check=True,
                   stderr=subprocess.DEVNULL)


def rsa_oaep_256(jwk, data):
    pub = jwk + ".pem"
    pem_of_jwk(jwk, pub)
    return subprocess.run(
        ["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", pub,
         "-pkeyopt", "rsa_padding_mode:oaep",
         "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"],
        input=data, stdout=subprocess.PIPE, check=True).stdout


def main():
    mode, path, arg = sys.argv[1:4]
    c = json.load(open(path))
    if mode == "kek":
        c["volume_id"] = b64u(os.urandom(16))
        c["kek"] = arg
        c["volume_key"]["kid"] = arg + "/" + os.urandom(16).hex()
    elif mode == "vk":
        vk = os.urandom(32)
        rec = b"HSMFSVK1" + unb64u(c["volume_id"]) + vk
        c["volume_key"]["alg"] = "RSA-OAEP-256"
        c["volume_key"]["wrapped"] = b64u(rsa_oaep_256(arg, rec))
        c["mac"] = mac(c, vk)
    else:
        sys.exit("unknown mode " + mode)
    tmp = path + ".forged"
    with open(tmp, "w") as f:
        json.dump(c, f, indent="\t")
    os.replace(tmp, path)


main()
