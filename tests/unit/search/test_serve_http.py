"""`banglasim serve` at the HTTP level (issue 26.1-26.4 and the minor points): every request gets a JSON answer,
keep-alive stays in step, strict Content-Length, idle connections time out, clients that leave log nothing."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from banglasim.cli import main
from banglasim.search.serve import make_server

from search_helpers import QUESTIONS, make_workspace

TIMEOUT = 2.0  # the server's socket timeout in these tests


@pytest.fixture(scope="module")
def searcher(tmp_path_factory, tiny_export_dir):
    from banglasim.search.query import open_searcher

    root = make_workspace(tmp_path_factory.mktemp("serve_http"), tiny_export_dir)
    return open_searcher(root / "models/export", root / "models/index")[0]


@pytest.fixture
def address(searcher):
    server = make_server(searcher, "127.0.0.1", 0, {"status": "ok"}, quiet=True)
    server.RequestHandlerClass.timeout = TIMEOUT  # the socket timeout, short for the test
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def raw(address, data: bytes, methods: list[str] | None = None) -> list[tuple[int, dict, bytes]]:
    """Send `data` (one or more requests) on one connection, then read every answer until the server closes it or
    stops answering: [(status, headers with lower-case names, body)]."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    answers, methods = [], list(methods or [])
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        headers = {k.lower(): v for k, v in headers.items()}
        size = 0 if (methods and methods.pop(0) == "HEAD") else int(headers.get("content-length", 0))
        answers.append((int(lines[0].split()[1]), headers, rest[:size]))
        received = rest[size:]
    return answers


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def search_body(question: str, top_k: int = 2) -> bytes:
    return json.dumps({"question": question, "top_k": top_k}, ensure_ascii=False).encode()


def test_a_question_that_is_not_valid_text_gets_a_400(address):
    """A lone surrogate got an empty reply (TypeError in the tokenizer)."""
    ((status, _, body),) = raw(address, post("/search", b'{"question": "\\ud800"}', "Connection: close\r\n"))
    assert status == 400 and "not valid text" in json.loads(body)["error"]


def test_deeply_nested_json_gets_a_400(address):
    """3,000 nested [ in an unknown field: RecursionError escaped parse_request, an empty reply."""
    body = b'{"question": "x", "other": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    ((status, _, answer),) = raw(address, post("/search", body, "Connection: close\r\n"))
    assert status == 400 and "nested too deeply" in json.loads(answer)["error"]


@pytest.mark.parametrize("value", ["\u00b2", "-1", "abc", "1 2", "+5"])
def test_a_content_length_that_is_not_ascii_digits_gets_a_400(address, value):
    """'²' (0xB2) passed str.isdigit() and then failed int(): an empty reply; '-1' and 'abc' got a 411."""
    request = f"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n".encode("latin-1")
    ((status, headers, body),) = raw(address, request + b'{"question": "x"}')
    assert status == 400 and "Content-Length must be a number" in json.loads(body)["error"]
    assert headers["connection"] == "close"


def test_two_content_length_headers_get_a_400(address):
    request = b'POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 17\r\n\r\n{"question": "x"}'
    ((status, _, body),) = raw(address, request)
    assert status == 400 and "2 Content-Length headers" in json.loads(body)["error"]


@pytest.mark.parametrize(
    "first",
    [
        post("/health", b'{"question":"x"}'),  # POST where only GET is served
        b'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{"question":"x"}',  # GET with a body
        post("/nowhere", b'{"question":"x"}'),  # 404 with a body
    ],
    ids=["405-with-body", "get-with-body", "404-with-body"],
)
def test_keep_alive_stays_in_step_after_a_request_with_an_unused_body(address, first):
    """The unread body was parsed as the start of the next request: the valid second one got a 400 or 501."""
    answers = raw(address, first + post("/search", search_body(QUESTIONS[0]), "Connection: close\r\n"))
    assert len(answers) == 2 and answers[1][0] == 200, answers
    assert [h["rank"] for h in json.loads(answers[1][2])["hits"]] == [1, 2]


def test_every_method_gets_json_and_a_405_says_what_is_allowed(address):
    """HEAD/OPTIONS/PUT/DELETE got a 501 HTML page; GET /search and POST /health were 404."""
    requests = [
        ("GET", "/search", "405", "POST"),
        ("POST", "/health", "405", "GET, HEAD"),
        ("PUT", "/search", "405", "POST"),
        ("DELETE", "/search", "405", "POST"),
        ("OPTIONS", "/search", "405", "POST"),
        ("PATCH", "/health", "405", "GET, HEAD"),
        ("BREW", "/search", "501", None),
        ("GET", "/nowhere", "404", None),
    ]
    for method, path, status, allow in requests:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ((code, headers, body),) = raw(address, head.encode())
        assert str(code) == status and headers["content-type"].startswith("application/json"), (method, path)
        assert json.loads(body)["error"] and headers.get("allow") == allow, (method, path, headers)
    answers = raw(address, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ["HEAD"])
    assert answers[0][0] == 200 and answers[0][2] == b"" and int(answers[0][1]["content-length"]) > 0


def test_idle_and_half_sent_connections_are_closed_after_the_timeout(address, searcher):
    """With no timeout, 200 idle or partial-body connections held 200 threads until their clients left."""
    default = make_server(searcher, "127.0.0.1", 0, {}, quiet=True)
    default.server_close()
    assert default.RequestHandlerClass.timeout is not None and 0 < default.RequestHandlerClass.timeout <= 60
    start = time.monotonic()
    idle = [socket.create_connection(address, timeout=10) for _ in range(10)]
    partial = [socket.create_connection(address, timeout=10) for _ in range(10)]
    for sock in partial:
        sock.sendall(b'POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"question')
    for sock in idle + partial:
        assert sock.recv(1024) == b""  # closed by the server, with nothing said
        sock.close()
    assert time.monotonic() - start < TIMEOUT + 5
    deadline = time.monotonic() + 5
    while any(t.name.startswith("Thread-") and "process_request" in t.name for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_client_that_leaves_while_uploading_gets_a_413_and_logs_no_traceback(address, capfd):
    """A 413 to a client still uploading logged a BrokenPipeError traceback."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        try:
            for _ in range(40):
                sock.sendall(b"x" * 256 * 1024)
        except (BrokenPipeError, ConnectionResetError):
            pass
    time.sleep(0.5)
    assert raw(address, post("/search", search_body(QUESTIONS[1]), "Connection: close\r\n"))[0][0] == 200
    assert "Traceback" not in capfd.readouterr().err


def test_a_failure_while_searching_is_a_500_with_json(address, searcher, monkeypatch):
    def broken(questions, k, mode=None, rerank=None):
        raise RuntimeError("onnxruntime failed")

    monkeypatch.setattr(searcher, "answers", broken)
    ((status, _, body),) = raw(address, post("/search", search_body(QUESTIONS[0]), "Connection: close\r\n"))
    assert status == 500 and "RuntimeError: onnxruntime failed" in json.loads(body)["error"]


def test_a_port_out_of_range_is_refused_before_the_model_loads(tmp_path, monkeypatch, capsys):
    """`--port 99999` gave an OverflowError traceback after the model loaded."""
    monkeypatch.chdir(tmp_path)  # no export here: loading it would fail first
    assert main(["serve", "--port", "99999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --port 99999 is not a port") and "Traceback" not in err
