#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A mock of the Gemini API's Files API and generateContent, for the transcribe tests and the
upload bench (standard library only, loopback only).

Listens on 127.0.0.1, port 0 (the kernel picks one), and prints one JSON line on standard output
once it listens: {"port":N,"redirect_port":N,"other_host":"127.0.0.2:N"}. Two more listeners
exist only to catch what must never reach them: "redirect" (127.0.0.1, the target of the
redirects this server sends) and "other-host" (127.0.0.2, named in foreign upload URLs). Every
request to any of the three is appended to --log as one JSON line: server, method, path, query,
headers (lower-case names), body_len, status, and for uploads the command and offset.

Protocol (as protocols.md §A describes Google's):
  POST /upload/v1beta/files                 start a resumable session (X-Goog-Upload-Command:
                                            start, X-Goog-Upload-Header-Content-Length);
                                            answers X-Goog-Upload-URL, -Status and
                                            -Chunk-Granularity
  POST /upload/v1beta/files?upload_id=ID    upload / "upload, finalize" (X-Goog-Upload-Offset
                                            must equal the bytes received; a non-final piece must
                                            be a multiple of the granularity), query
                                            (X-Goog-Upload-Size-Received), cancel
  GET  /v1beta/files/NAME                   the File (PROCESSING for processing_polls requests,
                                            then ACTIVE, or FAILED)
  DELETE /v1beta/files/NAME
  POST /v1beta/models/MODEL:generateContent the file_data file must be ACTIVE; the answer's text
                                            describes the audio (see describe_audio), so tests
                                            can check what each chunk held and their order
Errors use Google's shape {"error":{"code","message","status","details"}}; the API key must be
in x-goog-api-key (with --key, anything else is a 400 API_KEY_INVALID).

Behaviour is chosen per test with POST /_control and a JSON object (replaces the previous one and
resets the counters); GET /_state returns the files and counters. Keys:
  granularity (262144)        X-Goog-Upload-Chunk-Granularity
  processing_polls (0)        files.get answers PROCESSING this many times per file
  fail_file (false)           the file ends FAILED instead of ACTIVE
  max_tokens_over (null)      generateContent answers MAX_TOKENS for audio longer than this (s)
  retry_429 (0), retry_delay ("1s")  the first N generateContent calls get 429 with RetryInfo
  daily_quota (false)         429s name a per-day quota and carry no RetryInfo
  fail_503 (0)                the first N generateContent calls get 503
  redirect_start (false)      the session start answers 302 to the redirect listener
  redirect_generate (false)   generateContent answers 307 to the redirect listener
  foreign_upload_url (false)  the upload URL names the other-host listener (127.0.0.2)
  cut_after (null)            the first upload request is cut after this many body bytes
                              (connection reset); whole granules received so far are kept
  echo_key_error (false)      generateContent answers 400 with the received key in the message
  bad_request (false)         generateContent answers 400 INVALID_ARGUMENT
  wrong_sha (false)           the File reports another sha256Hash
  accept_any (false)          uploads are hashed but not stored, audio is not parsed (bench)
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEFAULTS = {
    "granularity": 262144,
    "processing_polls": 0,
    "fail_file": False,
    "max_tokens_over": None,
    "retry_429": 0,
    "retry_delay": "1s",
    "daily_quota": False,
    "fail_503": 0,
    "redirect_start": False,
    "redirect_generate": False,
    "foreign_upload_url": False,
    "cut_after": None,
    "echo_key_error": False,
    "bad_request": False,
    "wrong_sha": False,
    "accept_any": False,
}

# ---- audio, shared with mock-openai.py ----

MP3_KBPS = {
    (1, 1): [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    (1, 2): [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    (1, 3): [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    (2, 1): [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    (2, 2): [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}


def mp3_header(b):
    """(frame_bytes, samples, rate) of the 4-byte header b, or None."""
    if len(b) < 4 or b[0] != 0xFF or (b[1] & 0xE0) != 0xE0:
        return None
    v, l, bi, ri = (b[1] >> 3) & 3, (b[1] >> 1) & 3, b[2] >> 4, (b[2] >> 2) & 3
    if v == 1 or l == 0 or bi in (0, 15) or ri == 3:
        return None
    mpeg1 = v == 3
    layer = 4 - l
    rate = [44100, 48000, 32000][ri] >> (0 if mpeg1 else 1 if v == 2 else 2)
    kbps = MP3_KBPS[(1, layer) if mpeg1 else (2, 1 if layer == 1 else 2)][bi]
    pad = (b[2] >> 1) & 1
    samples = 384 if layer == 1 else 1152 if (layer == 2 or mpeg1) else 576
    if layer == 1:
        size = (12 * kbps * 1000 // rate + pad) * 4
    else:
        size = samples // 8 * kbps * 1000 // rate + pad
    return size, samples, rate


def mp3_frames(data):
    """Frames and seconds of an MP3 file (ID3v2 skipped, a Xing/Info frame not counted)."""
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        s = data[6:10]
        pos = 10 + (s[0] << 21 | s[1] << 14 | s[2] << 7 | s[3])
    frames, seconds, first = 0, 0.0, True
    while pos + 4 <= len(data):
        h = mp3_header(data[pos:pos + 4])
        if not h or pos + h[0] > len(data):
            pos += 1
            continue
        frame = data[pos:pos + h[0]]
        if first and (b"Xing" in frame[:64] or b"Info" in frame[:64]):
            first = False
            pos += h[0]
            continue
        first = False
        frames += 1
        seconds += h[1] / h[2]
        pos += h[0]
    return frames, seconds


def wav_info(data):
    """(channels, rate, bits, data bytes) of a WAV file, checking its header sizes, or None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    if struct.unpack("<I", data[4:8])[0] != len(data) - 8:
        return ("bad-riff-size",)
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            tag, ch, rate = struct.unpack("<HHI", data[pos + 8:pos + 16])
            bits = struct.unpack("<H", data[pos + 22:pos + 24])[0]
            fmt = (ch, rate, bits)
        elif cid == b"data":
            if not fmt or pos + 8 + size > len(data):
                return ("bad-data-size",)
            return fmt + (data[pos + 8:pos + 8 + size],)
        pos += 8 + size + (size & 1)
    return None


def describe_audio(data):
    """What a chunk holds, as the mock's "transcript": for a 2-channel 16-bit WAV whose sample
    frame i holds i (left: low 16 bits, right: high 16 bits), the range of frame numbers, so the
    tests can prove that chunks are contiguous and in order. Returns (text, seconds)."""
    w = wav_info(data)
    if w and len(w) == 1:
        return "[invalid wav: %s]" % w[0], 0.0
    if w:
        ch, rate, bits, pcm = w
        block = ch * bits // 8
        n = len(pcm) // block if block else 0
        secs = n / rate if rate else 0.0
        if ch == 2 and bits == 16 and n > 0:
            def frame(i):
                lo, hi = struct.unpack("<HH", pcm[i * block:i * block + 4])
                return hi << 16 | lo
            return "[frames %d-%d]" % (frame(0), frame(n - 1)), secs
        return "[wav %d frames %.3f s]" % (n, secs), secs
    if data[:4] == b"fLaC":
        return "[flac %d bytes]" % len(data), 0.0
    frames, secs = mp3_frames(data)
    if frames:
        return "[mp3 %d frames %.3f s]" % (frames, secs), secs
    return "[unknown audio %d bytes]" % len(data), 0.0


# ---- the server ----


class State:
    def __init__(self, store_dir):
        self.lock = threading.Lock()
        self.store_dir = store_dir
        self.reset({})

    def reset(self, cfg):
        self.cfg = dict(DEFAULTS)
        self.cfg.update(cfg)
        self.sessions = {}
        self.files = {}
        self.counters = {"429": 0, "503": 0, "cut": 0, "generate": 0}
        self.next_id = 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-gemini/1"
    disable_nagle_algorithm = True  # headers and body go in separate writes

    def log_message(self, fmt, *args):
        pass

    # -- plumbing --

    def record(self, status, **extra):
        rec = {
            "server": self.server.name,
            "method": self.command,
            "path": urlsplit(self.path).path,
            "query": urlsplit(self.path).query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "status": status,
        }
        rec.update(extra)
        with LOG_LOCK:
            LOG.write(json.dumps(rec) + "\n")
            LOG.flush()

    def send(self, status, body=b"", headers=None, ctype="application/json", quiet=False, **extra):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if not quiet:
            self.record(status, **extra)

    def error(self, code, status, message, details=None, headers=None, **extra):
        err = {"code": code, "message": message, "status": status}
        if details:
            err["details"] = details
        self.send(code, {"error": err}, headers=headers, **extra)

    def body_len(self):
        return int(self.headers.get("Content-Length") or 0)

    def read_body(self):
        return self.rfile.read(self.body_len())

    def key_ok(self):
        if ARGS.key is None:
            return True
        if self.headers.get("x-goog-api-key") == ARGS.key:
            return True
        self.read_body()
        self.error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                   [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}])
        return False

    def base(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    # -- routes --

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def route(self):
        u = urlsplit(self.path)
        if self.server.name != "main":
            # The decoys answer like the real thing would, so that a client that follows a
            # redirect or trusts a foreign URL gets far enough to show it.
            self.read_body()
            self.send(200, {"decoy": True}, headers={"X-Goog-Upload-Status": "active"})
            return
        if u.path == "/_control":
            cfg = json.loads(self.read_body() or b"{}")
            with STATE.lock:
                STATE.reset(cfg)
            self.send(200, {"ok": True}, quiet=True)
            return
        if u.path == "/_state":
            with STATE.lock:
                files = {k: {kk: vv for kk, vv in v.items() if kk != "path"} for k, v in STATE.files.items()}
                self.send(200, {"files": files, "counters": STATE.counters}, quiet=True)
            return
        if "key" in parse_qs(u.query):
            self.read_body()
            self.error(400, "INVALID_ARGUMENT", "test server: the key must not be in the URL")
            return
        if u.path == "/upload/v1beta/files" and self.command == "POST":
            if "upload_id" in parse_qs(u.query):
                self.upload(parse_qs(u.query)["upload_id"][0])
            else:
                self.start()
        elif u.path.startswith("/v1beta/files/") and self.command in ("GET", "DELETE"):
            self.file_op(u.path[len("/v1beta/"):])
        elif u.path.startswith("/v1beta/models/") and u.path.endswith(":generateContent") and self.command == "POST":
            self.generate()
        else:
            self.read_body()
            self.error(404, "NOT_FOUND", "no such route: %s %s" % (self.command, u.path))

    def start(self):
        if not self.key_ok():
            return
        body = self.read_body()
        cfg = STATE.cfg
        if cfg["redirect_start"]:
            self.send(302, headers={"Location": "http://127.0.0.1:%d/upload/v1beta/files" % REDIRECT.server_address[1]})
            return
        if (self.headers.get("X-Goog-Upload-Protocol") != "resumable"
                or self.headers.get("X-Goog-Upload-Command") != "start"):
            self.error(400, "INVALID_ARGUMENT", "expected a resumable start")
            return
        total = int(self.headers.get("X-Goog-Upload-Header-Content-Length", "-1"))
        mime = self.headers.get("X-Goog-Upload-Header-Content-Type", "")
        try:
            meta = json.loads(body or b"{}")
        except ValueError:
            self.error(400, "INVALID_ARGUMENT", "metadata is not JSON")
            return
        with STATE.lock:
            sid = "s%d" % STATE.next_id
            STATE.next_id += 1
            path = None
            if not cfg["accept_any"]:
                fd, path = tempfile.mkstemp(dir=STATE.store_dir)
                os.close(fd)
            STATE.sessions[sid] = {"total": total, "mime": mime, "received": 0, "path": path,
                                   "sha": hashlib.sha256(), "status": "active",
                                   "display_name": meta.get("file", {}).get("display_name", "")}
        host = "http://%s:%d" % OTHER_HOST.server_address if cfg["foreign_upload_url"] else self.base()
        url = "%s/upload/v1beta/files?upload_id=%s&upload_protocol=resumable" % (host, sid)
        self.send(200, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active",
                                "X-Goog-Upload-Chunk-Granularity": str(cfg["granularity"])})

    def file_resource(self, name):
        f = STATE.files[name]
        r = {"name": name, "displayName": f["display_name"], "mimeType": f["mime"], "sizeBytes": str(f["size"]),
             "sha256Hash": f["sha256"], "uri": "%s/v1beta/%s" % (self.base(), name), "state": f["state"]}
        if f["state"] == "FAILED":
            r["error"] = {"code": 3, "message": "the audio could not be processed (mock)"}
        return r

    def finish_upload(self, sid, s):
        cfg = STATE.cfg
        name = "files/f%s" % sid[1:]
        digest = s["sha"].digest()
        if s["path"]:
            with open(s["path"], "rb") as fh:
                digest = hashlib.sha256(fh.read()).digest()
        if cfg["wrong_sha"]:
            digest = hashlib.sha256(b"something else").digest()
        polls = cfg["processing_polls"]
        STATE.files[name] = {"display_name": s["display_name"], "mime": s["mime"], "size": s["received"],
                             "sha256": base64.b64encode(digest).decode(), "path": s["path"],
                             "polls_left": polls, "deleted": False, "gets": 0,
                             "state": "PROCESSING" if polls > 0 else ("FAILED" if cfg["fail_file"] else "ACTIVE")}
        s["status"] = "final"
        s["file"] = name
        return self.file_resource(name)

    def upload(self, sid):
        if not self.key_ok():
            return
        cmd = self.headers.get("X-Goog-Upload-Command", "")
        cfg = STATE.cfg
        with STATE.lock:
            s = STATE.sessions.get(sid)
        if not s:
            self.read_body()
            self.error(404, "NOT_FOUND", "no such upload session")
            return
        if cmd == "query":
            self.read_body()
            if s["status"] == "final":
                self.send(200, {"file": self.file_resource(s["file"])}, headers={"X-Goog-Upload-Status": "final"},
                          command=cmd)
            else:
                self.send(200, headers={"X-Goog-Upload-Status": s["status"],
                                        "X-Goog-Upload-Size-Received": str(s["received"])}, command=cmd)
            return
        if cmd == "cancel":
            self.read_body()
            s["status"] = "cancelled"
            self.send(200, headers={"X-Goog-Upload-Status": "cancelled"}, command=cmd)
            return
        if cmd not in ("upload", "upload, finalize") or s["status"] != "active":
            self.read_body()
            self.error(400, "INVALID_ARGUMENT", "bad command '%s' in state %s" % (cmd, s["status"]),
                       headers={"X-Goog-Upload-Status": s["status"]}, command=cmd)
            return
        offset = int(self.headers.get("X-Goog-Upload-Offset", "-1"))
        n = self.body_len()
        final = cmd == "upload, finalize"
        g = cfg["granularity"]
        if offset != s["received"]:
            self.read_body()
            self.error(400, "INVALID_ARGUMENT", "offset %d, expected %d" % (offset, s["received"]),
                       headers={"X-Goog-Upload-Status": "active"}, command=cmd, offset=offset, body_len=n)
            return
        if not final and (n == 0 or n % g != 0):
            self.read_body()
            self.error(400, "INVALID_ARGUMENT", "a non-final piece of %d bytes is not a multiple of %d" % (n, g),
                       headers={"X-Goog-Upload-Status": "active"}, command=cmd, offset=offset, body_len=n)
            return
        cut = None
        with STATE.lock:
            if cfg["cut_after"] is not None and STATE.counters["cut"] == 0 and n > cfg["cut_after"]:
                STATE.counters["cut"] = 1
                cut = cfg["cut_after"]
        want = cut if cut is not None else n
        fh = open(s["path"], "r+b") if s["path"] else None
        if fh:
            fh.seek(offset)
        got, keep = 0, b""
        while got < want:
            b = self.rfile.read(min(65536, want - got))
            if not b:
                break
            got += len(b)
            if cut is not None:
                keep += b
            else:
                if fh:
                    fh.write(b)
                s["sha"].update(b)
        if cut is not None:
            # Only whole granules count as received, as in Google's protocol.
            kept = (got // g) * g
            if fh:
                fh.write(keep[:kept])
            s["sha"].update(keep[:kept])
            s["received"] += kept
            fh and fh.close()
            self.record(None, command=cmd, offset=offset, body_len=n, cut_after=got, kept=kept)
            # A reset, not a clean close: the client sees a broken upload.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fh:
            fh.close()
        if got < n:
            self.close_connection = True
            self.record(None, command=cmd, offset=offset, body_len=n, short=got)
            return
        s["received"] += n
        if final:
            if s["received"] != s["total"]:
                self.error(400, "INVALID_ARGUMENT", "finalized at %d bytes, %d declared" % (s["received"], s["total"]),
                           headers={"X-Goog-Upload-Status": "active"}, command=cmd, offset=offset, body_len=n)
                return
            with STATE.lock:
                res = self.finish_upload(sid, s)
            self.send(200, {"file": res}, headers={"X-Goog-Upload-Status": "final"}, command=cmd, offset=offset,
                      body_len=n)
        else:
            self.send(200, headers={"X-Goog-Upload-Status": "active"}, command=cmd, offset=offset, body_len=n)

    def file_op(self, name):
        if not self.key_ok():
            return
        self.read_body()
        with STATE.lock:
            f = STATE.files.get(name)
            if not f or f["deleted"]:
                self.error(404, "NOT_FOUND", "File %s not found." % name)
                return
            if self.command == "DELETE":
                f["deleted"] = True
                self.send(200, {})
                return
            f["gets"] += 1
            if f["state"] == "PROCESSING":
                f["polls_left"] -= 1
                if f["polls_left"] < 0:
                    f["state"] = "FAILED" if STATE.cfg["fail_file"] else "ACTIVE"
            self.send(200, self.file_resource(name))

    def generate(self):
        if not self.key_ok():
            return
        cfg = STATE.cfg
        try:
            req = json.loads(self.read_body())
            parts = req["contents"][0]["parts"]
            prompt = "".join(p.get("text", "") for p in parts)
            fd = [p["file_data"] for p in parts if "file_data" in p][0]
        except (ValueError, KeyError, IndexError, TypeError):
            self.error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            return
        with STATE.lock:
            STATE.counters["generate"] += 1
            if STATE.counters["429"] < cfg["retry_429"]:
                STATE.counters["429"] += 1
                details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [{"quotaId": "GenerateRequestsPer%s-FreeTier" %
                                            ("Day" if cfg["daily_quota"] else "MinutePerProjectPerModel")}]}]
                if not cfg["daily_quota"]:
                    details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                    "retryDelay": cfg["retry_delay"]})
                self.error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", details)
                return
            if STATE.counters["503"] < cfg["fail_503"]:
                STATE.counters["503"] += 1
                self.error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
                return
        if cfg["redirect_generate"]:
            self.send(307, headers={"Location": "http://127.0.0.1:%d%s" % (REDIRECT.server_address[1], self.path)})
            return
        if cfg["echo_key_error"]:
            self.error(400, "INVALID_ARGUMENT", "API key %s is not allowed for this model" %
                       self.headers.get("x-goog-api-key"))
            return
        if cfg["bad_request"]:
            self.error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
            return
        uri = fd.get("file_uri") or fd.get("fileUri") or ""
        name = "files/" + uri.rsplit("/", 1)[-1]
        with STATE.lock:
            f = STATE.files.get(name)
            if not f or f["deleted"] or not uri.startswith(self.base() + "/v1beta/"):
                self.error(403, "PERMISSION_DENIED", "You do not have permission to access the File %s or it may "
                           "not exist." % name)
                return
            if f["state"] != "ACTIVE":
                self.error(400, "FAILED_PRECONDITION", "The File %s is not in an ACTIVE state and usage is not "
                           "allowed." % name)
                return
            path = f["path"]
        if cfg["accept_any"] or not path:
            text, secs = "[%d bytes]" % f["size"], 0.0
        else:
            with open(path, "rb") as fh:
                text, secs = describe_audio(fh.read())
        if cfg["max_tokens_over"] is not None and secs > cfg["max_tokens_over"]:
            self.send(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": text[:8]}]},
                                            "finishReason": "MAX_TOKENS", "index": 0}],
                            "usageMetadata": {"candidatesTokenCount": 8}}, secs=secs, file=name)
            return
        self.send(200, {"candidates": [{"content": {"role": "model", "parts": [
            {"text": "(thinking about %s)" % name, "thought": True}, {"text": text}]},
            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": int(secs * 32)}, "modelVersion": "mock"},
            secs=secs, file=name, prompt=prompt[:200], mime=fd.get("mime_type"))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name, addr):
        self.name = name
        super().__init__(addr, Handler)


def serve(srv):
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main():
    global ARGS, LOG, LOG_LOCK, STATE, REDIRECT, OTHER_HOST
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True)
    p.add_argument("--key", help="the API key every request must carry")
    p.add_argument("--dir", help="where uploads are stored (default: a temporary folder)")
    ARGS = p.parse_args()
    LOG = open(ARGS.log, "a")
    LOG_LOCK = threading.Lock()
    store = ARGS.dir or tempfile.mkdtemp(prefix="mock-gemini.")
    STATE = State(store)
    main_srv = Server("main", ("127.0.0.1", 0))
    REDIRECT = Server("redirect", ("127.0.0.1", 0))
    OTHER_HOST = Server("other-host", ("127.0.0.2", 0))
    for s in (REDIRECT, OTHER_HOST):
        serve(s)
    print(json.dumps({"port": main_srv.server_address[1], "redirect_port": REDIRECT.server_address[1],
                      "other_host": "127.0.0.2:%d" % OTHER_HOST.server_address[1]}), flush=True)
    try:
        main_srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
