#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A mock of an OpenAI-compatible POST /v1/audio/transcriptions server, for the transcribe tests
(standard library only, loopback only).

Listens on 127.0.0.1, port 0, and prints {"port":N} on standard output once it listens. Every
request is appended to --log as one JSON line: method, path, headers (lower-case names), status,
body_len, and for transcriptions the form fields, the file part's name, type, size and SHA-256.

The multipart/form-data body is parsed here (not with a library), so a malformed body is seen:
a request without a file part gets whisper.cpp's 400 {"error":"no 'file' field in the request"},
one without a model OpenAI's 400. The "transcript" describes the audio (mock-gemini.py's
describe_audio): for the tests' counter WAVs, the range of sample frames a chunk holds.
response_format: json -> {"text"}, verbose_json -> {"task","language","duration","text",
"segments"}, text -> the text with a leading newline (as LocalAI sends it).

POST /_control with a JSON object picks the behaviour of the next requests (counters reset):
  max_bytes (26214400)   bodies larger than this get 413
  fail_429 (0)           the first N requests get 429 with Retry-After: 1
  fail_500 (0)           the first N requests get 500
  error (null)           every request gets 400 in this shape: "openai", "whisper" (error as a
                         string), "detail" (speaches/FastAPI) or "text" (plain text)
  segments_only (false)  verbose_json answers carry segments but no "text"
With --key, requests must carry "Authorization: Bearer KEY" (else 401, OpenAI's shape).
"""

import argparse
import hashlib
import importlib.util
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_spec = importlib.util.spec_from_file_location(
    "mock_gemini", os.path.join(os.path.dirname(os.path.abspath(__file__)), "mock-gemini.py"))
_gemini = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gemini)
describe_audio = _gemini.describe_audio

DEFAULTS = {"max_bytes": 25 * 1024 * 1024, "fail_429": 0, "fail_500": 0, "error": None, "segments_only": False}


def parse_multipart(ctype, body):
    """Fields of a multipart/form-data body: {name: (value bytes, filename, content type)}."""
    params = dict(p.strip().split("=", 1) for p in ctype.split(";")[1:] if "=" in p)
    boundary = params.get("boundary", "").strip('"').encode()
    if not ctype.startswith("multipart/form-data") or not boundary:
        raise ValueError("not multipart/form-data")
    fields = {}
    parts = body.split(b"--" + boundary)
    if parts[-1].strip() not in (b"--", b"--\r\n") and not parts[-1].startswith(b"--"):
        raise ValueError("no closing boundary")
    for part in parts[1:-1]:
        if not part.startswith(b"\r\n") or not part.endswith(b"\r\n"):
            raise ValueError("bad part framing")
        head, sep, value = part[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a part without headers")
        headers = {}
        for line in head.decode().split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        disp = dict(p.strip().split("=", 1) for p in headers.get("content-disposition", "").split(";")[1:] if "=" in p)
        name = disp.get("name", "").strip('"')
        fields[name] = (value, disp.get("filename", "").strip('"') or None, headers.get("content-type"))
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-openai/1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype="application/json", headers=None, quiet=False, **extra):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        body = body.encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if quiet:
            return
        rec = {"method": self.command, "path": urlsplit(self.path).path,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "status": status}
        rec.update(extra)
        with LOCK:
            LOG.write(json.dumps(rec) + "\n")
            LOG.flush()

    def oai_error(self, status, message, typ="invalid_request_error", headers=None, **extra):
        self.send(status, {"error": {"message": message, "type": typ, "param": None, "code": None}},
                  headers=headers, **extra)

    def do_GET(self):
        self.send(404, {"error": {"message": "no such route"}})

    def do_POST(self):
        global CFG, COUNTERS
        n = int(self.headers.get("Content-Length") or 0)
        path = urlsplit(self.path).path
        if path == "/_control":
            cfg = json.loads(self.rfile.read(n) or b"{}")
            with LOCK:
                CFG = dict(DEFAULTS)
                CFG.update(cfg)
                COUNTERS = {"429": 0, "500": 0}
            self.send(200, {"ok": True}, quiet=True)
            return
        if path != "/v1/audio/transcriptions":
            self.rfile.read(n)
            self.oai_error(404, "Invalid URL (POST %s)" % path)
            return
        if ARGS.key and self.headers.get("Authorization") != "Bearer " + ARGS.key:
            self.rfile.read(n)
            self.oai_error(401, "Incorrect API key provided.", "invalid_api_key")
            return
        if n > CFG["max_bytes"]:
            # Read before answering: a server that answers early races with the client still
            # sending, and the test would see a reset instead of the 413 now and then.
            while n > 0:
                n -= len(self.rfile.read(min(n, 65536)) or b"x" * n)
            self.oai_error(413, "Maximum content size limit (%d) exceeded" % CFG["max_bytes"],
                           body_len=int(self.headers.get("Content-Length")))
            return
        body = self.rfile.read(n)
        fault = None
        with LOCK:
            for code, key in ((429, "fail_429"), (500, "fail_500")):
                if not fault and COUNTERS[str(code)] < CFG[key]:
                    COUNTERS[str(code)] += 1
                    fault = code
        if fault == 429:
            self.oai_error(429, "Rate limit reached for requests", "requests", headers={"Retry-After": "1"})
            return
        if fault == 500:
            self.oai_error(500, "The server had an error while processing your request.", "server_error")
            return
        try:
            fields = parse_multipart(self.headers.get("Content-Type", ""), body)
        except ValueError as e:
            self.oai_error(400, "could not parse multipart/form-data: %s" % e, body_len=n)
            return
        info = {k: v[0].decode(errors="replace") for k, v in fields.items() if k != "file"}
        if "file" in fields:
            data, fname, ftype = fields["file"]
            info.update(file_name=fname, file_type=ftype, file_size=len(data),
                        file_sha256=hashlib.sha256(data).hexdigest())
        err = CFG["error"]
        if err == "openai":
            self.oai_error(400, "Invalid file format. Supported formats: ['flac', 'mp3', 'wav']", fields=info)
            return
        if err == "whisper":
            self.send(400, {"error": "failed to read audio data"}, fields=info)
            return
        if err == "detail":
            self.send(404, {"detail": "Model '%s' is not installed locally." % info.get("model")}, fields=info)
            return
        if err == "text":
            self.send(502, "upstream connect error\nor disconnect/reset before headers", "text/plain", fields=info)
            return
        if "file" not in fields:
            self.send(400, {"error": "no 'file' field in the request"}, fields=info)
            return
        if not info.get("model"):
            self.oai_error(400, "you must provide a model parameter", fields=info)
            return
        text, secs = describe_audio(fields["file"][0])
        fmt = info.get("response_format", "json")
        if fmt == "text":
            self.send(200, "\n" + text + "\n", "text/plain; charset=utf-8", fields=info)
        elif fmt == "verbose_json":
            d = {"task": "transcribe", "language": info.get("language", "english"), "duration": secs,
                 "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": secs, "text": " " + text}]}
            if not CFG["segments_only"]:
                d["text"] = text
            self.send(200, d, fields=info)
        elif fmt == "json":
            self.send(200, {"text": text, "usage": {"type": "duration", "seconds": int(secs + 0.999)}}, fields=info)
        else:
            self.oai_error(400, "Currently only support response_format: text, json or verbose_json", fields=info)


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    global ARGS, LOG, LOCK, CFG, COUNTERS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True)
    p.add_argument("--key", help="the Bearer key every request must carry")
    ARGS = p.parse_args()
    LOG = open(ARGS.log, "a")
    LOCK = threading.Lock()
    CFG = dict(DEFAULTS)
    COUNTERS = {"429": 0, "500": 0}
    srv = Server(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": srv.server_address[1]}), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
