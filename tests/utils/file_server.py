"""A local HTTP server for download tests: 127.0.0.1 only, started and stopped by the test.

It serves in-memory files, honours ``Range`` requests (unless told not to),
can cut a transfer short after half of the bytes, and records every request.
"""
import http.server
import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple


class FileServer:
    """Files by URL path; ``url(name)`` gives their address.

    Attributes:
        files: ``{'/name.pth': bytes}``.
        requests: ``(path, Range header or None)`` of each GET, in order.
        cut_short: ``{'/name.pth': n}``: the next ``n`` GETs of that path send
            only half of the bytes and close the connection.
        ranges: whether ``Range`` requests are answered with 206.
        pause: seconds to wait after each 64 KiB sent (a slow server).
    """

    def __init__(self, files: Optional[Dict[str, bytes]] = None) -> None:
        self.files: Dict[str, bytes] = dict(files or {})
        self.requests: List[Tuple[str, Optional[str]]] = []
        self.cut_short: Dict[str, int] = {}
        self.ranges = True
        self.pause = 0.0
        self.port = 0

    def url(self, name: str) -> str:
        return f'http://127.0.0.1:{self.port}/{name.lstrip("/")}'

    def gets(self, name: str) -> List[Optional[str]]:
        """The Range headers of the GETs of ``name``."""
        return [rng for path, rng in self.requests if path == '/' + name.lstrip('/')]

    def handler(self) -> type:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 5

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:
                rng = self.headers.get('Range')
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404, 'Not Found')
                    return
                start = int(rng[len('bytes='):].split('-')[0]) if rng and server.ranges else 0
                if start >= len(data) and start:
                    self.send_response(416)
                    self.send_header('Content-Range', f'bytes */{len(data)}')
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header('Content-Range',
                                     f'bytes {start}-{len(data) - 1}/{len(data)}')
                body = data[start:]
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if server.cut_short.get(self.path, 0) > 0:
                    server.cut_short[self.path] -= 1
                    body = body[:len(body) // 2]
                    self.close_connection = True
                for at in range(0, len(body), 1 << 16):
                    self.wfile.write(body[at:at + (1 << 16)])
                    time.sleep(server.pause)

        return Handler


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that went away (killed on purpose) is not an error here."""


@contextmanager
def serving(files: Optional[Dict[str, bytes]] = None) -> Iterator[FileServer]:
    """Run a :class:`FileServer` on a free port of 127.0.0.1 for the ``with`` block."""
    files_server = FileServer(files)
    httpd = _QuietServer(('127.0.0.1', 0), files_server.handler())
    httpd.daemon_threads = True
    files_server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs=dict(poll_interval=0.05),
                              daemon=True)
    thread.start()
    try:
        yield files_server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
