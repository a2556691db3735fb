"""Issue 17: memory and slots under attack.

1. One WebSocket asks ``--requests`` ``get_all_tickers`` of a 10,000-ticker exchange and never
   reads: the API's RSS before, at its peak (``/proc/<pid>/status`` VmRSS every 100 ms) and
   after the socket is closed (target: peak within +150 MB of before), and what the server did
   to the socket (its close frame, ``fullon_cache_api_clients_ended_total``).
2. ``--rounds`` rounds, each opening ``--sockets`` sockets that start ``--streams``
   ``stream_tickers`` each with the longest ``request_id`` the server accepts, then closing them
   all: the idle RSS after each round (target: within +50 MB of the first). Also: a 60 KB
   ``request_id`` is refused with one ``INVALID_PARAMS`` frame and (counted) no log flood.
3. SSE zombies: ``--zombies`` connections each send ``GET /stream/tickers`` plus one pipelined
   byte and close at once; then a legitimate ``/stream/tickers``: its status at once and, if 503,
   how long until it is 200 (polled every 0.2 s, up to 60 s). Once with the defaults (20 streams
   per client address, 100 per process), once with ``FULLON_CACHE_API_MAX_STREAMS_PER_CLIENT=100``
   so that the zombies can hold every slot.

Each part runs against a fresh API process (``python -m fullon_cache_api`` on 127.0.0.1) over one
private redis-server; every process it starts is stopped; every wait is bounded.
Usage: ``python benchmarks/memory.py [--requests 1500] [--sockets 100] [--streams 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import threading
import time
from typing import Any

import httpx
import redis
from harness import ApiProcess, ws_frame, ws_open

from fullon_cache_api.demo.redis_server import RedisServer

EXCHANGE = "memx"
TICKERS = 10_000
MAX_ID = 256  # fullon_cache_api.envelopes.MAX_ID: the longest request_id accepted
STREAM_SYMBOLS = 10  # symbols per stream_tickers of part 2


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) / 1024  # type: ignore[union-attr]


def load_avg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def symbol(i: int) -> str:
    return f"C{i:05d}/USDT"


def load_tickers(port: int) -> None:
    """``tickers:{EXCHANGE}``: 10,000 ticks as fullon_cache writes them (one JSON per field)."""
    rng, now = random.Random(17), time.time()
    ticks = {}
    for i in range(TICKERS):
        price = round(rng.uniform(0.01, 60000.0), 4)
        spread = round(price * 0.0005, 6)
        ticks[symbol(i)] = json.dumps(
            {"symbol": symbol(i), "exchange": EXCHANGE, "price": price,
             "volume": round(rng.uniform(1.0, 1e6), 3), "time": round(now - rng.uniform(0, 60), 6),
             "bid": round(price - spread, 6), "ask": round(price + spread, 6), "last": price}
        )  # fmt: skip
    with redis.Redis(port=port) as client:
        client.delete(f"tickers:{EXCHANGE}")
        client.hset(f"tickers:{EXCHANGE}", mapping=ticks)


class Api(ApiProcess):
    """The API served on the private Redis, with what this benchmark reads of it."""

    def __init__(self, redis_port: int, extra: dict[str, str] | None = None) -> None:
        super().__init__(f"redis://127.0.0.1:{redis_port}/0", extra or {})

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def log_lines(self) -> int:
        return self.output().count("\n")

    def ended(self) -> dict[str, float]:
        """``fullon_cache_api_clients_ended_total`` series that are not 0."""
        text = httpx.get(self.base + "/metrics", timeout=30).text
        found = {}
        for line in text.splitlines():
            if line.startswith("fullon_cache_api_clients_ended_total") and not line.endswith(
                " 0.0"
            ):
                head, _, value = line.rpartition(" ")
                found[head.removeprefix("fullon_cache_api_clients_ended_total")] = float(value)
        return found


class Frames:
    """The server's frames on a socket (unmasked), read as they come."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf, self.eof = sock, bytearray(), False

    def _parse(self) -> tuple[int, bytes] | None:
        buf = self.buf
        if len(buf) < 2:
            return None
        opcode, size, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if size == 126:
            if len(buf) < 4:
                return None
            size, at = int.from_bytes(buf[2:4], "big"), 4
        elif size == 127:
            if len(buf) < 10:
                return None
            size, at = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < at + size:
            return None
        payload = bytes(buf[at : at + size])
        del buf[: at + size]
        return opcode, payload

    def next(self, timeout: float) -> tuple[int, bytes] | None:
        """The next frame, or None at EOF or after ``timeout`` seconds without one."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse()
            if frame is not None:
                return frame
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
            self.buf += chunk


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.stop = threading.Event()
        self.peak = 0.0
        self.samples = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
                self.samples += 1
            except (OSError, AttributeError):
                return
            time.sleep(self.every)


def settle(api: Api, seconds: float) -> float:
    time.sleep(seconds)
    return api.rss()


# -- part 1 -----------------------------------------------------------------------------------


def part_never_reading(redis_port: int, requests: int, seconds: float) -> dict[str, Any]:
    api = Api(redis_port)
    sock: socket.socket | None = None
    sampler = RssSampler(api.pid)
    out: dict[str, Any] = {"requests": requests}
    try:
        out["rss_start"] = api.rss()
        warm = ws_open(api.port, "/ws/tickers/warm")  # one read fully: first-use allocations
        warm.sendall(ws_frame({"action": "get_all_tickers", "request_id": 0,
                               "params": {"exchange": EXCHANGE}}))  # fmt: skip
        frame = Frames(warm).next(30)
        reply = json.loads(frame[1]) if frame else {}
        out["reply_bytes"] = len(frame[1]) if frame else 0
        out["reply_tickers"] = len(reply.get("result", {}).get("tickers", []))
        warm.close()
        out["rss_before"] = settle(api, 2)
        sampler.start()
        sock = ws_open(api.port, "/ws/tickers/never", rcvbuf=65536)
        sent = 0
        params = {"exchange": EXCHANGE}
        frames = [
            ws_frame({"action": "get_all_tickers", "request_id": i, "params": params})
            for i in range(requests)
        ]
        sock.settimeout(5)
        started = time.monotonic()
        try:
            for data in frames:
                sock.sendall(data)
                sent += 1
        except OSError as exc:  # the server stopped reading (or closed)
            out["send_stopped"] = type(exc).__name__
        out["sent"] = sent
        ended: dict[str, float] = {}
        while time.monotonic() - started < seconds:
            ended = api.ended()
            if any("ws" in k for k in ended):
                break
            time.sleep(1)
        out["ended_after_s"] = time.monotonic() - started
        out["ended"] = ended
        out["rss_peak_open"] = sampler.peak
        # What did the server do? Read what it sent: replies, then perhaps a close frame.
        reader, replies, close = Frames(sock), 0, None
        while True:
            frame = reader.next(5)
            if frame is None:
                break
            if frame[0] == 0x8:
                code = int.from_bytes(frame[1][:2], "big") if len(frame[1]) >= 2 else None
                close = (code, frame[1][2:].decode(errors="replace"))
                break
            replies += 1
        out["replies_read"], out["close"], out["eof"] = replies, close, reader.eof
        sock.close()
        sock = None
        out["rss_after"] = settle(api, 3)
        sampler.stop.set()
        sampler.join(2)
        out["rss_peak"] = sampler.peak
        out["samples"] = sampler.samples
    finally:
        sampler.stop.set()
        if sock is not None:
            sock.close()
        api.stop()
    return out


# -- part 2 -----------------------------------------------------------------------------------


def stream_id(n: int, i: int, length: int) -> str:
    head = f"r{n}-{i}-"
    return head + "x" * (length - len(head))


def confirmations(sock: socket.socket, count: int, timeout: float) -> int:
    """Reads the socket until ``count`` stream confirmations came (or ``timeout``)."""
    reader, got, deadline = Frames(sock), 0, time.monotonic() + timeout
    while got < count and time.monotonic() < deadline:
        frame = reader.next(deadline - time.monotonic())
        if frame is None:
            break
        if frame[0] == 0x1:
            message = json.loads(frame[1])
            got += message.get("action") == "stream_tickers" and message.get("success") is True
    return got


def check_ids(api: Api) -> dict[str, Any]:
    """The longest id accepted, one over refused, a 60 KB id: frames and log lines."""
    out: dict[str, Any] = {}
    sock = ws_open(api.port, "/ws/tickers/ids")
    try:
        params = {"exchange": EXCHANGE, "symbols": [symbol(0)]}
        reader = Frames(sock)
        # the limit is on the encoded id: 200 characters of "é" are 400 bytes of UTF-8
        for length, char in ((MAX_ID, "y"), (MAX_ID + 1, "y"), (200, "é")):
            name = length if char == "y" else f"{length} x {char}"
            sock.sendall(ws_frame({"action": "stream_tickers", "request_id": char * length,
                                   "params": params}))  # fmt: skip
            out[name] = "no reply"
            while (frame := reader.next(5)) is not None:  # the reply, past any stream update
                message = json.loads(frame[1])
                if "error_code" in message:
                    out[name] = message["error_code"]
                    break
                if message.get("success") is True:
                    out[name] = "confirmed"
                    break
        time.sleep(1)  # the accepted stream's snapshot, read away
        while reader.next(0.5) is not None:
            pass
        lines = api.log_lines()
        sock.sendall(ws_frame({"action": "stream_tickers", "request_id": "z" * 60_000,
                               "params": params}))  # fmt: skip
        frames = []
        while (frame := reader.next(2)) is not None:
            frames.append(frame)
        time.sleep(1)
        out["60k_frames"] = len(frames)
        first = json.loads(frames[0][1]) if frames else {}
        out["60k_code"] = first.get("error_code")
        out["60k_bytes"] = len(frames[0][1]) if frames else 0
        out["60k_log_lines"] = api.log_lines() - lines
    finally:
        sock.close()
    return out


def part_long_ids(redis_port: int, rounds: int, sockets: int, streams: int) -> dict[str, Any]:
    api = Api(redis_port)
    open_socks: list[socket.socket] = []
    out: dict[str, Any] = {"rounds": [], "sockets": sockets, "streams": streams}
    symbols = [symbol(i) for i in range(STREAM_SYMBOLS)]
    try:
        out["ids"] = check_ids(api)
        out["rss_start"] = settle(api, 2)
        for r in range(rounds):
            sampler = RssSampler(api.pid)
            sampler.start()
            confirmed = 0
            for n in range(sockets):
                sock = ws_open(api.port, f"/ws/tickers/round{r}-{n}")
                open_socks.append(sock)
                batch = b"".join(
                    ws_frame({"action": "stream_tickers", "request_id": stream_id(n, i, MAX_ID),
                              "params": {"exchange": EXCHANGE, "symbols": symbols}})
                    for i in range(streams)
                )  # fmt: skip
                sock.sendall(batch)
                confirmed += confirmations(sock, streams, 20)
            rss_open = api.rss()
            for sock in open_socks:
                sock.close()
            open_socks.clear()
            idle = settle(api, 3)
            sampler.stop.set()
            sampler.join(2)
            out["rounds"].append({"confirmed": confirmed, "rss_open": rss_open,
                                  "rss_peak": sampler.peak, "rss_idle": idle})  # fmt: skip
        out["log_lines"] = api.log_lines()
    finally:
        for sock in open_socks:
            sock.close()
        api.stop()
    return out


# -- part 3 -----------------------------------------------------------------------------------


def stream_status(base: str) -> int:
    try:
        with httpx.stream("GET", base + "/stream/tickers", timeout=5) as response:
            return response.status_code
    except httpx.HTTPError:
        return -1


def open_streams(api: Api) -> float | None:
    text = httpx.get(api.base + "/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith("fullon_cache_api_open_streams"):
            return float(line.rpartition(" ")[2])
    return None


def part_zombies(
    redis_port: int, zombies: int, per_client: int | None, burst: bool
) -> dict[str, Any]:
    """Each zombie sends its request and the pipelined byte and closes: at once, one after the
    other; or (``burst``) all send first, then all close together (they hold their slots at
    the moment they go)."""
    extra = (
        {} if per_client is None else {"FULLON_CACHE_API_MAX_STREAMS_PER_CLIENT": str(per_client)}
    )
    api = Api(redis_port, extra)
    out: dict[str, Any] = {"per_client": per_client or 20, "zombies": zombies, "burst": burst}
    socks: list[socket.socket] = []
    try:
        request = b"GET /stream/tickers HTTP/1.1\r\nHost: api\r\nAccept: text/event-stream\r\n\r\nG"
        for _ in range(zombies):
            sock = socket.create_connection(("127.0.0.1", api.port), timeout=5)
            sock.sendall(request)
            if burst:
                socks.append(sock)
            else:
                sock.close()
        if burst:
            time.sleep(0.5)  # the server starts their streams
            out["open_streams_before_close"] = open_streams(api)
            for sock in socks:
                sock.close()
            socks.clear()
        started = time.monotonic()
        out["status_at_once"] = status = stream_status(api.base)
        out["open_streams_at_once"] = open_streams(api)
        out["recovered_after_s"] = 0.0 if status == 200 else None
        polls = 0
        while status != 200 and time.monotonic() - started < 60:
            time.sleep(0.2)
            status = stream_status(api.base)
            polls += 1
            if status == 200:
                out["recovered_after_s"] = time.monotonic() - started
        out["polls"] = polls
        out["open_streams_after"] = open_streams(api)
        out["ended"] = api.ended()
    finally:
        for sock in socks:
            sock.close()
        api.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument(
        "--seconds", type=float, default=45.0, help="most seconds the non-reader is watched"
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--zombies", type=int, default=100)
    parser.add_argument("--only", default="1,2,3", help="parts to run, e.g. 1,3")
    args = parser.parse_args()
    parts = set(args.only.split(","))

    server = RedisServer().start()
    loads = [load_avg()]
    one = two = None
    three: list[dict[str, Any]] = []
    try:
        load_tickers(server.port)
        if "1" in parts:
            one = part_never_reading(server.port, args.requests, args.seconds)
            loads.append(load_avg())
        if "2" in parts:
            two = part_long_ids(server.port, args.rounds, args.sockets, args.streams)
            loads.append(load_avg())
        if "3" in parts:
            for burst in (False, True):
                three.append(part_zombies(server.port, args.zombies, None, burst))
                three.append(part_zombies(server.port, args.zombies, 100, burst))
            loads.append(load_avg())
    finally:
        server.close()

    print("=" * 78)
    print(f"Memory and slots under attack (issue 17); load average (1/5/15 min) during the run: "
          f"{' | '.join(loads)}; {os.cpu_count()} cores")  # fmt: skip
    if one:
        growth = one["rss_peak"] - one["rss_before"]
        print(f"1. one socket, {one['sent']}/{one['requests']} get_all_tickers of {TICKERS} "
              f"tickers ({one['reply_bytes'] / 1e6:.1f} MB a reply), never reading:")  # fmt: skip
        print(f"   RSS at start {one['rss_start']:.0f} MB, before {one['rss_before']:.0f} MB, "
              f"peak {one['rss_peak']:.0f} MB (+{growth:.0f} MB; target +150 MB: "
              f"{'met' if growth <= 150 else 'NOT met'}), after closing {one['rss_after']:.0f} MB"
              f" ({one['samples']} samples)")  # fmt: skip
        print(f"   server: clients_ended {one['ended'] or 'none'} after "
              f"{one['ended_after_s']:.1f} s; replies the client then read: "
              f"{one['replies_read']}; close frame: {one['close'] or 'none'}"
              f"{' (EOF)' if one['eof'] else ''}")  # fmt: skip
        if "send_stopped" in one:
            print(f"   the client's sending stopped: {one['send_stopped']}")
    if two:
        ids = two["ids"]
        print(f"2. request_id of {MAX_ID} chars: {ids[MAX_ID]}; of {MAX_ID + 1}: "
              f"{ids[MAX_ID + 1]}; of 200 non-ASCII ('é'): {ids['200 x é']}; "
              f"of 60,000: {ids['60k_frames']} frame(s), "
              f"{ids['60k_code']}, {ids['60k_bytes']} bytes, "
              f"{ids['60k_log_lines']} log line(s)")  # fmt: skip
        first = two["rounds"][0]["rss_idle"] if two["rounds"] else 0.0
        print(f"   {len(two['rounds'])} rounds of {two['sockets']} sockets x {two['streams']} "
              f"stream_tickers ({STREAM_SYMBOLS} symbols, {MAX_ID}-char ids), then all closed; "
              f"RSS at start {two['rss_start']:.0f} MB")  # fmt: skip
        for i, r in enumerate(two["rounds"], 1):
            print(f"   round {i}: {r['confirmed']} confirmed, RSS open {r['rss_open']:.0f} MB, "
                  f"peak {r['rss_peak']:.0f} MB, idle after {r['rss_idle']:.0f} MB "
                  f"(+{r['rss_idle'] - first:.0f} MB over round 1; target +50 MB: "
                  f"{'met' if r['rss_idle'] - first <= 50 else 'NOT met'})")  # fmt: skip
        print(f"   API log lines in all (part 2): {two['log_lines']}")
    for z in three:
        recovered = z["recovered_after_s"]
        how = (f"all sent ({z['open_streams_before_close']} streams open), then all closed"
               if z["burst"] else "each closed at once")  # fmt: skip
        print(f"3. {z['zombies']} SSE zombies (pipelined byte, {how}), "
              f"{z['per_client']} streams per client, 100 per process: legitimate "
              f"/stream/tickers at once {z['status_at_once']} (open streams "
              f"{z['open_streams_at_once']}); 200 after "
              f"{'never (60 s)' if recovered is None else f'{recovered:.1f} s'} "
              f"({z['polls']} polls); open streams after {z['open_streams_after']}; "
              f"clients_ended {z['ended'] or 'none'}")  # fmt: skip
    print("=" * 78)


if __name__ == "__main__":
    main()
