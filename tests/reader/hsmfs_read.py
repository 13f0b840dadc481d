#!/usr/bin/python3
"""An independent reader of hsmfs volumes, written from crypto/FORMAT.md.

    hsmfs_read.py [options] BACKINGDIR OUTDIR

Checks everything the format authenticates (config MAC, key records,
header slot MACs, every block's GCM tag, names, long-name sidecars,
symlink targets, xattrs; in format 3 also each file's state and holes,
and the directory IV tags) and writes the decrypted tree to OUTDIR, which
must be missing or empty. Any authentication or format failure stops it
with exit status 1 and a message naming the backing file (2: a usage
error). --show-state prints the state in use of every format-3 file
(section 7.2). --only PATH (repeatable) reads the content of those backing
files alone: every other regular file is left out, unread, while the
config, every name, directory IV, symlink and directory xattr is still
checked; the tests use it to aim a check at the file they changed.

Keys are unwrapped by the HSM's REST "unwrapkey" operation, with a bearer
token from the OAuth2 client-credentials grant (AZURE_AUTHORITY_HOST,
AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET). A key version
can instead be given as a local AES key file (--local-kek KID=FILE) for
volumes wrapped by a software key. The config is untrusted until its MAC
checks, which takes an unwrap at the KEK it names: give --kek to refuse
any other.
--escrow-kek URL opens a volume-wrap volume through that escrow KEK of
its config instead (section 8.7).

This is a test artifact: it shares no code with hsmfs and is never
installed. Each function below implements one rule of the format; the
section numbers refer to FORMAT.md.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import ssl
import stat
import struct
import sys
import urllib.parse

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap, aes_key_unwrap, aes_key_unwrap_with_padding)


class FormatError(Exception):
    """A backing file that fails authentication or breaks a format rule."""

    def __init__(self, path, why):
        super().__init__(f"{path}: {why}")


class HsmError(Exception):
    """The HSM (or the token endpoint) refused or could not be reached."""


# ---------------------------------------------------------------------------
# Encodings (preamble)

B64URL_ALPHABET = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   b"0123456789-_")
B64URL_VALUE = {c: i for i, c in enumerate(B64URL_ALPHABET)}


def b64url_decode(text):
    """Strict base64url without padding: no '=', nothing outside the URL
    alphabet, no length that cannot be, unused trailing bits zero.
    Returns None when the text is not such an encoding."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            return None
    if len(text) % 4 == 1:
        return None
    bits = 0
    nbits = 0
    out = bytearray()
    for c in text:
        v = B64URL_VALUE.get(c)
        if v is None:
            return None
        bits = (bits << 6) | v
        nbits += 6
        if nbits >= 8:
            nbits -= 8
            out.append((bits >> nbits) & 0xFF)
            bits &= (1 << nbits) - 1
    if bits != 0:
        return None
    return bytes(out)


def b64url_encode(data):
    """base64url without padding."""
    out = []
    for i in range(0, len(data), 3):
        chunk = data[i:i + 3]
        n = int.from_bytes(chunk.ljust(3, b"\0"), "big")
        chars = [B64URL_ALPHABET[(n >> s) & 63] for s in (18, 12, 6, 0)]
        out.extend(chars[:len(chunk) + 1])
    return bytes(out).decode("ascii")


def hkdf(ikm, info, length=32):
    """HKDF-SHA256 with an empty salt."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"",
                info=info.encode("ascii")).derive(ikm)


# ---------------------------------------------------------------------------
# Section 1: keys

ALG_NAMES = {1: "RSA-OAEP-256", 2: "A256KW", 3: "CKM_AES_KEY_WRAP_PAD"}
ALG_NUMBERS = {name: n for n, name in ALG_NAMES.items()}
VK_MAGIC = b"HSMFSVK1"
DEK_MAGIC = b"HSMFSDK1"
# Section 8: volume-wrap.
WK_MAGIC = b"HSMFSWK1"
ALG_LOCAL = 4
ALG_LOCAL_NAME = "HSMFS-WK-AES-SIV"
LOCAL_WRAPPED_LEN = 72


def volume_keys(vk):
    """The keys derived from the volume key."""
    return {
        "names": hkdf(vk, "hsmfs v1 names", 64),
        "xattr names": hkdf(vk, "hsmfs v1 xattr names", 64),
        "xattr values": hkdf(vk, "hsmfs v1 xattr values"),
        "symlinks": hkdf(vk, "hsmfs v1 symlinks"),
        "config mac": hkdf(vk, "hsmfs v1 config mac"),
        # Format 3 (section 7)
        "directory iv": hkdf(vk, "hsmfs v3 directory iv"),
        "xattr names v3": hkdf(vk, "hsmfs v3 xattr names"),
    }


def content_key(dek):
    return hkdf(dek, "hsmfs v1 content")


def header_mac_key(vk, dek):
    return hkdf(vk + dek, "hsmfs v1 header mac")


def file_meta_key(dek):
    """Format 3: the key of the file state's MAC (section 7.2)."""
    return hkdf(dek, "hsmfs v3 file meta")


def open_key_record(record, magic, ident, path, what):
    """A wrapped key is a 56-byte record magic (8) || id (16) || key (32);
    returns the key once magic and id match."""
    if len(record) != 56:
        raise FormatError(path, f"{what}: unwrapped record is {len(record)} "
                          "bytes, not 56")
    if record[:8] != magic:
        raise FormatError(path, f"{what}: unwrapped record has magic "
                          f"{record[:8]!r}, not {magic!r}")
    if record[8:24] != ident:
        raise FormatError(path, f"{what}: unwrapped record belongs to "
                          "another id")
    return record[24:56]


def parse_azure_key_url(url, need_version):
    """(base, name, version) of https://HOST[:PORT]/keys/NAME[/VERSION],
    with the host lower-cased and port 443 left out; None if it is not
    one. A kid always has a version (32 hex digits)."""
    m = re.fullmatch(r"(?i:https)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])"
                     r"(?::([0-9]{1,5}))?/keys/([0-9A-Za-z-]{1,127})"
                     r"(?:/([0-9A-Fa-f]{32}))?(/?)", url)
    if not m:
        return None
    host, port, name, version, slash = m.groups()
    if (need_version and (version is None or slash)):
        return None
    port = int(port) if port else 443
    if not 0 < port < 65536:
        return None
    base = "https://" + host.lower() + ("" if port == 443 else f":{port}")
    return base, name, version


def parse_endpoint(url):
    """The base of an HSM endpoint https://HOST[:PORT][/], or None."""
    k = parse_azure_key_url(url.rstrip("/") + "/keys/k", False)
    return k[0] if k else None


def kid_is_version_of(kid, kek, endpoints=()):
    """A kid names a version of a KEK: for an HSM key URL, any version of
    the key of that name (compared without regard to case) on the same
    host and port, or on one of the further endpoints (bases) the volume
    is used with, even when the KEK URL itself names a version. For
    other KEK URLs: the URL itself or the URL and one more segment."""
    k = parse_azure_key_url(kek, False)
    if k is not None:
        v = parse_azure_key_url(kid, True)
        return (v is not None and (v[0] == k[0] or v[0] in endpoints)
                and v[1].lower() == k[1].lower())
    if kid == kek:
        return True
    base = kek.rstrip("/") + "/"
    rest = kid[len(base):] if kid.startswith(base) else ""
    return rest != "" and "/" not in rest


# ---------------------------------------------------------------------------
# Key unwrapping: in the HSM over REST, or with a local AES key

class Unwrapper:
    """Unwraps records with the KEK version named by a kid."""

    API_VERSION = "7.4"

    def __init__(self, ca_file, scope, local_keks, endpoints=()):
        self.ca_file = ca_file
        self.scope = scope
        self.local = local_keks
        self.endpoints = list(endpoints)
        self.token = None
        self.calls = 0
        self.ssl = None
        self.conns = {}  # "host:port" -> an open HTTPSConnection

    def unwrap(self, kid, alg, wrapped):
        if kid in self.local:
            return self._unwrap_local(self.local[kid], alg, wrapped)
        return self._unwrap_remote(kid, alg, wrapped)

    @staticmethod
    def _unwrap_local(key, alg, wrapped):
        try:
            if alg == 2:
                return aes_key_unwrap(key, wrapped)
            if alg == 3:
                return aes_key_unwrap_with_padding(key, wrapped)
        except InvalidUnwrap:
            raise HsmError("local unwrap failed") from None
        raise HsmError(f"no local unwrap for alg {ALG_NAMES[alg]}")

    def _context(self):
        if self.ssl is None:
            self.ssl = ssl.create_default_context(cafile=self.ca_file)
        return self.ssl

    def _answer(self, where, path, body, headers):
        """One request on the kept-alive connection to where (a new one
        if there is none); a kept one the server has closed meanwhile is
        replaced once."""
        for kept in (True, False):
            conn = self.conns.pop(where, None)
            if conn is None:
                kept = False
                conn = http.client.HTTPSConnection(
                    where, context=self._context(), timeout=30)
            try:
                conn.request("POST", path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                if kept:
                    continue
                raise
            if r.will_close:
                conn.close()
            else:
                self.conns[where] = conn
            return r.status, data
        raise AssertionError("unreachable")

    def _post(self, url, body, headers):
        if not url.startswith("https://"):
            raise HsmError(f"refusing a non-HTTPS URL: {url}")
        u = urllib.parse.urlsplit(url)
        path = u.path + (f"?{u.query}" if u.query else "")
        try:
            status, data = self._answer(u.netloc, path, body, headers)
            if not 200 <= status < 300:
                detail = data.decode("utf-8", "replace")[:300]
                raise HsmError(f"{url}: HTTP {status}: {detail}")
            return json.loads(data)
        except (http.client.HTTPException, OSError, ValueError) as e:
            raise HsmError(f"{url}: {e}") from None

    def _bearer(self):
        if self.token is None:
            env = os.environ
            try:
                authority = env["AZURE_AUTHORITY_HOST"].rstrip("/")
                tenant = env["AZURE_TENANT_ID"]
                client = env["AZURE_CLIENT_ID"]
                secret = env["AZURE_CLIENT_SECRET"]
            except KeyError as e:
                raise HsmError(f"{e.args[0]} is not set") from None
            form = urllib.parse.urlencode({
                "grant_type": "client_credentials",
                "client_id": client,
                "client_secret": secret,
                "scope": self.scope,
            }).encode("ascii")
            answer = self._post(
                f"{authority}/{urllib.parse.quote(tenant)}/oauth2/v2.0/token",
                form, {"Content-Type": "application/x-www-form-urlencoded"})
            self.token = answer.get("access_token")
            if not isinstance(self.token, str):
                raise HsmError("token endpoint gave no access_token")
        return self.token

    def _unwrap_remote(self, kid, alg, wrapped):
        """At the kid's own URL; if that fails, at the same key version on
        each further endpoint."""
        body = json.dumps({"alg": ALG_NAMES[alg],
                           "value": b64url_encode(wrapped)}).encode()
        urls = [kid]
        parsed = parse_azure_key_url(kid, True)
        if parsed is not None:
            urls += [f"{ep}/keys/{parsed[1]}/{parsed[2]}"
                     for ep in self.endpoints if ep != parsed[0]]
        first = None
        for url in urls:
            try:
                answer = self._post(
                    f"{url}/unwrapkey?api-version={self.API_VERSION}", body,
                    {"Content-Type": "application/json",
                     "Authorization": f"Bearer {self._bearer()}"})
                break
            except HsmError as e:
                first = first or e
        else:
            raise first
        self.calls += 1
        value = answer.get("value")
        out = b64url_decode(value) if isinstance(value, str) else None
        if out is None:
            raise HsmError(f"{kid}: unwrapkey answered no base64url value")
        return out


# ---------------------------------------------------------------------------
# Section 2: the volume config

CONFIG_MEMBERS = {"creator", "format", "volume_id", "features", "kek",
                  "volume_key", "mac"}
CONFIG_OPTIONAL = {"previous_keks", "wrapping_keys", "wrap_conversion",
                   "escrow_keks"}
CONVERSIONS = ("to-volume", "to-file")
FEATURE_BITS = {"encrypted-names": 1, "long-names": 2, "plaintext-names": 4,
                "volume-wrap": 8}


class Config:
    pass


def unique_members(pairs):
    """A JSON object whose members each appear once."""
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"member {k!r} appears twice")
        obj[k] = v
    return obj


def parse_config(path, endpoints=()):
    """Reads hsmfs.conf and checks its shape (not yet its MAC)."""
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read().decode("utf-8"),
                             object_pairs_hook=unique_members)
    except (OSError, ValueError) as e:
        raise FormatError(path, f"not a JSON config: {e}") from None

    def bad(why):
        return FormatError(path, why)

    if not isinstance(raw, dict):
        raise bad("not a JSON object")
    names = set(raw)
    if not CONFIG_MEMBERS <= names:
        raise bad(f"missing members {sorted(CONFIG_MEMBERS - names)}")
    if names - CONFIG_MEMBERS - CONFIG_OPTIONAL:
        raise bad(f"unknown members "
                  f"{sorted(names - CONFIG_MEMBERS - CONFIG_OPTIONAL)}")
    c = Config()
    c.creator = raw["creator"]
    c.kek = raw["kek"]
    if not isinstance(c.creator, str) or not isinstance(c.kek, str):
        raise bad("creator and kek must be strings")
    c.format = raw["format"]
    if type(c.format) not in (int, float) or c.format not in LAYOUTS:
        raise bad(f"unknown format {c.format!r}")
    c.format = int(c.format)
    c.volume_id = b64url_decode(raw["volume_id"]) \
        if isinstance(raw["volume_id"], str) else None
    if c.volume_id is None or len(c.volume_id) != 16:
        raise bad("volume_id is not base64url of 16 bytes")
    c.feature_bits = parse_features(raw["features"], path)
    c.encrypted_names = bool(c.feature_bits & FEATURE_BITS["encrypted-names"])
    c.volume_wrap = bool(c.feature_bits & FEATURE_BITS["volume-wrap"])
    vk = raw["volume_key"]
    if not isinstance(vk, dict) or set(vk) != {"alg", "kid", "wrapped"}:
        raise bad("volume_key must have exactly alg, kid, wrapped")
    if c.volume_wrap and vk["alg"] == ALG_LOCAL_NAME:
        c.alg = ALG_LOCAL
    elif c.volume_wrap:
        raise bad("volume-wrap: volume_key is not wrapped locally")
    else:
        c.alg = ALG_NUMBERS.get(vk["alg"])
    if c.alg is None:
        raise bad(f"unknown volume_key alg {vk['alg']!r}")
    c.kid = vk["kid"]
    if not isinstance(c.kid, str) or not c.kid:
        raise bad("volume_key kid is not a string")
    c.wrapped = b64url_decode(vk["wrapped"]) \
        if isinstance(vk["wrapped"], str) else None
    if not c.wrapped or len(c.wrapped) > 512:
        raise bad("volume_key wrapped is not base64url of 1..512 bytes")
    c.previous_keks = parse_previous_keks(raw, c.kek, path)
    c.mac = b64url_decode(raw["mac"]) if isinstance(raw["mac"], str) else None
    if c.mac is None or len(c.mac) != 32:
        raise bad("mac is not base64url of 32 bytes")
    c.endpoints = tuple(endpoints)
    c.wks = parse_wrapping_keys(raw, c, bad)
    c.conversion = raw.get("wrap_conversion")
    if "wrap_conversion" in raw and (not c.volume_wrap or
                                     c.conversion not in CONVERSIONS):
        raise bad("wrap_conversion must be to-volume or to-file, and only "
                  "with volume-wrap")
    c.escrows = parse_escrow_keks(raw, c, bad)
    if c.volume_wrap:
        gen = local_kid_generation(c.kid, c.volume_id)
        if (gen is None or gen not in [w["generation"] for w in c.wks]
                or len(c.wrapped) != LOCAL_WRAPPED_LEN):
            raise bad("volume_key is not wrapped by one of wrapping_keys")
    elif not kid_is_version_of(c.kid, c.kek, c.endpoints):
        raise bad(f"volume_key kid {c.kid} is not a version of {c.kek}")
    return c


def parse_wrapping_keys(raw, c, bad):
    """Section 8.1: present exactly with volume-wrap (format 3 only); 1 or
    2 keys wrapped by the KEK, by strictly increasing generation."""
    if not c.volume_wrap:
        if "wrapping_keys" in raw:
            raise bad("wrapping_keys without volume-wrap")
        return []
    if c.format != 3:
        raise bad("volume-wrap needs format 3")
    wks = raw.get("wrapping_keys")
    if not isinstance(wks, list) or not 1 <= len(wks) <= 2:
        raise bad("wrapping_keys must be a list of 1 or 2 keys")
    return parse_wrapped_keys(wks, c.kek, c, bad)


def parse_wrapped_keys(ws, kek, c, bad):
    """Wrapping keys by a KEK (8.1): exactly generation, alg, kid, wrapped,
    by strictly increasing generation, each kid a version of kek."""
    out = []
    for w in ws:
        if not isinstance(w, dict) or set(w) != {"generation", "alg", "kid",
                                                  "wrapped"}:
            raise bad("a wrapping key must have exactly generation, alg, "
                      "kid, wrapped")
        g = w["generation"]
        if (type(g) not in (int, float) or g != int(g)
                or not 1 <= g <= 0xFFFFFFFF):
            raise bad("bad wrapping key generation")
        if out and int(g) <= out[-1]["generation"]:
            raise bad("wrapping keys not in increasing generation")
        alg = ALG_NUMBERS.get(w["alg"])
        wrapped = b64url_decode(w["wrapped"]) \
            if isinstance(w["wrapped"], str) else None
        if (alg is None or not isinstance(w["kid"], str)
                or not wrapped or len(wrapped) > 512):
            raise bad("bad wrapping key")
        if not kid_is_version_of(w["kid"], kek, c.endpoints):
            raise bad(f"wrapping key kid {w['kid']} is not a version of "
                      f"{kek}")
        out.append({"generation": int(g), "alg": alg, "kid": w["kid"],
                    "wrapped": wrapped})
    return out


def parse_escrow_keks(raw, c, bad):
    """Section 8.6: optional, volume-wrap only; 1 to 3 objects with
    exactly kek and wrapping_keys; distinct URLs, none equal to kek; each
    wrapping the config's generations, in the same order, by versions of
    its own kek."""
    if "escrow_keks" not in raw:
        return None
    if not c.volume_wrap:
        raise bad("escrow_keks without volume-wrap")
    es = raw["escrow_keks"]
    if not isinstance(es, list) or not 1 <= len(es) <= 3:
        raise bad("escrow_keks must be a list of 1 to 3 KEKs")
    out = []
    for e in es:
        if not isinstance(e, dict) or set(e) != {"kek", "wrapping_keys"}:
            raise bad("an escrow KEK must have exactly kek, wrapping_keys")
        url = e["kek"]
        if (not isinstance(url, str) or not url or url == c.kek
                or url in [x["kek"] for x in out]):
            raise bad("escrow_keks must be distinct URLs other than kek")
        ws = e["wrapping_keys"]
        if not isinstance(ws, list):
            raise bad("escrow KEK wrapping_keys is not a list")
        wks = parse_wrapped_keys(ws, url, c, bad)
        if [w["generation"] for w in wks] != \
                [w["generation"] for w in c.wks]:
            raise bad(f"escrow KEK {url} does not wrap exactly the "
                      "config's wrapping key generations")
        out.append({"kek": url, "wks": wks})
    return out


def local_kid_generation(kid, volume_id):
    """The generation a local kid names for this volume, else None."""
    m = re.fullmatch(r"hsmfs-wk:([A-Za-z0-9_-]+):([1-9][0-9]*)", kid)
    if not m or b64url_decode(m.group(1)) != volume_id:
        return None
    g = int(m.group(2))
    return g if g <= 0xFFFFFFFF else None


def local_unwrap(wk, kid, wrapped, magic, ident, path, what):
    """Section 8.2: AES-256-SIV under HKDF(WK, "hsmfs v3 wrapping key"),
    AD = the kid, then the record's magic and id."""
    key = hkdf(wk, "hsmfs v3 wrapping key", 64)
    try:
        record = AESSIV(key).decrypt(wrapped, [kid.encode("ascii")])
    except (InvalidTag, ValueError):
        raise FormatError(path, f"{what}: does not open with its wrapping "
                          "key") from None
    return open_key_record(record, magic, ident, path, what)


def parse_features(features, path):
    """Known flags only; exactly one of encrypted-names and plaintext-names."""
    if not isinstance(features, list):
        raise FormatError(path, "features is not a list")
    bits = 0
    for f in features:
        if f not in FEATURE_BITS:
            raise FormatError(path, f"unknown feature {f!r}")
        if bits & FEATURE_BITS[f]:
            raise FormatError(path, f"feature {f!r} listed twice")
        bits |= FEATURE_BITS[f]
    modes = bits & (FEATURE_BITS["encrypted-names"] |
                    FEATURE_BITS["plaintext-names"])
    if modes not in (FEATURE_BITS["encrypted-names"],
                     FEATURE_BITS["plaintext-names"]):
        raise FormatError(path, "need exactly one of encrypted-names and "
                          "plaintext-names")
    return bits


def parse_previous_keks(raw, kek, path):
    """Optional: 1 to 4 distinct URLs, none equal to kek."""
    if "previous_keks" not in raw:
        return None
    prev = raw["previous_keks"]
    if (not isinstance(prev, list) or not 1 <= len(prev) <= 4
            or not all(isinstance(u, str) and u for u in prev)
            or len(set(prev)) != len(prev) or kek in prev):
        raise FormatError(path, "previous_keks must be 1..4 distinct URLs "
                          "other than kek")
    return prev


def config_mac_message(c):
    """The fields the config MAC covers, each as a 4-byte length then its
    bytes."""
    fields = [b"hsmfs.conf v1", bytes([c.format]), c.creator.encode(),
              c.volume_id, struct.pack(">I", c.feature_bits), c.kek.encode(),
              bytes([c.alg]), c.kid.encode(), c.wrapped]
    if c.previous_keks is not None:
        fields.append(b"previous_keks")
        fields.extend(u.encode() for u in c.previous_keks)
    if c.volume_wrap:
        fields.append(b"wrapping_keys")
        for w in c.wks:
            fields += [struct.pack(">I", w["generation"]), bytes([w["alg"]]),
                       w["kid"].encode(), w["wrapped"]]
    if c.escrows is not None:
        fields.append(b"escrow_keks")
        for e in c.escrows:
            fields.append(e["kek"].encode())
            for w in e["wks"]:
                fields += [struct.pack(">I", w["generation"]),
                           bytes([w["alg"]]), w["kid"].encode(),
                           w["wrapped"]]
    if c.conversion is not None:
        fields += [b"wrap_conversion", c.conversion.encode()]
    return b"".join(struct.pack(">I", len(f)) + f for f in fields)


def check_config_mac(c, keys, path):
    want = hmac.new(keys["config mac"], config_mac_message(c),
                    hashlib.sha256).digest()
    if not hmac.compare_digest(want, c.mac):
        raise FormatError(path, "config MAC does not match")


def open_volume(root, unwrapper, want_kek=None, endpoints=(), escrow=None):
    """Unwraps the volume key, checks its record, then the config MAC.
    With escrow (a URL), through that escrow KEK of the config."""
    path = os.path.join(root, "hsmfs.conf")
    c = parse_config(path, endpoints)
    if want_kek is not None and c.kek != want_kek:
        raise FormatError(path, f"uses KEK {c.kek}, not {want_kek}")
    wks = c.wks
    if escrow is not None:
        # Section 8.6: the same generations, wrapped by the escrow KEK.
        found = [e for e in c.escrows or [] if e["kek"] == escrow]
        if not found:
            raise FormatError(path, f"has no escrow KEK {escrow}")
        wks = found[0]["wks"]
    if c.volume_wrap:
        # Section 8.4: the wrapping keys by the KEK, the volume key locally.
        c.wk = {}
        for w in wks:
            try:
                record = unwrapper.unwrap(w["kid"], w["alg"], w["wrapped"])
            except HsmError as e:
                raise FormatError(path, "cannot unwrap wrapping key "
                                  f"{w['generation']}: {e}") from None
            c.wk[w["generation"]] = open_key_record(
                record, WK_MAGIC, c.volume_id, path, "wrapping key")
        vk = local_unwrap(c.wk[local_kid_generation(c.kid, c.volume_id)],
                          c.kid, c.wrapped, VK_MAGIC, c.volume_id, path,
                          "volume key")
    else:
        try:
            record = unwrapper.unwrap(c.kid, c.alg, c.wrapped)
        except HsmError as e:
            raise FormatError(path, "cannot unwrap the volume key: "
                              f"{e}") from None
        vk = open_key_record(record, VK_MAGIC, c.volume_id, path,
                             "volume key")
    keys = volume_keys(vk)
    check_config_mac(c, keys, path)
    c.vk = vk
    c.keys = keys
    return c


# ---------------------------------------------------------------------------
# Section 3.1: the file header

HEADER_LEN = 2048
BLOCK_SIZE = 4096
SLOT_OFFSETS = (32, 1040)
SLOT_LEN = 1008
SLOT_MAC_AT = 776


def parse_header_fields(hdr, want_version, path):
    """The fixed fields; returns the file id."""
    magic, version, flags, hlen, bsize = struct.unpack(">4sHHII", hdr[:16])
    if magic != b"HSMF":
        raise FormatError(path, "header magic is not HSMF")
    if (version != want_version or flags != 0 or hlen != HEADER_LEN
            or bsize != BLOCK_SIZE):
        raise FormatError(path, f"header fields differ (version {version}, "
                          f"flags {flags}, length {hlen}, block {bsize})")
    file_id = hdr[16:32]
    if file_id == bytes(16):
        raise FormatError(path, "header file id is all zero")
    return file_id


def parse_slot(slot):
    """A well-formed slot in use as a dict; None for an empty slot or one
    whose own fields are malformed (set aside as if empty)."""
    if slot == bytes(SLOT_LEN):
        return None
    gen, alg, kid_len, wr_len = struct.unpack(">IBBH", slot[:8])
    kid = slot[8:264]
    wrapped = slot[264:776]
    if alg == ALG_LOCAL and (wr_len != LOCAL_WRAPPED_LEN or
                             not kid.startswith(b"hsmfs-wk:")):
        return None
    if (gen == 0 or (alg not in ALG_NAMES and alg != ALG_LOCAL)
            or kid_len == 0
            or not 1 <= wr_len <= 512
            or any(b < 0x21 or b > 0x7E for b in kid[:kid_len])
            or any(kid[kid_len:]) or any(wrapped[wr_len:])
            or any(slot[808:])):
        return None
    return {"generation": gen, "alg": alg,
            "kid": kid[:kid_len].decode("ascii"),
            "wrapped": wrapped[:wr_len], "mac": slot[776:808],
            "raw": slot}


def slot_mac_ok(hdr, slot, vk, dek):
    mac = hmac.new(header_mac_key(vk, dek),
                   hdr[:32] + slot["raw"][:SLOT_MAC_AT], hashlib.sha256)
    return hmac.compare_digest(mac.digest(), slot["mac"])


def kid_allowed(kid, vol):
    keks = [vol.kek] + (vol.previous_keks or [])
    return any(kid_is_version_of(kid, k, vol.endpoints) for k in keks)


def file_dek(hdr, vol, unwrapper, path):
    """Tries the slots in decreasing generation; the first that unwraps to a
    record of this file and whose MAC checks gives the DEK."""
    file_id = parse_header_fields(hdr, HEADER_VERSIONS[vol.format], path)
    slots = [parse_slot(hdr[o:o + SLOT_LEN]) for o in SLOT_OFFSETS]
    slots = sorted((s for s in slots if s), key=lambda s: -s["generation"])
    if not slots:
        raise FormatError(path, "header has no well-formed key slot")
    why = []
    for s in slots:
        gen = local_kid_generation(s["kid"], vol.volume_id)
        # Section 8.6: during a conversion a slot may be of either kind;
        # its alg says which.
        local = vol.volume_wrap and (s["alg"] == ALG_LOCAL or
                                     not vol.conversion)
        if local and (s["alg"] != ALG_LOCAL or gen not in vol.wk):
            why.append(f"slot kid {s['kid']} is not a wrapping key the "
                       "config holds")
            continue
        if not local and (s["alg"] == ALG_LOCAL or
                          not kid_allowed(s["kid"], vol)):
            why.append(f"slot kid {s['kid']} is not a version of the "
                       "volume's KEKs")
            continue
        try:
            if local:
                dek = local_unwrap(vol.wk[gen], s["kid"], s["wrapped"],
                                   DEK_MAGIC, file_id, path, "DEK")
            else:
                record = unwrapper.unwrap(s["kid"], s["alg"], s["wrapped"])
                dek = open_key_record(record, DEK_MAGIC, file_id, path,
                                      "DEK")
        except (HsmError, FormatError) as e:
            why.append(str(e))
            continue
        if slot_mac_ok(hdr, s, vol.vk, dek):
            return file_id, dek
        why.append(f"slot of generation {s['generation']}: MAC does not "
                   "match")
    raise FormatError(path, "no key slot passes: " + "; ".join(why))


# ---------------------------------------------------------------------------
# Section 3.2: block layouts, one class per format number

class PackedLayout:
    """Format 1: block n at 2048 + n * 4124 as nonce || ciphertext || tag."""

    STRIDE = 12 + BLOCK_SIZE + 16

    @classmethod
    def plaintext_size(cls, size):
        """The plaintext size of a backing file of this size, or None when no
        valid file has it. size > 0."""
        if size < HEADER_LEN:
            return None
        full, rem = divmod(size - HEADER_LEN, cls.STRIDE)
        if rem == 0:
            return full * BLOCK_SIZE
        if rem <= 28:
            return None
        return full * BLOCK_SIZE + rem - 28

    @classmethod
    def block_location(cls, n, length):
        """(nonce offset, ciphertext offset, tag offset) of block n."""
        at = HEADER_LEN + n * cls.STRIDE
        return at, at + 12, at + 12 + length


class AlignedLayout:
    """Format 2: each block's ciphertext on a page of its own; nonce and tag
    in 28-byte records, 73 in page 0 after the header and 146 in each
    record page, which precedes the pages of its group."""

    PAGE = 4096
    FIRST = 73     # records in page 0
    GROUP = 146    # records in each later record page
    RECORDS0 = HEADER_LEN  # where page 0's records start
    EMPTY = HEADER_LEN     # a file with a key and no content

    @classmethod
    def page_block(cls, page):
        """The block whose ciphertext is on this page, or None for page 0
        and record pages."""
        if page == 0:
            return None
        if page <= cls.FIRST:
            return page - 1
        g, i = divmod(page - (cls.FIRST + 1), cls.GROUP + 1)
        if i == 0:
            return None
        return cls.FIRST + g * cls.GROUP + i - 1

    @classmethod
    def plaintext_size(cls, size):
        if size == cls.EMPTY:
            return 0
        page, length = divmod(size - 1, cls.PAGE)
        n = cls.page_block(page)
        if n is None:
            return None
        return n * BLOCK_SIZE + length + 1

    @classmethod
    def record_at(cls, n):
        return cls.block_location(n, BLOCK_SIZE)[0]

    @classmethod
    def group_end(cls, n):
        """The first block of the group after block n's: the records of
        blocks n up to it lie one after another."""
        if n < cls.FIRST:
            return cls.FIRST
        return cls.FIRST + ((n - cls.FIRST) // cls.GROUP + 1) * cls.GROUP

    @classmethod
    def block_location(cls, n, length):
        if n < cls.FIRST:
            record = cls.RECORDS0 + 28 * n
            data = cls.PAGE * (n + 1)
        else:
            g, i = divmod(n - cls.FIRST, cls.GROUP)
            r = cls.FIRST + 1 + (cls.GROUP + 1) * g
            record = cls.PAGE * r + 28 * i
            data = cls.PAGE * (r + 1 + i)
        return record, data, record + 12


class PagedLayout(AlignedLayout):
    """Format 3 (section 7.1): as format 2, but page 0 holds the header, the
    two state copies (1024 bytes) and then the records of blocks 0..35."""

    FIRST = 36
    RECORDS0 = 3072
    EMPTY = 3072


# Per format number (hsmfs.conf "format"): the block layout of its files
# and the version field of their headers. A new format adds a line to each.
LAYOUTS = {1: PackedLayout, 2: AlignedLayout, 3: PagedLayout}
HEADER_VERSIONS = {1: 1, 2: 1, 3: 1}


# ---------------------------------------------------------------------------
# Section 7.2: the state of a format-3 file

STATE_AT = (2048, 2560)
STATE_LEN = 512
STATE_MAC_AT = 480
STATE_MAGIC = b"HSMM"
MAX_HOLES = 28
MAX_WRITES = 1 << 32


class FileState:
    """The state in use: generation (0 when the file has written none),
    writes, holes as [(first, count)] and which copy serves (None if
    none)."""

    def __init__(self, generation, writes, holes, copy):
        self.generation = generation
        self.writes = writes
        self.holes = holes
        self.copy = copy

    def hole_end(self, n):
        """The block after the hole that holds block n, or None when no
        hole holds it. The holes are sorted and disjoint; at most 28."""
        for first, count in self.holes:
            if first <= n < first + count:
                return first + count
        return None


def parse_state_copy(raw, i, path):
    """The fields of the state in use, after the rules it must keep; a
    state in use that breaks one makes the file invalid."""
    def bad(why):
        return FormatError(path, f"state copy {i}: {why}")

    gen, writes, h = struct.unpack(">IQH", raw[4:18])
    if gen == 0:
        raise bad("generation 0")
    if writes > MAX_WRITES:
        raise bad(f"writes {writes} is above 2^32")
    if h > MAX_HOLES:
        raise bad(f"{h} holes, more than {MAX_HOLES}")
    if any(raw[18:24]) or any(raw[24 + 16 * h:STATE_MAC_AT]):
        raise bad("bytes that must be zero are not")
    holes = [struct.unpack(">QQ", raw[24 + 16 * k:40 + 16 * k])
             for k in range(h)]
    for k, (first, count) in enumerate(holes):
        if count == 0:
            raise bad(f"hole {k} has no blocks")
        if first + count >= 1 << 64:
            raise bad(f"hole {k} ends past the last block number")
        if k + 1 < h and not first + count < holes[k + 1][0]:
            raise bad(f"hole {k} overlaps, touches or follows hole {k + 1}")
    return FileState(gen, writes, holes, i)


def file_state(page0, file_id, dek, path):
    """The state in use: the authentic copy of higher generation (copy 0 if
    equal). Every file with a header has one: all zero is none. Only the
    copy in use must keep the rules of a state."""
    copies = [page0[o:o + STATE_LEN] for o in STATE_AT]
    key = file_meta_key(dek)
    best = None
    for i, raw in enumerate(copies):
        if raw[:4] != STATE_MAGIC:
            continue
        mac = hmac.new(key, file_id + raw[:STATE_MAC_AT], hashlib.sha256)
        if not hmac.compare_digest(mac.digest(), raw[STATE_MAC_AT:]):
            continue
        gen = struct.unpack(">I", raw[4:8])[0]
        if best is None or gen > best[0]:
            best = (gen, i)
    if best is None:
        raise FormatError(path, "no state copy is authentic")
    return parse_state_copy(copies[best[1]], best[1], path)


def block_aad(file_id, n):
    return file_id + struct.pack(">Q", n)


ZERO_RECORD = bytes(28)


def hole_run(fd, state, n, whole):
    """Format 3: how many blocks from block n on read as an authenticated
    hole (section 7.2): whole blocks (below whole) that lie in a hole of
    the state in use and whose records are 28 zero bytes. One read covers
    the records of the run up to the end of n's record group."""
    end = state.hole_end(n)
    if end is None or n >= whole:
        return 0
    end = min(end, whole, PagedLayout.group_end(n))
    records = os.pread(fd, 28 * (end - n), PagedLayout.record_at(n))
    if records == bytes(28 * (end - n)):
        return end - n
    k = 0
    while records[28 * k:28 * k + 28] == ZERO_RECORD:
        k += 1
    return k


def decrypt_file(path, vol, unwrapper, out):
    """Writes the plaintext of one backing file to the open file out.
    Returns (file id, state): (None, None) for an empty backing file, a
    state for format 3 only."""
    size = os.stat(path).st_size
    if size == 0:
        return None, None
    layout = LAYOUTS[vol.format]
    plain = layout.plaintext_size(size)
    if plain is None:
        raise FormatError(path, f"backing size {size} is not one a file of "
                          f"format {vol.format} can have")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        hdr = os.pread(fd, HEADER_LEN, 0)
        file_id, dek = file_dek(hdr, vol, unwrapper, path)
        state = None
        if vol.format == 3:
            state = file_state(os.pread(fd, PagedLayout.PAGE, 0), file_id,
                               dek, path)
        gcm = AESGCM(content_key(dek))
        nblocks = (plain + BLOCK_SIZE - 1) // BLOCK_SIZE
        n = 0
        while n < nblocks:
            holes = hole_run(fd, state, n, plain // BLOCK_SIZE) \
                if state is not None else 0
            if holes:
                # Authenticated holes: their pages are not read, and
                # they stay holes of the output file.
                out.seek(holes * BLOCK_SIZE, os.SEEK_CUR)
                n += holes
                continue
            length = min(BLOCK_SIZE, plain - n * BLOCK_SIZE)
            nonce_at, data_at, tag_at = layout.block_location(n, length)
            nonce = os.pread(fd, 12, nonce_at)
            tag = os.pread(fd, 16, tag_at)
            data = os.pread(fd, length, data_at)
            try:
                out.write(gcm.decrypt(nonce, data + tag,
                                      block_aad(file_id, n)))
            except InvalidTag:
                raise FormatError(path, f"block {n} fails authentication") \
                    from None
            n += 1
        # A file that ends in a hole gets its size.
        out.truncate(plain)
    finally:
        os.close(fd)
    return file_id, state


# ---------------------------------------------------------------------------
# Section 4: names

DIRIV = "hsmfs.diriv"
LONGNAME = "hsmfs.longname."
LONGNAME_SIDECAR = ".name"
# Entries of the volume itself, never user files.
ROOT_ONLY = {"hsmfs.conf", "hsmfs.conf.tmp", "hsmfs.lock", "hsmfs.rootmode"}


def pkcs7_unpad(data):
    if not data or len(data) % 16:
        return None
    n = data[-1]
    if not 1 <= n <= 16 or data[-n:] != bytes([n]) * n:
        return None
    return data[:-n]


def valid_plain_name(name):
    return (1 <= len(name) <= 255 and name not in (b".", b"..")
            and b"/" not in name and b"\0" not in name)


def siv_open(key, ad, blob):
    try:
        return AESSIV(key).decrypt(blob, [ad])
    except (InvalidTag, ValueError):
        return None


def decrypt_name(encoded, diriv, keys):
    """base64url(AES-256-SIV(names key, AD = the directory IV, N padded)):
    the plaintext name, or None when it does not authenticate."""
    blob = b64url_decode(encoded)
    if blob is None or len(blob) < 32:
        return None
    padded = siv_open(keys["names"], diriv, blob)
    name = pkcs7_unpad(padded) if padded is not None else None
    if name is None or not valid_plain_name(name):
        return None
    return name


def read_dir_iv(dirpath, vol):
    """The directory's IV: 16 bytes, or in format 3 (section 7.3) 16 bytes
    not all zero followed by their 16-byte tag, which is checked."""
    path = os.path.join(dirpath, DIRIV)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise FormatError(path, "not a regular file")
        with open(path, "rb") as f:
            iv = f.read()
    except FileNotFoundError:
        raise FormatError(path, "directory has no IV") from None
    if vol.format == 3:
        if len(iv) != 32:
            raise FormatError(path, f"directory IV is {len(iv)} bytes, "
                              "not 32")
        iv, tag = iv[:16], iv[16:]
        want = hmac.new(vol.keys["directory iv"], iv,
                        hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(want, tag):
            raise FormatError(path, "directory IV tag does not match")
        if iv == bytes(16):
            raise FormatError(path, "directory IV is all zero")
        return iv
    if len(iv) != 16:
        raise FormatError(path, f"directory IV is {len(iv)} bytes, not 16")
    return iv


def long_name_string(dirpath, entry):
    """The encrypted name held by the sidecar of a hsmfs.longname. entry,
    after checking that its SHA-256 is the entry's name."""
    digest = b64url_decode(entry[len(LONGNAME):])
    if digest is None or len(digest) != 32:
        raise FormatError(os.path.join(dirpath, entry),
                          "long-name entry is not named by a SHA-256")
    side = os.path.join(dirpath, entry + LONGNAME_SIDECAR)
    try:
        with open(side, "rb") as f:
            text = f.read()
    except OSError as e:
        raise FormatError(side, f"long-name sidecar: {e.strerror}") from None
    if not hmac.compare_digest(hashlib.sha256(text).digest(), digest):
        raise FormatError(side, "long-name sidecar does not hash to the "
                          "entry's name")
    if len(text) <= 255:
        raise FormatError(side, "long-name sidecar holds a name short "
                          "enough for a plain entry")
    return text.decode("ascii", "replace")


TMP_ENTRY = re.compile(r"hsmfs\.tmp\.[0-9a-f]{16}")


def is_volume_entry(entry, at_root, vol):
    """Backing entries that are part of the volume, not user files."""
    if at_root and entry in ROOT_ONLY:
        return True
    if not vol.encrypted_names:
        # Format 3 has directory IVs in both name modes (section 7.3).
        return vol.format == 3 and (entry == DIRIV
                                    or TMP_ENTRY.fullmatch(entry) is not None)
    return (entry == DIRIV or entry.startswith("hsmfs.tmp.")
            or (entry.startswith(LONGNAME)
                and entry.endswith(LONGNAME_SIDECAR)))


def entry_name(dirpath, entry, diriv, vol):
    """The plaintext name of a backing directory entry."""
    path = os.path.join(dirpath, entry)
    if not vol.encrypted_names:
        name = os.fsencode(entry)
        if not valid_plain_name(name):
            raise FormatError(path, "invalid plaintext name")
        return name
    encoded = entry
    if entry.startswith(LONGNAME):
        encoded = long_name_string(dirpath, entry)
    elif len(entry) > 255:
        raise FormatError(path, "name too long for a backing entry")
    name = decrypt_name(encoded, diriv, vol.keys)
    if name is None:
        raise FormatError(path, "name fails authentication")
    return name


# ---------------------------------------------------------------------------
# Section 5: symlinks and extended attributes

SYMLINK_AAD = b"hsmfs symlink\0"
SYMLINK_AAD_V3 = b"hsmfs symlink v3"
XATTR_AAD_V3 = b"hsmfs xattr v3"
XATTR_NAME_AD = b"hsmfs xattr name\0"
XATTR_PREFIX = "user."


def gcm_open(key, blob, aad):
    """nonce (12) || ciphertext || tag (16)."""
    if len(blob) < 28:
        return None
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], aad)
    except InvalidTag:
        return None


def symlink_aad(vol, diriv, name):
    """Formats 1 and 2: a constant. Format 3 (section 7.4): bound to the
    IV of the directory holding the link and the link's plaintext name."""
    if vol.format == 3:
        return SYMLINK_AAD_V3 + diriv + name
    return SYMLINK_AAD


def decrypt_symlink(path, vol, diriv, name):
    target = b64url_decode(os.readlink(path))
    plain = gcm_open(vol.keys["symlinks"], target,
                     symlink_aad(vol, diriv, name)) \
        if target is not None else None
    if plain is None or not 1 <= len(plain) <= 3043:
        raise FormatError(path, "symlink target fails authentication")
    return plain


def decrypt_xattr_name(backing_name, vol):
    """The plaintext user.* name of a backing xattr name, or None."""
    if not vol.encrypted_names:
        return backing_name
    blob = b64url_decode(backing_name[len(XATTR_PREFIX):])
    if blob is None or len(blob) < 32:
        return None
    padded = siv_open(vol.keys["xattr names"], XATTR_NAME_AD, blob)
    rest = pkcs7_unpad(padded) if padded is not None else None
    if not rest or b"\0" in rest:
        return None
    return XATTR_PREFIX + rest.decode("utf-8", "surrogateescape")


def xattr_backing_name_v3(vol, entry_id, x):
    """Format 3: the backing name of user.X on the entry of this id."""
    if not vol.encrypted_names:
        return XATTR_PREFIX.encode() + x
    mac = hmac.new(vol.keys["xattr names v3"], entry_id + x,
                   hashlib.sha256).digest()[:16]
    return (XATTR_PREFIX + b64url_encode(mac)).encode("ascii")


def decrypt_xattrs_v3(path, vol, entry_id):
    """Format 3 (section 7.5): each value holds its name; the value is
    bound to the entry id and the backing name, which must be the one the
    name inside gives."""
    out = []
    for backing in os.listxattr(path, follow_symlinks=False):
        if not backing.startswith(XATTR_PREFIX):
            continue
        if entry_id is None:
            raise FormatError(path, f"xattr {backing} on an entry without "
                              "an id (an empty file has no header)")
        raw_name = os.fsencode(backing)
        stored = os.getxattr(path, backing, follow_symlinks=False)
        plain = gcm_open(vol.keys["xattr values"], stored,
                         XATTR_AAD_V3 + entry_id + raw_name)
        if plain is None:
            raise FormatError(path, f"xattr {backing} fails authentication")
        n = plain[0] if plain else 0
        x = plain[1:1 + n]
        if not 1 <= n <= 250 or len(x) != n or b"\0" in x:
            raise FormatError(path, f"xattr {backing} holds an invalid name")
        if xattr_backing_name_v3(vol, entry_id, x) != raw_name:
            raise FormatError(path, f"xattr {backing} holds the name of "
                              "another backing name")
        out.append((XATTR_PREFIX + os.fsdecode(x), plain[1 + n:]))
    return out


def decrypt_xattrs(path, vol, entry_id=None):
    """[(plaintext name, value)] of the user.* xattrs of a backing entry;
    entry_id (format 3 only): the entry's file id or directory IV."""
    if vol.format == 3:
        return decrypt_xattrs_v3(path, vol, entry_id)
    out = []
    for backing in os.listxattr(path, follow_symlinks=False):
        if not backing.startswith(XATTR_PREFIX):
            continue
        name = decrypt_xattr_name(backing, vol)
        if name is None:
            raise FormatError(path, f"xattr name {backing} fails "
                              "authentication")
        stored = os.getxattr(path, backing, follow_symlinks=False)
        value = gcm_open(vol.keys["xattr values"], stored,
                         os.fsencode(backing))
        if value is None:
            raise FormatError(path, f"xattr {backing} value fails "
                              "authentication")
        out.append((name, value))
    return out


# ---------------------------------------------------------------------------
# The tree

class Reader:
    """only: None, or the (dev, ino) of the backing files whose content
    and xattrs are read; the other regular files are left out (every
    other entry is still read and checked)."""

    def __init__(self, vol, unwrapper, show_state=False, only=None):
        self.vol = vol
        self.unwrapper = unwrapper
        self.show_state = show_state
        self.only = only
        self.out_root = None
        self.links = {}   # (dev, ino) of a backing file -> output path
        self.counts = {"files": 0, "dirs": 0, "symlinks": 0, "xattrs": 0,
                       "special": 0, "left out": 0}

    def copy_tree(self, src, dst, at_root=True):
        if at_root:
            self.out_root = dst
        diriv = None
        if self.vol.encrypted_names or self.vol.format == 3:
            diriv = read_dir_iv(src, self.vol)
        seen = set()
        for entry in sorted(os.listdir(src)):
            if is_volume_entry(entry, at_root, self.vol):
                continue
            name = entry_name(src, entry, diriv, self.vol)
            if name in seen:
                raise FormatError(os.path.join(src, entry),
                                  "two entries decrypt to the same name")
            seen.add(name)
            self.copy_entry(os.path.join(src, entry),
                            os.path.join(dst, os.fsdecode(name)), diriv, name)
        self.copy_xattrs(src, dst, diriv)

    def copy_entry(self, src, dst, diriv, name):
        st = os.lstat(src)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(dst, 0o700)
            self.copy_tree(src, dst, at_root=False)
            os.chmod(dst, mode)
            self.counts["dirs"] += 1
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(decrypt_symlink(src, self.vol, diriv, name), dst)
            self.counts["symlinks"] += 1
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if self.only is not None and key not in self.only:
                self.counts["left out"] += 1
                return
            if st.st_nlink > 1 and key in self.links:
                os.link(self.links[key], dst)
                return
            with open(dst, "xb") as out:
                file_id, state = decrypt_file(src, self.vol, self.unwrapper,
                                              out)
            if self.show_state and self.vol.format == 3:
                self.print_state(dst, state)
            self.copy_xattrs(src, dst, file_id)
            os.chmod(dst, mode)
            self.links[key] = dst
            self.counts["files"] += 1
        elif (stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode)
              or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            # Special files are backing nodes of the same kind; they have
            # no content. A device keeps its number.
            os.mknod(dst, stat.S_IFMT(st.st_mode) | mode, st.st_rdev)
            os.chmod(dst, mode)
            self.copy_xattrs(src, dst)
            self.counts["special"] += 1
        else:
            raise FormatError(src, "unsupported file type")

    def copy_xattrs(self, src, dst, entry_id=None):
        for name, value in decrypt_xattrs(src, self.vol, entry_id):
            os.setxattr(dst, name, value, follow_symlinks=False)
            self.counts["xattrs"] += 1

    def print_state(self, dst, state):
        """One line: the file's path in the output tree, then its state in
        use (none for an empty backing file, which has no header)."""
        rel = os.path.relpath(dst, self.out_root)
        if state is None:
            print(f"state {rel}: none (no header)")
            return
        holes = ",".join(f"{f}+{c}" for f, c in state.holes) or "-"
        copy = "-" if state.copy is None else state.copy
        print(f"state {rel}: generation {state.generation} copy {copy} "
              f"writes {state.writes} holes {holes}")


def parse_local_keks(items):
    keys = {}
    for item in items or []:
        kid, sep, path = item.rpartition("=")
        if not sep or not kid:
            raise SystemExit(f"--local-kek wants KID=FILE, not {item}")
        with open(path, "rb") as f:
            keys[kid] = f.read()
    return keys


def main(argv):
    p = argparse.ArgumentParser(
        prog="hsmfs_read.py",
        description="Decrypts an hsmfs backing directory into OUTDIR, "
                    "checking everything the format authenticates.")
    p.add_argument("backing")
    p.add_argument("outdir")
    p.add_argument("--ca-file", help="trust this CA for the HSM and the "
                   "token endpoint")
    p.add_argument("--scope", default="https://managedhsm.azure.net/.default",
                   help="token scope (default %(default)s)")
    p.add_argument("--kek",
                   help="refuse the volume unless its KEK is this URL")
    p.add_argument("--escrow-kek", metavar="URL",
                   help="open a volume-wrap volume through this escrow KEK "
                        "of its config, not its own KEK")
    p.add_argument("--hsm-endpoint", action="append", metavar="URL",
                   help="another HSM (https://HOST[:PORT]) holding the "
                        "same key, whose kids are accepted (repeatable)")
    p.add_argument("--local-kek", action="append", metavar="KID=FILE",
                   help="unwrap what this key version wrapped locally with "
                        "the raw AES key in FILE (repeatable)")
    p.add_argument("--only", action="append", metavar="PATH",
                   help="read the content and xattrs of this backing file "
                        "only, of no other regular file; everything else "
                        "(config, names, directories, links) is still "
                        "checked whole (repeatable)")
    p.add_argument("--show-state", action="store_true",
                   help="print the state in use of each file of a format-3 "
                        "volume: generation, writes, holes")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)

    if os.path.exists(args.outdir) and os.listdir(args.outdir):
        print(f"hsmfs_read: {args.outdir} is not empty", file=sys.stderr)
        return 2
    endpoints = []
    for url in args.hsm_endpoint or []:
        base = parse_endpoint(url)
        if base is None:
            print(f"hsmfs_read: bad HSM endpoint {url}", file=sys.stderr)
            return 2
        endpoints.append(base)
    only = None
    if args.only is not None:
        only = set()
        for path in args.only:
            try:
                st = os.lstat(path)
            except OSError as e:
                print(f"hsmfs_read: --only {path}: {e.strerror}",
                      file=sys.stderr)
                return 2
            only.add((st.st_dev, st.st_ino))
    unwrapper = Unwrapper(args.ca_file, args.scope,
                          parse_local_keks(args.local_kek), endpoints)
    try:
        vol = open_volume(args.backing, unwrapper, args.kek, endpoints,
                          args.escrow_kek)
        os.makedirs(args.outdir, exist_ok=True)
        reader = Reader(vol, unwrapper, args.show_state, only)
        reader.copy_tree(args.backing, args.outdir)
    except FormatError as e:
        print(f"hsmfs_read: {e}", file=sys.stderr)
        return 1
    except HsmError as e:
        print(f"hsmfs_read: HSM: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        c = reader.counts
        print(f"hsmfs_read: format {vol.format}, "
              f"{'encrypted' if vol.encrypted_names else 'plaintext'} names: "
              f"{c['files']} files, {c['dirs']} directories, "
              f"{c['symlinks']} symlinks, {c['xattrs']} xattrs, "
              f"{c['special']} special, {unwrapper.calls} HSM unwraps"
              + (f", {c['left out']} files left out (--only)"
                 if only is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
