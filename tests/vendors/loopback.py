"""Serve a fake vendor's request handler on 127.0.0.1 in a daemon thread (real HTTP, real sockets)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer:
    """`with Fake(state) as fake: fake.url`; a subclass names its `handler` class (which reads `self.state`)."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self, state: Any) -> None:
        self.state = state
        handler = type("Handler", (self.handler,), {"state": state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
