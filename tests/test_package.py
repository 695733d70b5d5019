"""The top-level front door and the layering rules of docs/ARCHITECTURE.md, checked on the source.

``cardioclarity`` and ``cardioclarity.serve`` re-export their main names lazily; no module imports a
CLI module but the CLI that registers it, nothing in the package imports training code, and the
server imports no CLI.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

SRC = REPO / "src" / "cardioclarity"


@pytest.mark.parametrize("package", ["cardioclarity", "cardioclarity.serve", "cardioclarity.ecg",
                                     "cardioclarity.ecg.beats", "cardioclarity.ecg.records",
                                     "cardioclarity.xray", "cardioclarity.hospital",
                                     "cardioclarity.pacs", "cardioclarity.batch"])
def test_every_public_name_resolves_and_is_listed(package):
    mod = importlib.import_module(package)
    assert mod.__all__ and len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
        assert name in dir(mod), name
    with pytest.raises(AttributeError):
        mod.no_such_name  # noqa: B018


def test_top_level_names_are_the_pipelines_own():
    import cardioclarity as cc
    from cardioclarity.ecg.records.analyze import analyze_record
    from cardioclarity.xray.detect import HeartDetector

    assert cc.analyze_record is analyze_record and cc.HeartDetector is HeartDetector
    assert "Research use only" in cc.DISCLAIMER


def test_importing_the_front_doors_is_cheap():
    code = ("import sys, cardioclarity, cardioclarity.serve, cardioclarity.ecg, cardioclarity.xray, "
            "cardioclarity.hospital, cardioclarity.pacs, cardioclarity.batch, cardioclarity.batch.cli; "
            "print(sorted(m for m in ('torch', 'scipy', 'matplotlib', 'fastapi', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": ""}, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(("cardioclarity", *path.relative_to(SRC).parent.parts))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


MODULES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_layering(path):
    imported = _imports(path)
    clis = {m for m in imported if m.endswith(".cli") and m.startswith("cardioclarity")}
    if path.name not in ("cli.py", "__main__.py"):
        assert not clis, f"{path.name} imports a CLI module: {clis}"
    elif path.name == "cli.py":
        # A CLI registers the CLIs of its subpackages (cardioclarity.cli -> ecg.cli -> beats.cli).
        own = ".".join(("cardioclarity", *path.relative_to(SRC).parent.parts))
        assert all(m.rsplit(".", 1)[0].startswith(own + ".") for m in clis), \
            f"{path} imports CLIs outside its subpackages: {clis}"
    assert not {m for m in imported if m == "training" or m.startswith("training.")}, path
    if "serve" in path.parts:
        assert not {m for m in imported if m.startswith("cardioclarity.") and m.endswith(".cli")
                    and not m.startswith("cardioclarity.serve")}, path
    if "hospital" in path.parts:  # the DICOM writers know no PACS and no server
        assert not {m for m in imported if m.startswith(("cardioclarity.pacs", "cardioclarity.serve"))}, path
    if "beats" in path.parts:
        assert not {m for m in imported if m.startswith("cardioclarity.ecg.records")}, \
            f"{path} (beats) imports records: beats must not depend on records"


#: The ECG format readers: file formats only, no signal processing or analysis.
_READERS = ("dicom_waveform.py", "aecg.py", "philips.py", "xmlsafe.py")


@pytest.mark.parametrize("name", _READERS)
def test_format_readers_do_not_analyse(name):
    imported = _imports(SRC / "ecg" / "records" / name)
    analysis = {"processing", "analyze", "scoring", "rhythm", "multilead", "intervals",
                "twelve_lead", "report", "report_12lead"}
    assert not {m for m in imported if m.startswith("cardioclarity.ecg.records.")
                and m.split(".")[3] in analysis}, name
