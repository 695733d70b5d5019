"""The in-process engine, and the engine-neutral core: only the Dask adapter imports Dask."""

from __future__ import annotations

import ast

import pytest
from conftest import REPO

from cardioclarity.batch.core import BatchSpec
from cardioclarity.batch.engines import make_engine
from cardioclarity.batch.sources import list_items
from cardioclarity.errors import InvalidInputError

from ..conftest import write_films

BATCH = REPO / "src" / "cardioclarity" / "batch"


def test_rows_in_input_order_and_a_vanished_file_is_an_error_row(tmp_path):
    write_films(tmp_path / "in", 3)
    items = list_items(str(tmp_path / "in"), "xray")
    (tmp_path / "in" / "f002.png").unlink()  # listed, then deleted before its turn
    with make_engine("local") as eng:
        rows = list(eng.map(BatchSpec("xray", model="box"), items))
    assert [r["file"] for r in rows] == [i.name for i in items]
    gone = rows[0]
    assert gone["file"] == "f002.png" and not gone["ok"] and gone["exit_code"] == 66
    assert all(r["ok"] for r in rows[1:])


def test_unknown_engine():
    with pytest.raises(InvalidInputError, match="valid options: local, dask"):
        make_engine("ray")


@pytest.mark.parametrize("path", sorted(p for p in BATCH.rglob("*.py") if p.name != "dask.py"),
                         ids=lambda p: str(p.relative_to(BATCH)))
def test_only_the_dask_adapter_imports_dask(path):
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in names if m.split(".")[0] in ("dask", "distributed")}, path
