"""`banglasim serve`: a long-running HTTP JSON API over the export and its index, loaded once.

    POST /search  {"question": "...", "top_k": 5, "mode": "hybrid", "rerank": true}   (mode: hybrid | dense | bm25;
                  default: the index's; rerank: default the re-ranker export's, reranker.default) -> {"question":
                  ..., "mode": ..., "rerank": ..., "hits": [{passage_id, title, text, score, rank, dense_score,
                  lexical_score, rerank_score}, ...]} (and a "note" when hybrid ranked by the dense model alone)
    GET  /health  -> {"status": "ok", "passages": N, ...}

Every answer is JSON, errors {"error": "..."}: bad requests (not JSON, no, empty, invalid or over-long
question, top_k not an integer from 1 to 100, a wrong Content-Length) a 400, other paths a 404, other methods
a 405 with Allow. A body is always read (or the connection closed), so keep-alive stays in step; a connection
idle or half-sent for SOCKET_TIMEOUT seconds is closed. The standard library's ThreadingHTTPServer serves it:
the work per request is one ONNX run of a few milliseconds, so a framework would add dependencies and start-up
time without adding speed; requests are answered one model run at a time (onnxruntime already uses every core
for each run).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from banglasim.core.errors import UserError
from banglasim.data.formats import normalize
from banglasim.retrieval.fusion import MODES
from banglasim.search.engine import MAX_QUESTION_CHARS, MAX_TOP_K, Searcher
from banglasim.search.query import checked_mode, checked_rerank, open_searcher
from banglasim.search.questions import check_question

MAX_BODY_BYTES = 64 * 1024
DEFAULT_TOP_K = 5
SOCKET_TIMEOUT = 30.0  # seconds a connection may stay idle or half-sent before it is closed
ROUTES = {"/search": ("POST",), "/health": ("GET", "HEAD")}


class BadRequest(Exception):
    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


def parse_request(
    body: bytes, modes: tuple[str, ...] = MODES, can_rerank: bool = False
) -> tuple[str, int, str | None, bool | None]:
    """(question, top_k, mode and rerank or None for the defaults) of a /search body, or BadRequest saying what is
    wrong (`can_rerank`: whether the server has a re-ranker for "rerank": true)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the body is not JSON this server reads: nested too deeply") from None
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
        raise BadRequest(f'"top_k" must be an integer from 1 to {MAX_TOP_K}, not {json.dumps(top_k)[:40]}')
    mode = data.get("mode")
    if mode is not None and mode not in modes:
        raise BadRequest(f'"mode" must be one of {", ".join(modes)}, not {json.dumps(mode)[:40]}')
    rerank = data.get("rerank")
    if rerank is not None and not isinstance(rerank, bool):
        raise BadRequest(f'"rerank" must be true or false, not {json.dumps(rerank)[:40]}')
    if rerank and not can_rerank:
        raise BadRequest('"rerank": this server has no re-ranker (start it with --reranker FOLDER)')
    return question, top_k, mode, rerank


def content_length(values: list[str] | None, required: bool) -> int:
    """The request's body length from its Content-Length headers: exactly one, ASCII digits only, at most
    MAX_BODY_BYTES; none means no body unless one is required. BadRequest otherwise."""
    if not values:
        if required:
            raise BadRequest("a Content-Length header is needed", HTTPStatus.LENGTH_REQUIRED)
        return 0
    if len(values) > 1:
        raise BadRequest(f"{len(values)} Content-Length headers: send one")
    value = values[0].strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise BadRequest(f"Content-Length must be a number of bytes, not {json.dumps(value)[:40]}")
    if int(value) > MAX_BODY_BYTES:
        raise BadRequest(f"the body is over {MAX_BODY_BYTES} bytes", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    return int(value)


def make_handler(
    searcher: Searcher, health: dict, quiet: bool = False, timeout: float = SOCKET_TIMEOUT
) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "banglasim"
        protocol_version = "HTTP/1.1"

        def send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):  # the client left: nothing to tell it
                self.close_connection = True

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own errors (a bad request line, an unknown method) as JSON, like every other answer."""
            self.close_connection = True
            self.log_error("code %d, message %s", code, message)
            self.send_json(code, {"error": message or HTTPStatus(code).phrase})

        def handle_any(self) -> None:
            """Every method: read (or refuse) the body first, so that keep-alive stays in step, then route."""
            path = self.path.split("?")[0]
            allowed = ROUTES.get(path)
            try:
                length = content_length(self.headers.get_all("Content-Length"), self.command == "POST")
                if "Transfer-Encoding" in self.headers:
                    raise BadRequest("send the body with a Content-Length, not chunked", HTTPStatus.LENGTH_REQUIRED)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    raise BadRequest("the body ended before its Content-Length")
            except BadRequest as exc:
                self.close_connection = True
                self.send_json(exc.status, {"error": str(exc)})
                return
            if allowed is None:
                self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no such path: {path} (GET /health, POST /search)"})
            elif self.command not in allowed:
                self.send_json(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    {"error": f"{self.command} {path} is not served; use {' or '.join(allowed[:1])} {path}"},
                    {"Allow": ", ".join(allowed)},
                )
            elif path == "/health":
                self.send_json(HTTPStatus.OK, health)
            else:
                self.answer(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = handle_any

        def answer(self, body: bytes) -> None:
            try:
                question, top_k, mode, rerank = parse_request(body, searcher.modes(), searcher.reranker is not None)
            except BadRequest as exc:
                self.send_json(exc.status, {"error": str(exc)})
                return
            try:
                with lock:
                    (answer,) = searcher.answers([normalize(question)], top_k, mode, rerank)
            except UserError as exc:  # a damaged index or model noticed only now
                self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": exc.message})
                return
            except Exception as exc:  # noqa: BLE001 - an answer, not an empty reply; the traceback goes to the log
                traceback.print_exc()
                self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"[:300]})
                return
            status = HTTPStatus.BAD_REQUEST if "error" in answer else HTTPStatus.OK  # BM25 alone cannot rank it
            self.send_json(status, {"question": question, **answer})

        def log_message(self, format: str, *args) -> None:  # the http.server signature
            if not quiet:
                super().log_message(format, *args)

    Handler.timeout = timeout  # StreamRequestHandler: idle or half-sent connections are dropped after it
    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that left (reset, closed pipe, timed out) is normal: no traceback for it."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def make_server(
    searcher: Searcher, host: str, port: int, health: dict, quiet: bool = False, timeout: float = SOCKET_TIMEOUT
) -> ThreadingHTTPServer:
    try:
        server = Server((host, port), make_handler(searcher, health, quiet, timeout))
    except OSError as exc:
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            fix="pass another --port (or --host), or stop what is using it",
        ) from None
    return server


def check_port(port: int) -> None:
    """--port must be 0 (any free port) to 65535: said before the model loads."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port} is not a port", fix="pass a number from 1 to 65535, or 0 for any free port")


def run_cli(args: argparse.Namespace) -> int:
    check_port(args.port)
    searcher, origin = open_searcher(args.model, args.index, args.corpus, args.cache_dir, args.reranker)
    searcher.mode = checked_mode(searcher, args.mode) or searcher.mode
    rerank = checked_rerank(searcher, args.rerank)
    searcher.rerank_default = searcher.rerank_default if rerank is None else rerank
    health = {
        "status": "ok",
        "passages": len(searcher),
        "model": searcher.encoder.name,
        "model_key": searcher.encoder.key,
        "approximate": searcher.ann is not None,
        "mode": searcher.mode,
        "modes": list(searcher.modes()),
        "rerank": searcher.rerank_default,
        "reranker_key": getattr(searcher.reranker, "key", None),
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
