"""Exception hierarchy shared by the whole package.

Every error a user can cause derives from :class:`CardioClarityError`. Messages follow one rule:
say what was expected, what came, and how to fix it. The CLI turns these into one-line messages
with conventional exit codes (sysexits.h); the REST backend turns them into problem+json responses
(``http_status``; the problem ``type`` ends in ``kind``)::

    CardioClarityError                     exit 65, HTTP 422
    ├── InputFileNotFoundError             exit 66, HTTP 400   (also a FileNotFoundError)
    ├── InvalidInputError                  exit 65, HTTP 422   (also a ValueError)
    │   └── UnsupportedFormatError         exit 65, HTTP 415
    ├── CheckpointError                    exit 65, HTTP 500
    ├── NotFittedError                     exit 70, HTTP 500   (also an AttributeError)
    └── serve.problems.ApiProblem          HTTP status of its own (401, 413, 503 ...)

Anything else that escapes is a bug: exit 70 (``EX_SOFTWARE``) or HTTP 500, one line, no
traceback.
"""

from __future__ import annotations

# Exit codes from sysexits.h, so shell scripts can tell bad input from a crash.
EX_DATAERR = 65  # input data was incorrect in some way
EX_NOINPUT = 66  # an input file did not exist or was not readable
EX_SOFTWARE = 70  # internal software error
EX_PARTIAL = 1  # batch mode: some inputs failed, the rest were processed


def one_line(exc: BaseException, limit: int = 200, *, mark_lines: bool = True) -> str:
    """An exception's text as one line, cut at a word boundary with " ..." past ``limit``
    characters: third-party messages quoted in ours stay readable. With ``mark_lines`` the
    original lines end in ";" (so a list of decoder failures stays a list)."""
    lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
    text = " ".join(f"{s};" if mark_lines and i < len(lines) - 1 and not s.endswith(":") else s
                    for i, s in enumerate(lines))
    if not text:
        return f"{type(exc).__name__} without a message"
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
    return text


def exception_summary(exc: BaseException, limit: int = 200, *, mark_lines: bool = True) -> str:
    """``"TypeName: its one-line text"`` (see :func:`one_line`), for messages that quote an
    unforeseen exception."""
    return f"{type(exc).__name__}: {one_line(exc, limit, mark_lines=mark_lines)}"


class CardioClarityError(Exception):
    """Base class for errors caused by the user's input or configuration.

    Parameters
    ----------
    message : str
        What was expected and what came.
    hint : str, optional
        How to fix it.
    kind : str, optional
        Machine-readable problem kind (the last part of the HTTP problem ``type`` URI, e.g.
        ``"missing-data-file"``); by default derived from the class name.
    """

    exit_code: int = EX_DATAERR
    http_status: int = 422

    def __init__(self, message: str, hint: str | None = None, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return f"{self.message} Hint: {self.hint}" if self.hint else self.message


class InputFileNotFoundError(CardioClarityError, FileNotFoundError):
    """An input path does not exist or cannot be read."""

    exit_code = EX_NOINPUT
    http_status = 400


class InvalidInputError(CardioClarityError, ValueError):
    """Input data is malformed: wrong format, shape, values (NaN/inf), sampling rate..."""

    exit_code = EX_DATAERR
    http_status = 422


class MissingDataFileError(InvalidInputError, InputFileNotFoundError):
    """A WFDB header came without the signal files it names (an upload of a ``.hea`` alone).

    Invalid input (HTTP 422, problem kind ``missing-data-file``) that is also a missing input
    file, so code catching either finds it.
    """

    exit_code = EX_DATAERR
    http_status = 422

    def __init__(self, message: str, hint: str | None = None, *,
                 kind: str | None = "missing-data-file") -> None:
        super().__init__(message, hint, kind=kind)


class UnsupportedFormatError(InvalidInputError):
    """The input is not in a format the toolkit reads (e.g. a PNG given as an ECG)."""

    http_status = 415


class CheckpointError(CardioClarityError):
    """A checkpoint is corrupt, of another model type, or incompatible with the input."""

    exit_code = EX_DATAERR
    http_status = 500


class NotFittedError(CardioClarityError, AttributeError):
    """A detector was used before ``fit`` was called (scikit-learn's contract)."""

    exit_code = EX_SOFTWARE
    http_status = 500
