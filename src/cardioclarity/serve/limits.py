"""Back-pressure: a request-size limit (413) and an inference gate (503 + Retry-After, timeout).

Both protect the one resource that matters on a CPU server: a 200 MB upload must not be buffered,
and 50 simultaneous X-rays must not all start a convolutional network at once and time out
together. Requests beyond capacity are turned away early, with ``Retry-After``, so clients and load
balancers can back off.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cardioclarity import DISCLAIMER
from cardioclarity.serve.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, ApiProblem

__all__ = ["BodyLimitMiddleware", "InferenceGate"]

T = TypeVar("T")


class BodyLimitMiddleware:
    """ASGI middleware answering 413 to bodies larger than ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before reading anything; a chunked body
    (no ``Content-Length``) is counted while it arrives and refused as soon as it passes the limit,
    so memory never holds more than ``max_bytes``. Accepted bodies are buffered and replayed to the
    app, so the routes see the request unchanged.

    Parameters
    ----------
    app : ASGI app
    max_bytes : int
        Largest accepted body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, scope: Scope, send: Send, declared: int | None) -> None:
        mb = self.max_bytes / (1 << 20)
        came = f"{declared / (1 << 20):.1f} MB were declared" if declared is not None \
            else "the chunked body passed it"
        body = json.dumps({
            "type": PROBLEM_BASE + "payload-too-large", "title": "Payload Too Large", "status": 413,
            "detail": f"The request body exceeds the {mb:g} MB limit ({came}).",
            "hint": "send a smaller file (one record or image per request), or raise "
                    "CARDIOCLARITY_MAX_UPLOAD_MB on the server.",
            "instance": scope.get("path", ""), "disclaimer": DISCLAIMER,
        }).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            # The unread rest of the body makes the connection unusable for another request.
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = None
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away; nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, send, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as servers do

        await self.app(scope, replay, send)


class InferenceGate:
    """Runs CPU-bound inference on worker threads with a concurrency limit, a queue and a timeout.

    At most ``max_concurrency`` jobs run at once (on a dedicated thread pool, so the event loop keeps
    answering health checks and rejections); up to ``max_queue`` more wait for a slot. Beyond that,
    :meth:`run` raises a 503 :class:`ApiProblem` with ``Retry-After`` at once. A job that does not
    finish within ``timeout_s`` (waiting included) gets a 503 too; its thread runs to completion in
    the background and keeps its slot until then (a thread cannot be killed), so a timeout never lets
    more work run than the limit allows.

    Parameters
    ----------
    max_concurrency : int
        Jobs running at once.
    max_queue : int
        Jobs allowed to wait.
    timeout_s : float
        Longest wait for a result, queueing included.
    retry_after_s : int
        Value of the ``Retry-After`` header on 503 answers.
    """

    def __init__(self, max_concurrency: int, max_queue: int, timeout_s: float,
                 retry_after_s: int = 1) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.max_queue = max(0, max_queue)
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self._executor: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.admitted = 0  # running + waiting
        self.rejected = 0
        self.timed_out = 0

    @property
    def capacity(self) -> int:
        """Jobs admitted at most (running + waiting)."""
        return self.max_concurrency + self.max_queue

    def _busy(self) -> ApiProblem:
        self.rejected += 1
        return ApiProblem(503, f"The server is at capacity ({self.max_concurrency} analyses running, "
                          f"{self.max_queue} waiting).",
                          hint=f"retry after {self.retry_after_s} s (Retry-After header).",
                          kind="server-busy", headers={"Retry-After": str(self.retry_after_s)})

    def _timeout(self) -> ApiProblem:
        self.timed_out += 1
        return ApiProblem(503, f"The analysis did not finish within {self.timeout_s:g} s.",
                          hint="retry later, when the server is less loaded, or send a smaller "
                          "input; operators can raise CARDIOCLARITY_REQUEST_TIMEOUT_S.",
                          kind="timeout", headers={"Retry-After": str(max(1, self.retry_after_s))})

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a worker thread under the limits; return its result.

        Raises
        ------
        ApiProblem
            503 when saturated (``Retry-After``) or when the timeout passes.
        """
        loop = asyncio.get_running_loop()
        if self._executor is None or self._loop is not loop:
            self._start(loop)
        slots, executor = self._slots, self._executor
        if self.admitted >= self.capacity:
            raise self._busy()
        self.admitted += 1
        deadline = loop.time() + self.timeout_s
        try:
            await asyncio.wait_for(slots.acquire(), self.timeout_s)
        except TimeoutError:
            self.admitted -= 1
            raise self._timeout() from None
        except BaseException:  # cancelled while waiting (client went away)
            self.admitted -= 1
            raise
        try:
            future = loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
        except BaseException:
            slots.release()
            self.admitted -= 1
            raise

        def _finished(f: asyncio.Future) -> None:
            slots.release()
            self.admitted -= 1
            if not f.cancelled():
                f.exception()  # mark retrieved: an abandoned job's error must not warn at exit

        future.add_done_callback(_finished)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise self._timeout() from None

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Threads and slots for the event loop now serving.

        Created on first use, not in ``__init__``: the semaphore must belong to the serving loop,
        and an application whose lifespan runs again (a test client opened twice, a server
        restarted in process) gets fresh workers instead of a pool that was shut down.
        """
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.max_concurrency,
                                                thread_name_prefix="cardioclarity-infer")
        if self._loop is not loop:
            self._slots = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop

    def shutdown(self) -> None:
        """Stop the worker threads (running jobs finish first); the next :meth:`run` restarts them."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
