"""``cardioclarity serve``: run the REST backend and web page with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from cardioclarity import DISCLAIMER


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {port}")
    return port


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cardioclarity.serve.app import create_app
    from cardioclarity.serve.settings import Settings

    settings = Settings.from_env()
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # pydicom's warnings and log records can quote element values (PatientName ...) of malformed
    # files; a server must not write those to its logs.
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    app = create_app(settings)
    print(f"CardioClarity API on http://{args.host}:{args.port}/ (docs at /docs). {DISCLAIMER}",
          file=sys.stderr, flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
        print("cardioclarity: warning: listening beyond this machine without an API key; set "
              "CARDIOCLARITY_API_KEY.", file=sys.stderr)
    # uvicorn's own access log prints query strings and client addresses; ours prints neither.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False,
                timeout_graceful_shutdown=5)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` sub-command."""
    p = sub.add_parser(
        "serve", help="run the REST API and the web page",
        description="Serve the ECG and chest X-ray pipelines over HTTP (FastAPI + uvicorn) with a "
        "drag-and-drop web page at /. Settings come from CARDIOCLARITY_* environment variables: "
        "API_KEY, API_KEY_HEADER, CORS_ORIGINS (comma-separated), MAX_UPLOAD_MB, MAX_CONCURRENCY, "
        "MAX_QUEUE, REQUEST_TIMEOUT_S, TORCH_THREADS, MAX_ZIP_ENTRIES, PRELOAD, LOG_REQUESTS. "
        + DISCLAIMER)
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="TCP port (default: %(default)s)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info",
                                                           "debug"], help="(default: %(default)s)")
    p.set_defaults(func=_cmd_serve)
