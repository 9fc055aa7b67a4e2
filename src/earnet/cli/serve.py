"""``earnet serve``: the web page and HTTP API on this machine."""

from __future__ import annotations

import argparse
import socket
import sys

from earnet.cli.common import EXAMPLES_FORMATTER
from earnet.defaults import DEFAULT_MODEL
from earnet.exceptions import EarnetError

EXAMPLES = """examples:
  earnet serve                              # http://127.0.0.1:8000/ (this machine only)
  earnet serve --port 0                     # any free port (printed)
  earnet serve --model all --workers 2
  curl -F image=@photo.jpg http://127.0.0.1:8000/api/segment

Open the printed address, drop photographs on the page, download the maps. The API:
POST /api/segment (multipart 'image', optional 'model', 'tta', 'threshold', 'include'),
GET /api/models, GET /healthz; errors are JSON with a fitting status (400, 413, 415,
503 with Retry-After when all workers and the queue are busy, 504 after --timeout).
Uploads are processed in memory; nothing is written to disk. To expose the server
beyond this machine, put it behind a reverse proxy with authentication (README)."""

INSTALL_HINT = "earnet serve needs the web extras: pip install 'earnet[serve]'"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet serve``."""
    parser = subparsers.add_parser("serve", help="web page and HTTP API for segmenting photographs",
                                   description="Serve a web page and an HTTP API that segment photographs.",
                                   epilog=EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"default model: bundled name or bundle path (default: {DEFAULT_MODEL})")
    parser.add_argument("--workers", type=int, default=1, help="photographs segmented at once (default: 1)")
    parser.add_argument("--queue", type=int, default=8, help="requests that may wait for a worker (default: 8)")
    parser.add_argument("--max-upload-mb", type=float, default=32, help="largest upload in MiB (default: 32)")
    parser.add_argument("--max-megapixels", type=float, default=40,
                        help="largest decoded photograph in megapixels (default: 40)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a request gets 504 (default: 120)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.set_defaults(func=run)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise EarnetError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    """Load the default model, bind, print the address, serve until interrupted."""
    try:
        import starlette  # noqa: F401
        import uvicorn
        try:  # python-multipart (Starlette's form parser): module renamed in 0.0.13
            import python_multipart  # noqa: F401
        except ImportError:
            import multipart  # noqa: F401
    except ImportError:
        raise EarnetError(INSTALL_HINT) from None
    from earnet.serve import ServeConfig, create_app

    config = ServeConfig(model=args.model, device=args.device, workers=args.workers, queue=args.queue,
                         max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                         max_pixels=int(args.max_megapixels * 1e6), timeout_s=args.timeout)
    sock = _bind(args.host, args.port)
    _share_threads(args.workers)
    app = create_app(config)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"earnet serve: open http://{shown}:{port}/  (model {app.state.service.models.default}, "
          f"{args.workers} worker(s); Ctrl+C to stop)", flush=True)
    if host not in ("127.0.0.1", "::1", "localhost"):
        print("earnet serve: warning: reachable from other machines, without authentication; "
              "see the README on putting it behind a reverse proxy", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])
    return 0


def _share_threads(workers: int) -> None:
    """Split the CPU threads among workers: oversubscribed threads slow everything down."""
    import torch

    if workers > 1:
        torch.set_num_threads(max(1, torch.get_num_threads() // workers))
