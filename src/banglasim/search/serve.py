"""`banglasim serve`: a long-running HTTP JSON API over the export and its index, loaded once.

    POST /search  {"question": "...", "top_k": 5, "mode": "hybrid"}   (mode: hybrid | dense | bm25; default: the
                  index's)  -> {"question": ..., "mode": ..., "hits": [{passage_id, title, text, score, rank,
                  dense_score, lexical_score}, ...]} (and a "note" when hybrid ranked by the dense model alone)
    GET  /health  -> {"status": "ok", "passages": N, ...}

Bad requests (not JSON, no or empty or over-long question, top_k not an integer from 1 to 100) get a 400
with {"error": "..."}. The standard library's ThreadingHTTPServer serves it: the work per request is one
ONNX run of a few milliseconds, so a framework would add dependencies and start-up time without adding
speed; requests are answered one model run at a time (onnxruntime already uses every core for each run).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from banglasim.core.errors import UserError
from banglasim.data.formats import normalize
from banglasim.retrieval.fusion import MODES
from banglasim.search.engine import MAX_QUESTION_CHARS, MAX_TOP_K, Searcher
from banglasim.search.query import check_question, checked_mode, open_searcher

MAX_BODY_BYTES = 64 * 1024
DEFAULT_TOP_K = 5


class BadRequest(Exception):
    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


def parse_request(body: bytes, modes: tuple[str, ...] = MODES) -> tuple[str, int, str | None]:
    """(question, top_k, mode or None for the default) of a /search body, or BadRequest saying what is wrong."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest('the body must be a JSON object: {"question": "...", "top_k": 5}')
    question = data.get("question")
    if not isinstance(question, str):
        raise BadRequest('"question" must be a string')
    problem = check_question(question, MAX_QUESTION_CHARS)
    if problem:
        raise BadRequest(problem)
    top_k = data.get("top_k", DEFAULT_TOP_K)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise BadRequest(f'"top_k" must be an integer from 1 to {MAX_TOP_K}, not {json.dumps(top_k)}')
    mode = data.get("mode")
    if mode is not None and mode not in modes:
        raise BadRequest(f'"mode" must be one of {", ".join(modes)}, not {json.dumps(mode)}')
    return question, top_k, mode


def make_handler(searcher: Searcher, health: dict, quiet: bool = False) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "banglasim"
        protocol_version = "HTTP/1.1"

        def send_json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # the http.server naming
            if self.path.split("?")[0] == "/health":
                self.send_json(HTTPStatus.OK, health)
            else:
                self.send_json(
                    HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path} (GET /health, POST /search)"}
                )

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/search":
                self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path} (POST /search)"})
                return
            try:
                question, top_k, mode = parse_request(self.read_body(), searcher.modes())
            except BadRequest as exc:
                self.close_connection = True
                self.send_json(exc.status, {"error": str(exc)})
                return
            with lock:
                (answer,) = searcher.answers([normalize(question)], top_k, mode)
            if "error" in answer:
                self.send_json(HTTPStatus.BAD_REQUEST, {"question": question, **answer})
                return
            self.send_json(HTTPStatus.OK, {"question": question, **answer})

        def read_body(self) -> bytes:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise BadRequest("a Content-Length header is needed", HTTPStatus.LENGTH_REQUIRED)
            if int(length) > MAX_BODY_BYTES:
                raise BadRequest(f"the body is over {MAX_BODY_BYTES} bytes", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return self.rfile.read(int(length))

        def log_message(self, format: str, *args) -> None:  # the http.server signature
            if not quiet:
                super().log_message(format, *args)

    return Handler


def make_server(searcher: Searcher, host: str, port: int, health: dict, quiet: bool = False) -> ThreadingHTTPServer:
    try:
        server = ThreadingHTTPServer((host, port), make_handler(searcher, health, quiet))
    except OSError as exc:
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            fix="pass another --port (or --host), or stop what is using it",
        ) from None
    server.daemon_threads = True
    return server


def run_cli(args: argparse.Namespace) -> int:
    searcher, origin = open_searcher(args.model, args.index, args.corpus, args.cache_dir)
    searcher.mode = checked_mode(searcher, args.mode) or searcher.mode
    health = {
        "status": "ok",
        "passages": len(searcher),
        "model": searcher.encoder.name,
        "model_key": searcher.encoder.key,
        "approximate": searcher.ann is not None,
        "mode": searcher.mode,
        "modes": list(searcher.modes()),
    }
    server = make_server(searcher, args.host, args.port, health, quiet=args.quiet)
    host, port = server.server_address[:2]
    print(f"{origin}\nserving on http://{host}:{port} (POST /search, GET /health); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
