"""Server settings: one typed dataclass, read from ``CARDIOCLARITY_*`` environment variables.

Every limit has a safe default so ``cardioclarity serve`` is usable as is on a laptop; a
deployment tightens or loosens them with environment variables (twelve-factor style), e.g.::

    CARDIOCLARITY_API_KEY=s3cret CARDIOCLARITY_MAX_UPLOAD_MB=32 cardioclarity serve
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from cardioclarity.errors import InvalidInputError

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "CARDIOCLARITY_"


def _parse_bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise InvalidInputError(f"{name}={raw!r} is not a boolean.", hint="use 1/0, true/false, yes/no.")


def _parse_number(name: str, raw: str, kind: type) -> int | float:
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidInputError(f"{name}={raw!r} is not a valid {kind.__name__}.",
                                hint=f"set {name} to a positive {kind.__name__}.") from None
    if value <= 0:
        raise InvalidInputError(f"{name}={raw!r} must be > 0.", hint=f"set {name} to a positive number.")
    return value


@dataclass(frozen=True)
class Settings:
    """Configuration of the REST backend.

    Each field ``x`` can be set by the environment variable ``CARDIOCLARITY_<X>`` (upper case),
    see :meth:`from_env`.

    Attributes
    ----------
    api_key : str or None
        When set, every ``/v1/*`` request must carry it in the ``api_key_header`` header
        (health checks, the web page and the docs stay open). ``None``: no authentication.
    api_key_header : str
        Header carrying the API key.
    cors_origins : tuple of str
        Origins allowed to call the API from a browser. Empty (the default): CORS closed, i.e. only
        pages served by this app itself can call it. ``("*",)`` opens it to every origin.
    max_upload_mb : float
        Largest request body accepted; larger ones get 413, also when sent chunked.
    max_concurrency : int
        Inference jobs running at once (each on a worker thread, off the event loop).
    max_queue : int
        Requests allowed to wait for a free inference slot; beyond that the server answers 503 with
        ``Retry-After`` instead of piling up work it cannot finish in time.
    request_timeout_s : float
        Longest time a request waits for its inference (queueing included) before a 503.
    torch_threads : int or None
        Threads PyTorch may use (``torch.set_num_threads``). ``None`` (default): the CPU count
        divided by ``max_concurrency``, so concurrent jobs do not oversubscribe the cores.
    max_zip_entries : int
        Most files accepted in one zip upload (zip-bomb guard).
    preload : bool
        Load every available model at start-up (``True``, the server default) rather than on
        first use; ``/readyz`` answers 200 only once they are loaded.
    log_requests : bool
        One log line per request (method, route, status, size, duration; never content,
        file names or patient identifiers).
    debug_memory : bool
        Trace Python allocations (:mod:`tracemalloc`) and serve ``GET /debug/memory`` (resident
        memory, the largest allocation sites) and ``POST /debug/memory/trim``. Off by default:
        tracing slows every request, and the page tells where code allocates.
    """

    api_key: str | None = None
    api_key_header: str = "X-API-Key"
    cors_origins: tuple[str, ...] = ()
    max_upload_mb: float = 64.0
    max_concurrency: int = 2
    max_queue: int = 32
    request_timeout_s: float = 60.0
    torch_threads: int | None = None
    max_zip_entries: int = 64
    preload: bool = True
    log_requests: bool = True
    debug_memory: bool = False

    @property
    def effective_torch_threads(self) -> int:
        """``torch_threads``, or the CPU count shared among the concurrent jobs."""
        if self.torch_threads:
            return self.torch_threads
        return max(1, (os.cpu_count() or 1) // self.max_concurrency)

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from ``CARDIOCLARITY_*`` variables, then ``overrides`` on top.

        Raises
        ------
        InvalidInputError
            A variable holds a value of the wrong type (named in the message).
        """
        env = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name not in env:
                continue
            raw = env[name]
            if f.name == "api_key":
                values[f.name] = raw or None
            elif f.name == "cors_origins":
                values[f.name] = tuple(o.strip() for o in raw.split(",") if o.strip())
            elif f.name in {"preload", "log_requests", "debug_memory"}:
                values[f.name] = _parse_bool(name, raw)
            elif f.name in {"max_upload_mb", "request_timeout_s"}:
                values[f.name] = float(_parse_number(name, raw, float))
            elif f.name == "api_key_header":
                values[f.name] = raw.strip() or cls.api_key_header
            else:
                values[f.name] = int(_parse_number(name, raw, int))
        values.update(overrides)
        return cls(**values)
