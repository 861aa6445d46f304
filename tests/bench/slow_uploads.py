#!/usr/bin/env python3
"""slow_uploads.py - N concurrent slow uploads against the gateway (scripts/bench-gateway).

Opens N connections to POST /v1/files (bearer token, Content-Length BODY bytes),
sends every request's headers, then trickles RATE bytes per connection per second
for SECONDS seconds, then sends the rest of every body as fast as the gateway
takes it and reads every answer. While the uploads are held it samples the
gateway's VmRSS from /proc/PID/status. Prints key=value lines; asserts nothing.

usage: slow_uploads.py HOST PORT TOKEN GATEWAY_PID N BODY_BYTES SECONDS RATE [FINISH_TIMEOUT_S]
"""
import errno
import selectors
import socket
import sys
import time

PATTERN = b"0123456789abcdef" * 4096  # 64 KiB, the body's repeating bytes


def proc_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def body_bytes(offset, n):
    out = bytearray()
    while n > 0:
        i = offset % len(PATTERN)
        piece = PATTERN[i : i + n]
        out += piece
        offset += len(piece)
        n -= len(piece)
    return bytes(out)


class Up:
    __slots__ = ("i", "sock", "sent", "resp", "closed", "err", "out")

    def __init__(self, i):
        self.i = i
        self.sock = None
        self.sent = 0  # body bytes sent
        self.resp = b""
        self.closed = False  # the gateway closed (or reset) the connection
        self.err = ""
        self.out = b""  # bytes queued for the socket (finish phase)

    def status(self):
        if not self.resp.startswith(b"HTTP/1.1 "):
            return None
        try:
            return int(self.resp[9:12])
        except ValueError:
            return None


def read_some(u):
    """Reads what the gateway sent; returns False once the connection is closed."""
    try:
        data = u.sock.recv(65536)
    except BlockingIOError:
        return True
    except OSError as e:
        u.closed, u.err = True, errno.errorcode.get(e.errno, str(e.errno))
        return False
    if not data:
        u.closed = True
        return False
    u.resp += data
    return True


def main():
    if len(sys.argv) < 9:
        sys.exit(__doc__)
    host, port, token, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    n, body, seconds, rate = (int(a) for a in sys.argv[5:9])
    finish_timeout = float(sys.argv[9]) if len(sys.argv) > 9 else 120.0
    trickle_total = seconds * rate
    if trickle_total >= body:
        sys.exit("slow_uploads: SECONDS * RATE must stay below BODY_BYTES")

    rss_before, hwm_before = proc_kib(pid, "VmRSS"), proc_kib(pid, "VmHWM")
    ups = [Up(i) for i in range(n)]
    sel = selectors.DefaultSelector()
    connect_failed = 0
    t0 = time.monotonic()
    for u in ups:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect((host, port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = (
                f"POST /v1/files?filename=slow-{u.i}.bin HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {body}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            s.sendall(head)
        except OSError as e:
            connect_failed += 1
            u.closed, u.err = True, errno.errorcode.get(e.errno, str(e.errno))
            s.close()
            continue
        s.setblocking(False)
        u.sock = s
        sel.register(s, selectors.EVENT_READ, u)
    t_open = time.monotonic() - t0

    # Trickle: RATE bytes per connection once a second; anything the gateway says now is an early answer.
    rss_peak = rss_before
    held_min = n
    for _ in range(seconds):
        tick = time.monotonic()
        for u in ups:
            if u.sock is None or u.closed or u.resp:
                continue
            try:
                u.sock.send(body_bytes(u.sent, rate))  # a few bytes: never blocks on an empty socket buffer
                u.sent += rate
            except BlockingIOError:
                pass
            except OSError as e:
                u.closed, u.err = True, errno.errorcode.get(e.errno, str(e.errno))
        for key, _ in sel.select(timeout=0):
            read_some(key.data)
        held = sum(1 for u in ups if u.sock is not None and not u.closed and not u.resp)
        held_min = min(held_min, held)
        rss_peak = max(rss_peak, proc_kib(pid, "VmRSS"))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    held_end = sum(1 for u in ups if u.sock is not None and not u.closed and not u.resp)
    early = {}
    for u in ups:
        if u.sock is not None and (u.closed or u.resp):
            k = str(u.status() or ("closed:" + (u.err or "eof")))
            early[k] = early.get(k, 0) + 1
            sel.unregister(u.sock)  # done: only the held uploads are finished below
            u.sock.close()
    rss_held = proc_kib(pid, "VmRSS")
    rss_peak = max(rss_peak, rss_held)

    # Finish: the rest of every body, as fast as the gateway reads it, then every answer.
    t1 = time.monotonic()
    active = 0
    for u in ups:
        if u.sock is None or u.closed or u.resp:
            continue
        active += 1
        sel.modify(u.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, u)
    while active and time.monotonic() - t1 < finish_timeout:
        for key, ev in sel.select(timeout=1.0):
            u = key.data
            if ev & selectors.EVENT_READ:
                read_some(u)
            if ev & selectors.EVENT_WRITE and not u.closed and u.sent < body:
                if not u.out:
                    u.out = body_bytes(u.sent, min(65536, body - u.sent))
                try:
                    k = u.sock.send(u.out)
                    u.sent += k
                    u.out = u.out[k:]
                except BlockingIOError:
                    pass
                except OSError as e:
                    u.closed, u.err = True, errno.errorcode.get(e.errno, str(e.errno))
            if u.sent >= body or u.closed:
                if key.events & selectors.EVENT_WRITE:
                    sel.modify(u.sock, selectors.EVENT_READ, u)
            if u.closed or (u.status() and u.resp.find(b"\r\n\r\n") >= 0 and u.sent >= body):
                sel.unregister(u.sock)
                u.sock.close()
                active -= 1
    t_finish = time.monotonic() - t1
    final = {}
    for u in ups:
        if u.sock is None:
            continue
        k = str(u.status() or ("closed:" + (u.err or "eof") if u.closed else "no-answer"))
        final[k] = final.get(k, 0) + 1
        if u.sock.fileno() >= 0:
            u.sock.close()
    time.sleep(1.0)  # let the gateway free the connections
    rss_after, hwm = proc_kib(pid, "VmRSS"), proc_kib(pid, "VmHWM")

    print(f"slow_n={n}")
    print(f"slow_opened={n - connect_failed}")
    print(f"slow_connect_failed={connect_failed}")
    print(f"slow_open_s={t_open:.2f}")
    print(f"slow_held_min={held_min}")
    print(f"slow_held_end={held_end}")
    print("slow_early=" + (",".join(f"{k}:{v}" for k, v in sorted(early.items())) or "none"))
    print(f"slow_finish_s={t_finish:.1f}")
    print("slow_final=" + (",".join(f"{k}:{v}" for k, v in sorted(final.items())) or "none"))
    print(f"slow_202={final.get('202', 0)}")
    print(f"slow_rss_before_kib={rss_before}")
    print(f"slow_hwm_before_kib={hwm_before}")
    print(f"slow_rss_held_kib={rss_held}")
    print(f"slow_rss_peak_held_kib={rss_peak}")
    print(f"slow_rss_after_kib={rss_after}")
    print(f"slow_hwm_kib={hwm}")


if __name__ == "__main__":
    main()
