"""Turn a request body into named in-memory files: raw body, multipart form, or zip archive.

Uploads are held in memory and never logged (a reader may still spool them to a private temporary
folder when its parser needs files, as WFDB's does). Zip archives are read defensively: entries with
absolute paths, ``..`` components, drive letters or symlinks are rejected (path traversal), and the
entry count and total uncompressed size are bounded (zip bombs).
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from starlette.datastructures import UploadFile
from starlette.requests import Request

from cardioclarity.serve.problems import ApiProblem
from cardioclarity.sniff import sniff

__all__ = ["Upload", "read_upload", "unzip_safely"]

_FORM_URLENCODED = "application/x-www-form-urlencoded"
# "key=value&key=value" and nothing else: a browser form, not a file sent with curl's default type.
_FORM_FIELDS = re.compile(rb"^[\w.%+\-]+=[^&\r\n]*(&[\w.%+\-]+=[^&\r\n]*)*$")


@dataclass
class Upload:
    """What a client sent: files by name and text form fields.

    Attributes
    ----------
    files : dict of str to bytes
        Uploaded files by base name (zip archives expanded); a raw body is named ``"upload"``
        unless the ``filename`` query parameter names it.
    fields : dict of str to str
        Text fields of a multipart form (e.g. ``fs``, ``lead``).
    """

    files: dict[str, bytes] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        """Size of all files together."""
        return sum(len(b) for b in self.files.values())


def _bad_entry(name: str, why: str) -> ApiProblem:
    return ApiProblem(422, f"The zip archive holds an entry with an unsafe name ({why}).",
                      hint="zip the record files themselves, with plain relative names such as "
                      "'100.hea' and '100.dat'.", kind="unsafe-archive")


def unzip_safely(data: bytes, *, max_entries: int, max_total_bytes: int) -> dict[str, bytes]:
    """Read a zip archive into ``{base name: bytes}``, rejecting unsafe or oversized archives.

    Parameters
    ----------
    data : bytes
        The archive.
    max_entries : int
        Most files accepted.
    max_total_bytes : int
        Most uncompressed bytes accepted, summed over entries (checked while decompressing, so a
        zip bomb with forged header sizes is stopped too).

    Raises
    ------
    ApiProblem
        422 for a corrupt archive, an unsafe entry name (absolute, ``..``, drive letter, symlink)
        or two entries with the same base name; 413 when it expands beyond the limits.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ApiProblem(422, f"The zip archive could not be read ({type(exc).__name__}).",
                         hint="send an intact .zip archive.", kind="corrupt-archive") from None
    files = [i for i in infos if not i.is_dir()]
    if len(files) > max_entries:
        raise ApiProblem(413, f"The zip archive holds {len(files)} files; at most {max_entries} "
                         "are accepted.", hint="send one record per request.", kind="archive-too-large")
    out: dict[str, bytes] = {}
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise _bad_entry(name, "absolute path")
        if ".." in parts:
            raise _bad_entry(name, "'..' path component")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _bad_entry(name, "symbolic link")
        if info.is_dir():
            continue
        base = parts[-1] if parts else ""
        if not base or base.startswith("._") or parts[0] == "__MACOSX":
            continue  # macOS resource forks: noise, not record files
        if base in out:
            raise ApiProblem(422, f"The zip archive holds two files named '{base}'.",
                             hint="send one record per archive.", kind="ambiguous-archive")
        chunks = []
        try:
            with zf.open(info) as fh:
                while chunk := fh.read(1 << 20):
                    total += len(chunk)
                    if total > max_total_bytes:
                        raise ApiProblem(413, "The zip archive expands beyond the upload size limit "
                                         f"({max_total_bytes // (1 << 20)} MB).",
                                         hint="send a smaller record.", kind="archive-too-large")
                    chunks.append(chunk)
        except ApiProblem:
            raise
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, ValueError) as exc:
            # RuntimeError: encrypted entry; NotImplementedError: unsupported compression.
            raise ApiProblem(422, f"A file in the zip archive could not be extracted "
                             f"({type(exc).__name__}).", hint="zip without encryption, with "
                             "deflate or no compression.", kind="corrupt-archive") from None
        out[base] = b"".join(chunks)
    return out


async def read_upload(request: Request, *, max_entries: int, max_total_bytes: int,
                      filename: str | None = None) -> Upload:
    """Read the request body as an :class:`Upload` (multipart form, zip or raw body).

    The body size is already bounded by the size-limit middleware. ``filename`` names a raw
    body (the route's ``filename`` query parameter; default ``"upload"``).

    Raises
    ------
    ApiProblem
        400 for an empty body or a malformed multipart form, 415 for an URL-encoded form of
        fields. A file sent with the URL-encoded type (``curl --data-binary`` sends it by
        default) is read as a raw body.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    upload = Upload()
    if ctype == _FORM_URLENCODED and _FORM_FIELDS.match((await request.body())[:65536].strip()):
        raise ApiProblem(415, "URL-encoded form bodies are not accepted.",
                         hint="send the file as multipart/form-data, or the file itself as the "
                         "body (any Content-Type; the content is sniffed).")
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=max_entries, max_fields=max_entries)
        except Exception as exc:  # python-multipart / Starlette raise several types
            raise ApiProblem(400, "The multipart/form-data body could not be parsed "
                             f"({getattr(exc, 'detail', None) or type(exc).__name__}).",
                             hint="let your HTTP client build the form (e.g. curl -F "
                             "file=@100.hea -F file=@100.dat).", kind="malformed-form") from None
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    name = PurePosixPath((value.filename or key).replace("\\", "/")).name or key
                    if name in upload.files:
                        raise ApiProblem(422, f"Two uploaded files are named '{name}'.",
                                         hint="send each file once.", kind="duplicate-file")
                    upload.files[name] = data
                else:
                    upload.fields[key] = str(value)
        finally:
            await form.close()
    else:
        body = await request.body()
        name = PurePosixPath((filename or "upload").replace("\\", "/")).name
        upload.files[name or "upload"] = body
    # Expand zip archives in place.
    for name in [n for n, b in upload.files.items() if sniff(b[:8]) == "zip"]:
        inner = unzip_safely(upload.files.pop(name), max_entries=max_entries,
                             max_total_bytes=max_total_bytes)
        clash = sorted(set(inner) & set(upload.files))
        if clash:
            raise ApiProblem(422, f"Files {clash} were sent both inside and outside the zip archive.",
                             hint="send each file once.", kind="duplicate-file")
        upload.files.update(inner)
    upload.files = {n: b for n, b in upload.files.items() if b}
    if not upload.files:
        raise ApiProblem(400, "The request carries no file content (empty body).",
                         hint="send the file as the body or as multipart/form-data.",
                         kind="empty-body")
    return upload
