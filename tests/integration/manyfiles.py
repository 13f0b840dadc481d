#!/usr/bin/env python3
"""Many files through one mount, for manyfiles.sh.

  manyfiles.py phases MNT PID N
      Creates N files (a quarter spread over 4 directories, the rest in
      one big directory), stats them all, reads them all back (checking
      their content), renames them (across the small directories, within
      the big one) and removes them, two worker processes at a time.
      While each phase runs, samples the daemon PID's open descriptors
      and resident memory. Prints one line per phase:
        PHASE FILES ERRORS MAX_FDS MAX_RSS_MIB SECONDS FIRST_ERROR
      and a line "rmdir" for the directories at the end.
  manyfiles.py exhaust MNT N
      Creates N files, then opens them all and keeps them open until an
      open fails; closes them and creates, reads and removes one more.
      Prints: OPENED ERRNO_NAME AFTER (AFTER: "ok", or the error).
Error messages in the output have no spaces in exhaust, and come last in
phases.
"""
import errno
import os
import stat
import sys
import threading
import time
from multiprocessing import Pool

SMALL_DIRS = 8
WORKERS = 4


def layout(n):
    """Every file as (directory, number): half of them in the small
    directories, the rest in "big"."""
    small = n // 2
    files = [(f"d{i % SMALL_DIRS}", i) for i in range(small)]
    files += [("big", i) for i in range(small, n)]
    return files


def content(d, i):
    """Every tenth file has content; the others are made empty by mknod,
    three times as fast, and still one inode each."""
    return f"{d}/{i} of many files\n".encode() if i % 10 == 0 else b""


def renamed(d, i):
    """Where a file goes in the rename phase: every tenth file of a small
    directory to the next one (renames across directories take a lock of
    the whole filesystem in the kernel: a few suffice), the others stay."""
    if d == "big" or i % 10:
        return d
    return f"d{(int(d[1:]) + 1) % SMALL_DIRS}"


class Worker:
    """One phase over one worker's share: the errors, the first told."""

    def __init__(self, mnt):
        self.mnt = mnt
        self.errors = 0
        self.first = ""

    def fail(self, what, e):
        self.errors += 1
        if not self.first:
            self.first = f"{what}: {e}"

    def create(self, d, i):
        p = f"{self.mnt}/{d}/f{i}"
        if not content(d, i):
            os.mknod(p, 0o644 | stat.S_IFREG)
            return
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, content(d, i))
        finally:
            os.close(fd)

    def stat(self, d, i):
        st = os.stat(f"{self.mnt}/{d}/f{i}")
        if st.st_size != len(content(d, i)):
            raise OSError(f"size {st.st_size}")

    def read(self, d, i):
        fd = os.open(f"{self.mnt}/{d}/f{i}", os.O_RDONLY)
        try:
            got = os.read(fd, 4096)
        finally:
            os.close(fd)
        if got != content(d, i):
            raise OSError(f"read {got!r}")

    def rename(self, d, i):
        os.rename(f"{self.mnt}/{d}/f{i}", f"{self.mnt}/{renamed(d, i)}/g{i}")

    def remove(self, d, i):
        os.unlink(f"{self.mnt}/{renamed(d, i)}/g{i}")


def work(args):
    mnt, phase, share = args
    w = Worker(mnt)
    op = getattr(w, phase)
    for d, i in share:
        try:
            op(d, i)
        except OSError as e:
            w.fail(f"{phase} {d}/{i}", e)
    return w.errors, w.first


class Sampler(threading.Thread):
    """The daemon's open descriptors and VmRSS, every 50 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.fds = self.rss = 0
        self.stop = threading.Event()

    def sample(self):
        try:
            self.fds = max(self.fds, len(os.listdir(f"/proc/{self.pid}/fd")))
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.rss = max(self.rss, int(line.split()[1]) // 1024)
        except OSError:
            pass

    def run(self):
        while not self.stop.wait(0.05):
            self.sample()


def phases(mnt, pid, n):
    files = layout(n)
    for d in sorted({d for d, _ in files}):
        os.mkdir(f"{mnt}/{d}")
    # Each worker has small directories of its own (workers in one
    # directory queue for its lock in the kernel) and a part of the big.
    shares = [[(d, i) for d, i in files
               if (d == "big" and i % WORKERS == k) or
               (d != "big" and int(d[1:]) % WORKERS == k)]
              for k in range(WORKERS)]
    with Pool(WORKERS) as pool:
        for phase in ("create", "stat", "read", "rename", "remove"):
            s = Sampler(pid)
            s.start()
            t = time.monotonic()
            res = pool.map(work, [(mnt, phase, sh) for sh in shares])
            secs = time.monotonic() - t
            s.stop.set()
            s.join()
            s.sample()
            errs = sum(e for e, _ in res)
            first = next((f for _, f in res if f), "-")
            print(phase, n, errs, s.fds, s.rss, f"{secs:.1f}", first,
                  flush=True)
    w = Worker(mnt)
    for d in sorted({d for d, _ in files}):
        try:
            os.rmdir(f"{mnt}/{d}")
        except OSError as e:
            w.fail(f"rmdir {d}", e)
    print("rmdir", len({d for d, _ in files}), w.errors, 0, 0, 0,
          w.first or "-", flush=True)


def exhaust(mnt, n):
    try:
        os.mkdir(f"{mnt}/open")
        for i in range(n):
            Worker(mnt).create("open", i)
    except OSError as e:
        print(0, "none", f"setup:{e}".replace(" ", "_"))
        return
    held, err = [], "none"
    for i in range(n):
        try:
            held.append(os.open(f"{mnt}/open/f{i}", os.O_RDONLY))
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e.errno))
            break
    opened = len(held)
    for fd in held:
        os.close(fd)
    after = "ok"
    try:
        w = Worker(mnt)
        w.create("open", n)
        w.read("open", n)
        w.read("open", 0)
        for i in range(n + 1):
            os.unlink(f"{mnt}/open/f{i}")
        os.rmdir(f"{mnt}/open")
    except OSError as e:
        after = str(e).replace(" ", "_")
    print(opened, err, after)


def main():
    if sys.argv[1] == "phases":
        phases(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        exhaust(sys.argv[2], int(sys.argv[3]))


if __name__ == "__main__":
    main()
