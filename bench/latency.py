#!/usr/bin/python3
"""SMTP load with per-message latency: end of DATA to the Maildir rename.

    latency.py --port P --maildir ~u/Maildir --messages M --sessions S
               --size B --rcpt u@localhost [--rcpt ...] [--reuse] [--rate R]
               --out r.json

A client of our own (smtp-source reports no per-message times): S threads,
each sending messages (one connection per message, or all of a session's
messages on one connection with --reuse), every message carrying
`X-Bench-Seq: k` as its first header.  For each message it notes the
CLOCK_MONOTONIC time right after the final ".\\r\\n" was handed to the
kernel (end of DATA) and when the 250 arrived.  With --rate the messages
start at a fixed pace (open loop) instead of as fast as the MTA answers:
then latency is the MTA's own, not the queue a saturating client builds.

Arrivals: an inotify watch on new/ (IN_CREATE for Postfix's link(2),
IN_MOVED_TO for a rename(2)), read by a forked child process so that its
time stamps never wait for the client threads' GIL.  The stamp is taken
when read(2) returns the event: accurate to well under a millisecond on
an idle core, a few on a saturated one.  After the run each new file's
X-Bench-Seq names its message; latency = arrival - end of DATA, one value
per delivered file (100 per message when a message has 100 recipients).

Writes JSON: accept_s, deliver_s, deliveries, latency_ms {p50, p99, max,
n}, missing (files without an inotify stamp, e.g. after a queue overflow).
Exit status 0 only if every message got its 250 and every delivery
arrived before --timeout.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import select
import socket
import struct
import sys
import threading
import time

IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000


class SmtpError(RuntimeError):
    pass


def read_reply(f) -> tuple[int, bytes]:
    """One (possibly multi-line) SMTP reply: (code, last line)."""
    while True:
        line = f.readline()
        if not line:
            raise SmtpError("connection closed by the server")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]), line


def expect(f, want: int, what: str) -> None:
    code, line = read_reply(f)
    if code // 100 != want // 100:
        raise SmtpError(f"{what}: {line!r}")


def percentile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_vals[max(0, math.ceil(q * len(sorted_vals)) - 1)]


def watcher(ifd: int, stop_r: int, out_path: str) -> None:
    """Child process: stamp every name that appears in the watched
    directory until stop_r becomes readable, then dump {name: stamp}."""
    stamps: dict[str, float] = {}
    overflow = False
    p = select.poll()
    p.register(ifd, select.POLLIN)
    p.register(stop_r, select.POLLIN)
    stopping = False
    while True:
        events = p.poll(None if not stopping else 0)
        ready = {fd for fd, _ in events}
        if stop_r in ready:
            stopping = True
        if ifd in ready:
            try:
                buf = os.read(ifd, 1 << 16)
            except BlockingIOError:
                buf = b""
            now = time.monotonic()
            off = 0
            while off + 16 <= len(buf):
                _wd, mask, _cookie, ln = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + ln].rstrip(b"\0").decode(errors="replace")
                off += 16 + ln
                if mask & IN_Q_OVERFLOW:
                    overflow = True
                elif name and name not in stamps:
                    stamps[name] = now
        elif stopping:
            break
    with open(out_path, "w") as f:
        json.dump({"stamps": stamps, "overflow": overflow}, f)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--size", type=int, default=5120)
    ap.add_argument("--rcpt", action="append", required=True)
    ap.add_argument("--reuse", action="store_true", help="one connection per session")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--rate", type=float, default=0,
                    help="messages per second, paced (open loop); 0 = as fast as the MTA answers")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("loopback only")

    new = os.path.join(args.maildir, "new")
    libc = ctypes.CDLL(None, use_errno=True)
    ifd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if ifd < 0 or libc.inotify_add_watch(ifd, new.encode(), IN_CREATE | IN_MOVED_TO) < 0:
        raise SystemExit(f"inotify on {new}: {os.strerror(ctypes.get_errno())}")
    before = set(os.listdir(new))
    stop_r, stop_w = os.pipe()
    stamps_path = args.out + ".stamps"
    # Fork before any thread exists.
    child = os.fork()
    if child == 0:
        try:
            os.close(stop_w)
            watcher(ifd, stop_r, stamps_path)
        finally:
            os._exit(0)
    os.close(stop_r)
    os.close(ifd)

    line = b"x" * 76 + b"\r\n"
    body = (line * (args.size // len(line) + 1))[:args.size]
    body = body[:body.rfind(b"\r\n") + 2] if b"\r\n" in body else body + b"\r\n"
    eod: dict[int, float] = {}
    ok: dict[int, float] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    next_seq = [0]
    t_start = [0.0]

    def take() -> int | None:
        with lock:
            if next_seq[0] >= args.messages or errors:
                return None
            next_seq[0] += 1
            seq = next_seq[0]
        if args.rate > 0:
            # Message k starts (k-1)/rate after the first, whoever is
            # free: the arrival rate stays the same however slow the
            # MTA's answers, so latency measures the MTA, not a queue of
            # our own making.
            delay = t_start[0] + (seq - 1) / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return seq

    def connect():
        s = socket.create_connection((args.host, args.port), timeout=args.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        expect(f, 220, "banner")
        s.sendall(b"EHLO client.test\r\n")
        expect(f, 250, "EHLO")
        return s, f

    def one(s, f, seq: int) -> None:
        s.sendall(b"MAIL FROM:<source@client.test>\r\n")
        expect(f, 250, "MAIL")
        # Recipients one at a time (no PIPELINING assumed).
        for r in args.rcpt:
            s.sendall(f"RCPT TO:<{r}>\r\n".encode())
            expect(f, 250, f"RCPT {r}")
        s.sendall(b"DATA\r\n")
        expect(f, 354, "DATA")
        head = (f"X-Bench-Seq: {seq}\r\nFrom: <source@client.test>\r\n"
                f"To: <{args.rcpt[0]}>\r\nSubject: bench {seq}\r\n\r\n").encode()
        s.sendall(head + body + b".\r\n")
        t = time.monotonic()
        expect(f, 250, "end of DATA")
        t2 = time.monotonic()
        with lock:
            eod[seq], ok[seq] = t, t2

    def session() -> None:
        try:
            conn = None
            while (seq := take()) is not None:
                if conn is None:
                    conn = connect()
                one(*conn, seq)
                if not args.reuse:
                    conn[0].sendall(b"QUIT\r\n")
                    read_reply(conn[1])
                    conn[1].close()
                    conn[0].close()
                    conn = None
            if conn:
                conn[0].sendall(b"QUIT\r\n")
                read_reply(conn[1])
                conn[0].close()
        except BaseException as e:  # reported by the main thread
            with lock:
                errors.append(e)

    t0 = t_start[0] = time.monotonic()
    threads = [threading.Thread(target=session) for _ in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_accept = time.monotonic() - t0
    # After an error (e.g. a 4xx), still wait for what was accepted: its
    # latency is measured, and the exit status says the run failed.
    want = (len(ok) if errors else args.messages) * len(args.rcpt)
    arrived: list[str] = []
    deadline = time.monotonic() + args.timeout
    while True:
        arrived = [n for n in os.listdir(new) if n not in before and not n.startswith(".")]
        if len(arrived) >= want or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    t_deliver = time.monotonic() - t0
    os.write(stop_w, b"x")
    os.waitpid(child, 0)
    with open(stamps_path) as f:
        w = json.load(f)
    os.unlink(stamps_path)

    lat: list[float] = []
    missing = 0
    for name in arrived:
        with open(os.path.join(new, name), "rb") as f:
            head = f.read(16384)
        i = head.find(b"\nX-Bench-Seq: ")
        seq = int(head[i + 14:head.index(b"\n", i + 1)].strip()) if i >= 0 else None
        if seq is None or seq not in eod or name not in w["stamps"]:
            missing += 1
            continue
        lat.append(1000 * (w["stamps"][name] - eod[seq]))
    lat.sort()
    res = {
        "messages": args.messages, "rate": args.rate, "recipients": len(args.rcpt),
        "sessions": args.sessions,
        "accepted": len(ok), "deliveries": len(arrived), "missing": missing,
        "overflow": w["overflow"], "errors": [repr(e) for e in errors[:3]],
        "accept_s": round(t_accept, 3), "deliver_s": round(t_deliver, 3),
        "latency_ms": ({"p50": round(percentile(lat, 0.5), 2),
                        "p99": round(percentile(lat, 0.99), 2),
                        "max": round(lat[-1], 2), "n": len(lat)} if lat else None),
        "ack_ms_p50": (round(1000 * sorted(ok[k] - eod[k] for k in ok)[len(ok) // 2], 2)
                       if ok else None),
    }
    with open(args.out, "w") as f:
        json.dump(res, f)
    if errors:
        print(f"latency.py: {errors[0]!r}", file=sys.stderr)
        return 1
    return 0 if len(arrived) >= want else 2


if __name__ == "__main__":
    sys.exit(main())
