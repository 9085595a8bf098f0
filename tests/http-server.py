#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A fault-injecting HTTP/1.1 server for the fetch tests and the fetch bench (standard library only).

Listens on 127.0.0.1, port 0 (the kernel picks one), writes the port to --port-file once it is
listening, and appends one JSON line per request to --log: the path, the request headers
(lower-cased names), the status sent, how many body bytes went out, and whether the client hung
up before the body. Bodies are generated, never stored: byte i of a body with seed S is a fixed
pseudo-random pattern, with an optional audio magic prefix (fmt=mp3|wav|m4a|ogg|flac), so a
1 GB download costs no disk on the server side and any range of it can be served.

Routes (query parameters in brackets; size defaults to 100000, seed to 1):
  /plain [size, seed, fmt, hold, cut]  Content-Length, strong ETag and Last-Modified, honours
                                       Range and If-Range (206, 416 past the end)
  /etag, /lastmod                      as /plain with only the ETag / only Last-Modified
  /416                                 as /plain (a Range past the end gets 416)
  /chunked [size, seed, fmt]           Transfer-Encoding: chunked, no length, no ranges
  /redirect [n, to]                    n redirects (302, relative) then the route 'to' (plain)
  /redirect-to [url]                   one 302 to url (any scheme, any host)
  /loop                                redirects to itself forever
  /slow [rate, size]                   sends rate bytes per second
  /reset-after [bytes, size]           a request without Range gets bytes of the body, then a TCP
                                       reset; a request with Range is served like /plain
  /needs-ua [size]                     403 without a User-Agent or with a curl/wget/python one
  /404, /410, /status [code]           that status with a small HTML body
  /503, /429 [retry-after]             that status, with Retry-After when given
  /truncated [size, sent]              declares size bytes, sends sent, closes the connection
  /range-ignored [size, cut]           always 200 with the whole body, ignoring Range
  /etag-changes [size, seed, cut]      the file changes at every request: request k serves seed+k
                                       with ETag "v<k>"
Common: hold=SECONDS waits after the headers for the client to hang up before sending the body
(a client that refuses the body up front is logged with client_closed_before_body); cut=N sends
only N body bytes to a request without Range, then resets the connection.

--dump 'plain?size=N&seed=S&fmt=mp3' writes a body to standard output instead (for checksums);
--tls-cert/--tls-key serve HTTPS instead of HTTP.
"""

import argparse
import json
import os
import random
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATTERN_LEN = 65536
MAGIC = {
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "m4a": b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00",
    "ogg": b"OggS\x00\x02",
    "flac": b"fLaC\x00\x00\x00\x22",
}
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
_patterns = {}
_patterns_lock = threading.Lock()


def pattern(seed):
    with _patterns_lock:
        p = _patterns.get(seed)
        if p is None:
            p = random.Random(seed).randbytes(PATTERN_LEN)
            p = p + p  # any PATTERN_LEN window is one slice
            _patterns[seed] = p
        return p


class Body:
    """The bytes of a generated file: pattern(seed) repeated, with a magic prefix."""

    def __init__(self, size, seed=1, fmt=None):
        self.size = size
        self.seed = seed
        self.prefix = MAGIC.get(fmt or "", b"")

    def chunks(self, start, end, chunk=PATTERN_LEN):
        pat = pattern(self.seed)
        off = start
        while off < end:
            n = min(chunk, end - off, PATTERN_LEN)
            piece = pat[off % PATTERN_LEN:off % PATTERN_LEN + n]
            if off < len(self.prefix):
                k = min(len(self.prefix) - off, n)
                piece = self.prefix[off:off + k] + piece[k:]
            yield piece
            off += n


def qint(q, name, default):
    v = q.get(name, [None])[0]
    return default if v is None else int(v)


def body_from_query(q, seed_offset=0):
    return Body(qint(q, "size", 100000), qint(q, "seed", 1) + seed_offset, q.get("fmt", [None])[0])


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, log_path):
        super().__init__(addr, Handler)
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.log_lock = threading.Lock()
        self.counters = {}
        self.seq = 0

    def log(self, record):
        with self.log_lock:
            self.seq += 1
            record["seq"] = self.seq
            if self.log_file:
                self.log_file.write(json.dumps(record, sort_keys=True) + "\n")

    def handle_error(self, request, client_address):
        # Clients that hang up or get reset are part of the tests, not errors.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def next_version(self, key):
        with self.log_lock:
            v = self.counters.get(key, 0)
            self.counters[key] = v + 1
            return v


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "memgov-test-server"

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing -------------------------------------------------------------------------

    def begin(self, status, headers, reason=None):
        self.rec["status"] = status
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def send_bytes(self, data, payload=None):
        try:
            self.wfile.write(data)
            self.rec["body_sent"] += len(data) if payload is None else payload
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.rec["aborted"] = True
            self.close_connection = True
            return False

    def hold(self, seconds):
        """Waits for the client to hang up; True if it did (it refused the body)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.connection], [], [], left)
            if r:
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except (ConnectionResetError, OSError):
                    data = b""
                if not data:
                    self.rec["client_closed_before_body"] = True
                    self.close_connection = True
                    return True
                return False

    def reset(self):
        """Drops the connection with a TCP RST (SO_LINGER 0), as a flaky CDN does."""
        self.rec["reset"] = True
        time.sleep(0.3)  # let the client read what was sent before the reset discards it
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
        self.close_connection = True

    def simple(self, status, extra=(), text=None):
        body = (text or "<html><body>%d</body></html>\n" % status).encode()
        self.begin(status, [("Content-Type", "text/html"), ("Content-Length", str(len(body)))] + list(extra))
        self.send_bytes(body)

    def send_body(self, body, start, end, rate=None, cut=None):
        sent = 0
        step = max(1, rate // 10) if rate else PATTERN_LEN
        for piece in body.chunks(start, end, step):
            if cut is not None and sent + len(piece) >= cut:
                self.send_bytes(piece[:cut - sent])
                self.reset()
                return
            if not self.send_bytes(piece):
                return
            sent += len(piece)
            if rate:
                time.sleep(0.1)

    # ---- routes ---------------------------------------------------------------------------

    def serve_file(self, body, q, etag=True, lastmod=True, ranges=True, etag_value=None):
        etag_value = etag_value or '"s%d-%d"' % (body.seed, body.size)
        validators = []
        if etag:
            validators.append(("ETag", etag_value))
        if lastmod:
            validators.append(("Last-Modified", LAST_MODIFIED))
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        start = 0
        if rng and ranges and (if_range is None or if_range in (etag_value if etag else None,
                                                                   LAST_MODIFIED if lastmod else None)):
            spec = rng.strip()
            if spec.startswith("bytes=") and "," not in spec:
                a, _, b = spec[6:].partition("-")
                if a.isdigit():
                    start = int(a)
                    end = min(int(b) + 1, body.size) if b.isdigit() else body.size
                    if start >= body.size:
                        self.begin(416, [("Content-Range", "bytes */%d" % body.size),
                                         ("Content-Length", "0")] + validators)
                        return
                    self.begin(206, [("Content-Range", "bytes %d-%d/%d" % (start, end - 1, body.size)),
                                     ("Content-Length", str(end - start)),
                                     ("Content-Type", "audio/mpeg")] + validators)
                    self.send_body(body, start, end)
                    return
        self.begin(200, [("Content-Length", str(body.size)), ("Content-Type", "audio/mpeg"),
                         ("Accept-Ranges", "bytes" if ranges else "none")] + validators)
        if "hold" in q and self.hold(float(q["hold"][0])):
            return
        cut = qint(q, "cut", None) if not rng else None
        self.send_body(body, 0, body.size, rate=qint(q, "rate", None), cut=cut)

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        route = url.path.strip("/")
        self.rec = {"path": self.path, "route": route, "status": 0, "body_sent": 0,
                    "headers": {k.lower(): v for k, v in self.headers.items()}}
        try:
            self.route(route, q)
        except (BrokenPipeError, ConnectionResetError):
            self.rec["aborted"] = True
            self.close_connection = True
        finally:
            self.server.log(self.rec)

    def route(self, route, q):
        if route in ("plain", "416"):
            self.serve_file(body_from_query(q), q)
        elif route == "etag":
            self.serve_file(body_from_query(q), q, lastmod=False)
        elif route == "lastmod":
            self.serve_file(body_from_query(q), q, etag=False)
        elif route == "range-ignored":
            self.serve_file(body_from_query(q), q, ranges=False)
        elif route == "reset-after":
            q.setdefault("cut", [str(qint(q, "bytes", 50000))])
            self.serve_file(body_from_query(q), q)
        elif route == "etag-changes":
            v = self.server.next_version(self.path.split("?")[1] if "?" in self.path else "")
            self.rec["version"] = v
            self.serve_file(body_from_query(q, v), q, lastmod=False, etag_value='"v%d"' % v)
        elif route == "slow":
            body = body_from_query(q)
            self.begin(200, [("Content-Length", str(body.size))])
            self.send_body(body, 0, body.size, rate=qint(q, "rate", 100))
        elif route == "chunked":
            body = body_from_query(q)
            self.begin(200, [("Transfer-Encoding", "chunked"), ("Content-Type", "audio/mpeg")])
            if "hold" in q and self.hold(float(q["hold"][0])):
                return
            for piece in body.chunks(0, body.size):
                if not self.send_bytes(b"%x\r\n" % len(piece) + piece + b"\r\n", len(piece)):
                    return
            self.send_bytes(b"0\r\n\r\n", 0)
        elif route == "redirect":
            n = qint(q, "n", 1)
            rest = "&".join("%s=%s" % (k, v[0]) for k, v in q.items() if k not in ("n", "to"))
            target = ("/redirect?n=%d&to=%s&%s" % (n - 1, q.get("to", ["plain"])[0], rest) if n > 1
                      else "/%s?%s" % (q.get("to", ["plain"])[0], rest))
            self.simple(302, [("Location", target)])
        elif route == "redirect-to":
            self.simple(302, [("Location", q["url"][0])])
        elif route == "loop":
            self.simple(302, [("Location", "/loop")])
        elif route == "needs-ua":
            ua = self.headers.get("User-Agent", "")
            if not ua or ua.lower().startswith(("curl/", "wget/", "python", "libcurl")):
                self.simple(403)
            else:
                self.serve_file(body_from_query(q), q)
        elif route in ("404", "410"):
            self.simple(int(route))
        elif route == "status":
            self.simple(qint(q, "code", 500))
        elif route in ("503", "429"):
            extra = [("Retry-After", q["retry-after"][0])] if "retry-after" in q else []
            self.simple(int(route), extra)
        elif route == "truncated":
            body = body_from_query(q)
            sent = qint(q, "sent", body.size // 2)
            self.begin(200, [("Content-Length", str(body.size))])
            self.send_body(body, 0, sent)
            self.close_connection = True
        else:
            self.simple(404)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", help="write the listening port here")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--dump", metavar="ROUTE?QUERY", help="write a generated body to stdout and exit")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="and this key (PEM)")
    args = ap.parse_args()

    if args.dump:
        u = urlsplit("/" + args.dump.lstrip("/"))
        body = body_from_query(parse_qs(u.query))
        out = sys.stdout.buffer
        for piece in body.chunks(0, body.size):
            out.write(piece)
        out.flush()
        return 0

    srv = Server(("127.0.0.1", 0), args.log)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
