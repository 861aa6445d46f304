#!/usr/bin/env python3
"""durable_writes.py - how fast this disk can make files durable (scripts/bench-gateway).

THREADS threads each write files of SIZE bytes into DIR for SECONDS seconds the
way the gateway's file storage makes an upload durable: write to a temporary
file in 64 KiB writes, fsync it, rename it into place, fsync the directory.
The files are removed afterwards. The result is the ceiling of any upload path
that answers only once the bytes are on disk (no network, hashing or database).
Prints key=value lines; asserts nothing.

usage: durable_writes.py DIR SIZE SECONDS THREADS
"""
import os
import sys
import threading
import time

CHUNK = b"0123456789abcdef" * 4096  # 64 KiB


def worker(root, size, until, tid, done):
    d = os.path.join(root, f"t{tid}")
    os.makedirs(d, exist_ok=True)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    n = 0
    try:
        while time.monotonic() < until:
            tmp, final = os.path.join(d, f".tmp-{n}"), os.path.join(d, str(n))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            left = size
            while left > 0:
                left -= os.write(fd, CHUNK[: min(left, len(CHUNK))])
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, final)
            os.fsync(dfd)
            n += 1
    finally:
        os.close(dfd)
    done[tid] = n


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    root, size, seconds, threads = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    done = [0] * threads
    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(root, size, t0 + seconds, i, done)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - t0
    files = sum(done)
    print(f"durable_files={files}")
    print(f"durable_seconds={elapsed:.2f}")
    print(f"durable_mibs={files * size / 1048576 / elapsed:.1f}")
    for i in range(threads):
        d = os.path.join(root, f"t{i}")
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)


if __name__ == "__main__":
    main()
