"""Bounded load on serve (issue 26): concurrent keep-alive clients and idle connections on loopback get the answers a
single client gets, within a time bound; idle connections are closed by the server; everything stops by itself.
The figures for a real export: benchmarks/serve_load.py, docs/search.md."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

from banglasim.search.serve import make_server

from search_helpers import QUESTIONS, make_workspace

CLIENTS, REQUESTS, IDLE = 8, 25, 16
TIMEOUT = 3.0  # the server's socket timeout here (30 s in `banglasim serve`)


def ask(conn: http.client.HTTPConnection, question: str, top_k: int) -> tuple[int, dict]:
    body = json.dumps({"question": question, "top_k": top_k}, ensure_ascii=False).encode()
    conn.request("POST", "/search", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def test_concurrent_clients_and_idle_connections_get_the_single_client_answers(tmp_path, tiny_export_dir):
    from banglasim.search.query import open_searcher

    root = make_workspace(tmp_path, tiny_export_dir)
    searcher, _ = open_searcher(root / "models/export", root / "models/index")
    server = make_server(searcher, "127.0.0.1", 0, {"status": "ok"}, quiet=True)
    server.RequestHandlerClass.timeout = TIMEOUT  # the socket timeout, short for the test
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    host, port = server.server_address[:2]
    asks = [(q, k) for q in QUESTIONS for k in (1, 3, 4)]
    try:
        single = http.client.HTTPConnection(host, port, timeout=30)
        reference = {a: ask(single, *a) for a in asks}
        single.close()
        assert all(status == 200 for status, _ in reference.values())

        start = time.monotonic()
        idle = [socket.create_connection((host, port), timeout=30) for _ in range(IDLE)]
        results: dict[int, list] = {}

        def client(n: int) -> None:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            results[n] = [(a, ask(conn, *a)) for a in (asks[(n + i) % len(asks)] for i in range(REQUESTS))]
            conn.close()

        clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=120)
        took = time.monotonic() - start
        assert not any(t.is_alive() for t in clients) and len(results) == CLIENTS
        answers = [pair for n in range(CLIENTS) for pair in results[n]]
        assert len(answers) == CLIENTS * REQUESTS
        assert all(answer == reference[a] for a, answer in answers)
        assert took < 60, f"{CLIENTS} x {REQUESTS} requests took {took:.1f} s"
        for sock in idle:  # the server closed them after its timeout, with nothing said
            assert sock.recv(16) == b""
            sock.close()
        assert time.monotonic() - start < took + TIMEOUT + 10
    finally:
        server.shutdown()
        server.server_close()
        serving.join(timeout=10)
    assert not serving.is_alive()
