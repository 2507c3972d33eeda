"""A tracking server's time per request on a kept-alive connection, the way the launcher's MLflow client sends them, against fresh connections.

``python -m sweep.bench keepalive --tracking-uri http://127.0.0.1:5000 [--requests 20]``

The driver sends every record over one kept-alive connection, one request at a time, so a server's
latency per request caps how many trials a second a sweep can log. uvicorn started with
``--workers N`` (N > 1; ``mlflow server --workers 2``) leaves Nagle's algorithm on for the
connections it accepts (uvicorn issue #3149: its pre-bound socket has ``proto`` 0, and asyncio
sets ``TCP_NODELAY`` only for ``IPPROTO_TCP``). Every response after a connection's first then
waits on the client's delayed ACK, about 40 ms on Linux: measured here, 46 ms per request with
``--workers 2`` against 6 ms with ``--workers 1``, the same SQLite store. The compose stack's server
runs one worker for that reason. This benchmark tells whether a server of your own has the stall:
the same light request on fresh connections and on one kept-alive connection.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

#: Kept-alive requests slower than fresh connections by this much (ms) have the delayed-ACK stall.
STALL_MS = 30.0


def request_times(uri: str, requests: int) -> dict[str, list[float]]:
    """Milliseconds of ``requests`` reads of the server's ``/health`` (no login needed) on a new
    connection each, and as many on one kept-alive session, the way MLflow's client sends them."""
    import requests as http

    url = uri.rstrip("/") + "/health"

    def timed(get: Any) -> float:
        start = time.perf_counter()
        get(url, timeout=30).raise_for_status()
        return 1000 * (time.perf_counter() - start)

    n = max(2, requests)
    fresh = [timed(lambda u, **kw: http.get(u, headers={"Connection": "close"}, **kw)) for _ in range(n)]
    with http.Session() as session:
        timed(session.get)  # opens the connection
        kept = [timed(session.get) for _ in range(n)]
    return {"fresh": fresh, "kept_alive": kept}


def verdict(times: dict[str, list[float]]) -> dict[str, Any]:
    """The median request on a fresh connection against one on a kept-alive connection."""
    fresh, kept = statistics.median(times["fresh"]), statistics.median(times["kept_alive"])
    return {"fresh_connection_median_ms": round(fresh, 1), "kept_alive_median_ms": round(kept, 1),
            "delayed_ack_stall": kept - fresh >= STALL_MS}


def bench_keepalive(args: argparse.Namespace) -> int:
    """Time the server and report; a URI that is not http(s) or a server that does not answer is one
    line and exit 2."""
    import requests as http

    uri = args.tracking_uri
    if not uri.startswith(("http://", "https://")):
        print(f"bench: --tracking-uri {uri!r} is not a server address. Fix: give http://host:port")
        return 2
    try:
        times = request_times(uri, args.requests)
    except http.RequestException as exc:
        print(f"bench: cannot reach the tracking server at {uri} ({type(exc).__name__}). "
              "Fix: start it, or give the right --tracking-uri")
        return 2
    report = {"tracking_uri": uri, "requests": args.requests, **verdict(times)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "keepalive.json").write_text(json.dumps(report, indent=1))
    for key, value in report.items():
        print(f"{key:>27}: {value}")
    if report["delayed_ack_stall"]:
        print("bench: each kept-alive request waits about 40 ms: if the server is uvicorn with --workers > 1 "
              "(mlflow server --workers N), run it with --workers 1")
    return 0


def add_parser(sub: Any) -> None:
    """The ``keepalive`` subcommand."""
    p = sub.add_parser("keepalive", help="a tracking server's time per request on a kept-alive connection")
    p.add_argument("--tracking-uri", required=True, help="the MLflow server (http://...)")
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--out", default="bench-results/keepalive")
    p.set_defaults(run=bench_keepalive)
