#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One line per entry under a directory, for tests/integration/lib.sh.

    manifest.py [--sparse] DIR

Prints, sorted by path (bytes), "./path TYPE ..." for every entry under
DIR, symlinks not followed:
    ./p link TARGET
    ./p dir MODE
    ./p fifo
    ./p file MODE SIZE NLINK SHA256 XATTRS
MODE in octal as stat's %a; XATTRS is what "getfattr -d -m 'user\\.'"
prints for the file, its "#" lines left out and each line ended by a
space (empty without such xattrs). Every file is read whole. Two trees
with equal manifests look alike to an application; the frozen fixtures'
vN.manifest files were recorded in this form.

A file that cannot be read, stat'ed or listed gets "unreadable: ERROR" in
place of its fields (and a message on stderr), so that it never matches
a readable one. One process for the whole tree: the shell loop this
replaces ran six programs per file.

--sparse hashes the holes of a sparse file (SEEK_HOLE) as the zeros they
read as, without reading them: a 1 GiB hole costs no page cache. Only for
a tree on a local file system, never for a mount under test, whose holes
are among what it tests (hsmfs answers SEEK_HOLE itself).
"""
import errno
import hashlib
import os
import re
import stat
import subprocess
import sys

CHUNK = 1 << 20
ZEROS = memoryview(bytes(CHUNK))
SPARSE = False
USER = re.compile(rb"user\.")


def walk():
    """Every path under the current directory, as b"./...", symlinks not
    followed; and a line for each directory that could not be listed."""
    paths, errors = [], []

    def err(e):
        sys.stderr.write(f"manifest: {e}\n")
        errors.append((os.fsencode(e.filename), b"%s unreadable: %s" % (
            os.fsencode(e.filename), (e.strerror or str(e)).encode())))

    for d, dirs, files in os.walk(b".", onerror=err):
        paths.extend(os.path.join(d, n) for n in dirs + files)
    return paths, errors


def digest(p):
    h = hashlib.sha256()
    with open(p, "rb", buffering=0) as f:
        pos = 0
        size = os.fstat(f.fileno()).st_size
        while SPARSE and pos < size:
            # Zeros up to the next data (or the end), then that data up
            # to the next hole.
            try:
                data = os.lseek(f.fileno(), pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                data = size
            while pos < data:
                n = min(CHUNK, data - pos)
                h.update(ZEROS[:n])
                pos += n
            if pos >= size:
                break
            end = os.lseek(f.fileno(), pos, os.SEEK_HOLE)
            f.seek(pos)
            while pos < end:
                b = f.read(min(CHUNK, end - pos))
                if not b:
                    break
                h.update(b)
                pos += len(b)
        f.seek(pos)
        while True:
            b = f.read(CHUNK)
            if not b:
                return h.hexdigest().encode()
            h.update(b)


def xattrs(p):
    """getfattr's dump of the user xattrs, as the shell pipeline gave it
    ("grep -v '^#' | tr '\\n' ' '"); getfattr itself is run only for a
    file that has some (or whose list fails), and keeps its own quoting
    of values."""
    try:
        if not any(USER.search(os.fsencode(n))
                   for n in os.listxattr(p, follow_symlinks=False)):
            return b""
    except OSError:
        pass
    out = subprocess.run(["getfattr", "-d", "-m", r"user\.",
                          "--absolute-names", p],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=False).stdout
    if not out:
        return b""
    if out.endswith(b"\n"):
        out = out[:-1]
    return b"".join(line + b" " for line in out.split(b"\n")
                    if not line.startswith(b"#"))


def entry(p):
    st = os.lstat(p)
    if stat.S_ISLNK(st.st_mode):
        return b"%s link %s" % (p, os.readlink(p))
    if stat.S_ISDIR(st.st_mode):
        return b"%s dir %o" % (p, stat.S_IMODE(st.st_mode))
    if stat.S_ISFIFO(st.st_mode):
        return b"%s fifo" % p
    return b"%s file %o %d %d %s %s " % (p, stat.S_IMODE(st.st_mode),
                                          st.st_size, st.st_nlink,
                                          digest(p), xattrs(p))


def main():
    global SPARSE
    args = sys.argv[1:]
    if args[:1] == ["--sparse"]:
        SPARSE = True
        args = args[1:]
    if len(args) != 1:
        sys.exit("usage: manifest.py [--sparse] DIR")
    try:
        os.chdir(args[0])
    except OSError as e:
        sys.exit(f"manifest: {e}")
    paths, lines = walk()
    for p in paths:
        try:
            lines.append((p, entry(p)))
        except OSError as e:
            why = e.strerror or str(e)
            sys.stderr.write(f"manifest: {os.fsdecode(p)}: {why}\n")
            lines.append((p, b"%s unreadable: %s" % (p, why.encode())))
    # By path, as "sort -z" of the paths in the C locale.
    lines.sort(key=lambda pl: pl[0])
    out = sys.stdout.buffer
    for _, line in lines:
        out.write(line + b"\n")


if __name__ == "__main__":
    main()
