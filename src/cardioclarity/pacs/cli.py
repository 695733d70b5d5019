"""``cardioclarity pacs pull | watch``: chest films from a DICOMweb PACS, results back to it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cardioclarity import DISCLAIMER
from cardioclarity.errors import EX_PARTIAL, CardioClarityError, InvalidInputError

_AUTH_HELP = ("Authentication from the environment: CARDIOCLARITY_PACS_TOKEN (bearer) or "
              "CARDIOCLARITY_PACS_USER + CARDIOCLARITY_PACS_PASSWORD (basic); TLS certificates "
              "are verified (CARDIOCLARITY_PACS_CA_BUNDLE names a CA file). ")


def _filters(items: list[str] | None) -> dict[str, str]:
    """``["ModalitiesInStudy=CR", "StudyDate=20260101-"]`` → QIDO-RS filters."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--query {item!r} is not KEY=VALUE.",
                                    hint="e.g. --query ModalitiesInStudy=CR (a DICOM keyword).")
        out[key.strip()] = value.strip()
    return out


def _setup(args: argparse.Namespace):
    from cardioclarity.pacs.client import PacsClient, PacsConfig

    client = PacsClient(PacsConfig.from_env(args.url, timeout=args.timeout))
    if args.threads < 0:
        raise InvalidInputError(f"--threads must be 0 or more, got {args.threads}.",
                                hint="1 (the default) suits shared machines.")
    return client, _LazyDetector(args.model, args.threads)


class _LazyDetector:
    """The heart detector, loaded on the first film: a watch poll with nothing new, or a PACS
    that refuses the login, costs no model load."""

    def __init__(self, model: str | None, threads: int) -> None:
        self.model, self.threads, self._det = model, threads, None

    def detect(self, image):
        if self._det is None:
            from cardioclarity.xray.detect import HeartDetector

            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            self._det = HeartDetector.load(self.model)
        return self._det.detect(image)


def _save_local(outcome, out: Path | None) -> None:
    """``OUT/<study>/<sop>.json`` and the DICOM objects, each written whole (temp + rename)."""
    if out is None:
        return
    folder = out / outcome.study_uid
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"{f['sop_instance_uid']}.json": json.dumps(f["result"], indent=2).encode()
             for f in outcome.films if "result" in f}
    files.update(outcome.objects)
    for name, data in files.items():
        tmp = folder / f".{name}.part"
        tmp.write_bytes(data)
        tmp.replace(folder / name)


def _cmd_pull(args: argparse.Namespace) -> int:
    from cardioclarity.pacs.study import process_study

    if not args.study and not args.query:
        args._pull_parser.error("give --study UID or --query KEY=VALUE (e.g. --query "
                                "ModalitiesInStudy=CR)")  # a usage error: exit 2
    client, detector = _setup(args)
    uids = list(args.study or [])
    if args.query:
        uids += [str(r["StudyInstanceUID"]) for r in client.search_studies(_filters(args.query))
                 if r.get("StudyInstanceUID") and str(r["StudyInstanceUID"]) not in uids]
        if not uids:
            raise InvalidInputError(f"no study in {args.url} matches {_filters(args.query)}.",
                                    hint="widen the query (QIDO-RS matching).", kind="no-study")
    out = Path(args.out) if args.out else None
    failures = []
    for uid in uids:
        try:
            outcome = process_study(client, uid, detector, store=not args.no_store,
                                    log=lambda m: print(m, file=sys.stderr))
        except CardioClarityError as exc:
            print(f"cardioclarity: error: {exc}", file=sys.stderr)
            failures.append(exc)
            continue
        _save_local(outcome, out)
        print(outcome.summary() + " " + json.dumps({k: round(v, 3) for k, v in outcome.timings.items()}))
    print(f"{len(uids) - len(failures)}/{len(uids)} study(ies) processed. {DISCLAIMER}")
    if failures:
        return failures[0].exit_code if len(uids) == 1 else EX_PARTIAL
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    from cardioclarity.pacs.watch import Checkpoint, watch

    checkpoint = Checkpoint(args.checkpoint)
    client, detector = _setup(args)
    out = Path(args.out) if args.out else None
    n = watch(client, detector, checkpoint, filters=_filters(args.query), interval=args.interval,
              max_polls=args.max_polls, max_attempts=args.max_attempts,
              on_study=lambda o: _save_local(o, out), log=lambda m: print(m, file=sys.stderr))
    print(f"{n} new study(ies) processed; checkpoint {checkpoint.path}. {DISCLAIMER}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="DICOMweb root, e.g. https://pacs/dicom-web "
                   "(default: $CARDIOCLARITY_PACS_URL)")
    p.add_argument("--query", action="append", metavar="KEY=VALUE",
                   help="QIDO-RS study filter, repeatable (e.g. ModalitiesInStudy=CR)")
    p.add_argument("--out", help="also keep a local copy: OUT/<study>/<sop>.json and the DICOM objects")
    p.add_argument("--model", default=None, help="bundled name or checkpoint path (default: cxr-heart-seg)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch threads (default: %(default)s; 0 = torch's default)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``pacs`` command group."""
    p = sub.add_parser("pacs", help="chest films from a DICOMweb PACS, DICOM results back to it",
                       description="QIDO-RS search, WADO-RS retrieve, analysis, STOW-RS of the "
                       "TID 1500 SR, SEG and Secondary Capture into the source study. "
                       + _AUTH_HELP + DISCLAIMER)
    p.set_defaults(_parser=p)
    s = p.add_subparsers(dest="pacs_command", metavar="COMMAND")
    pull = s.add_parser("pull", help="analyse given studies and store the results back",
                        description="Exit 0 when every study was processed; 69 PACS unavailable "
                        "or refused, 77 login refused, 1 when some of several failed. " + _AUTH_HELP)
    pull.add_argument("--study", action="append", metavar="UID", help="Study Instance UID, repeatable")
    pull.add_argument("--no-store", action="store_true", help="analyse only; store nothing in the PACS")
    _common(pull)
    pull.set_defaults(func=_cmd_pull, _pull_parser=pull)
    w = s.add_parser("watch", help="poll for new studies, process each once (restart-safe)",
                     description="Polls QIDO-RS every --interval seconds; a study is recorded in "
                     "--checkpoint once its results are stored, so a restarted watch skips it. "
                     "A failing study is retried on later polls up to --max-attempts times; a "
                     "failing poll is logged and the loop goes on. " + _AUTH_HELP)
    w.add_argument("--checkpoint", required=True, help="JSON file of the studies handled")
    w.add_argument("--interval", type=float, default=30.0, help="seconds between polls (default: %(default)s)")
    w.add_argument("--max-polls", type=int, default=None, help="stop after N polls (default: run until Ctrl-C)")
    w.add_argument("--max-attempts", type=int, default=3,
                   help="tries per failing study (default: %(default)s)")
    _common(w)
    w.set_defaults(func=_cmd_watch)
