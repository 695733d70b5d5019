"""`cardioclarity ecg train | evaluate | score` and the demo step, end to end through the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import run_cli

from cardioclarity.checkpoints import list_bundled
from cardioclarity.cli import main

from .beats_synth import synthetic_beats, write_tutorial_csv


def _main(capsys, *args: str):
    """Run the CLI in-process (much faster than a subprocess); returns (code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as e:  # --help exits
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, y = synthetic_beats(150, 40, length=64, seed=4)
    write_tutorial_csv(d / "train.csv", X, y)
    Xt, yt = synthetic_beats(30, 10, length=64, seed=5)
    write_tutorial_csv(d / "test.csv", Xt, yt)
    r = run_cli("ecg", "train", str(d / "train.csv"), "--model", "dense", "--epochs", "30",
                "--out", str(d / "m.pt"))
    assert r.returncode == 0, r.stderr
    assert "150 normal beats of 190" in r.stderr and "Saved" in r.stdout
    return d, yt


def test_score_writes_stable_csv_and_report(trained):
    d, yt = trained
    r = run_cli("ecg", "score", str(d / "test.csv"), "--model", str(d / "m.pt"), "--out",
                str(d / "s"))
    assert r.returncode == 0, r.stderr
    with open(d / "s" / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "score", "is_anomaly", "label"]
    assert [int(x["index"]) for x in rows] == list(range(40))
    assert [int(x["label"]) for x in rows] == yt.tolist()
    flagged = np.array([int(x["is_anomaly"]) for x in rows])
    assert flagged[yt == 1].mean() > flagged[yt == 0].mean()
    # The file is the writer's text, byte for byte (what the REST route returns for format=csv).
    from cardioclarity.ecg.beats.detector import load_detector, score_table
    from cardioclarity.ecg.beats.io import read_beats
    from cardioclarity.ecg.beats.report import scores_csv

    beats = read_beats(d / "test.csv")
    expected = scores_csv(score_table(load_detector(d / "m.pt"), beats.X), beats.y)
    assert (d / "s" / "scores.csv").read_bytes() == expected.encode()
    html = (d / "s" / "report.html").read_text()
    assert "Not a medical device" in html and "data:image/png;base64" in html
    assert (d / "s" / "reconstructions.png").stat().st_size > 1000


def test_evaluate_writes_metrics_json(trained, capsys):
    d, _ = trained
    code, out, err = _main(capsys, "ecg", "evaluate", str(d / "test.csv"), "--model",
                           str(d / "m.pt"), "--out", str(d / "e"))
    assert code == 0, err
    res = json.loads((d / "e" / "metrics.json").read_text())
    assert res["metrics"]["positive_class"] == "anomaly" and res["metrics"]["n"] == 40
    assert res["metrics"]["auroc"] > 0.9 and "Not a medical device" in res["disclaimer"]
    assert (d / "e" / "roc.png").exists()
    assert "AUROC" in out


def test_bad_inputs_exit_codes(trained, tmp_path, capsys):
    d, _ = trained
    model = ["--model", str(d / "m.pt"), "--out", str(tmp_path / "bad")]
    cases = [
        (["ecg", "score", str(tmp_path / "missing.csv"), *model], 66, "does not exist"),
        (["ecg", "score", str(d / "m.pt"), *model], 65, "binary"),
        (["ecg", "score", str(d / "empty.csv"), *model], 65, "empty"),
        (["ecg", "score", str(d / "short.csv"), *model], 65, "trained on 64-sample beats"),
        (["ecg", "score", str(d / "test.csv"), "--model", str(d / "corrupt.pt"), "--out",
          str(tmp_path / "bad")], 65,
         "could not be read"),
        (["ecg", "evaluate", str(d / "nolabels.csv"), *model], 65, "no labels"),
    ]
    (d / "empty.csv").write_text("")
    (d / "corrupt.pt").write_bytes(b"\x00garbage")
    X, _ = synthetic_beats(5, 0, length=50)
    np.savetxt(d / "short.csv", X, delimiter=",")
    np.savetxt(d / "nolabels.csv", synthetic_beats(5, 0, length=64)[0], delimiter=",")
    for args, expected, msg in cases:
        code, _, err = _main(capsys, *args)
        assert code == expected, (args, err)
        assert msg in err and "Traceback" not in err, err
    code, _, err = _main(capsys, "ecg", "score", str(d / "short.csv"), *model[:2], "--resample",
                         "--no-report", "--out", str(tmp_path / "rs"))
    assert code == 0 and (tmp_path / "rs" / "scores.csv").exists(), err


def test_help_explains_commands(capsys):
    code, out, _ = _main(capsys, "ecg", "score", "--help")
    assert code == 0 and "index,score,is_anomaly" in out
    _, out, _ = _main(capsys, "ecg", "train", "--help")
    assert "resconv" in out and "NORMAL beats" in out


@pytest.mark.skipif("ecg5000-ensemble" not in list_bundled(), reason="bundled weights not built")
def test_demo_step_runs_on_bundled_sample(tmp_path):
    from cardioclarity.ecg.beats.demo import run_demo

    res = run_demo(tmp_path)
    assert res["report"].exists() and res["scores_csv"].exists()
    # The bundled sample is 100 held-out ECG5000 test beats; the default model must separate them.
    assert res["metrics"]["auroc"] > 0.97 and res["metrics"]["n"] == 100
    assert "flagged" in res["summary"]


def test_score_requires_out_and_refuses_a_signal(tmp_path, capsys):
    from cardioclarity.cli import main

    sig = tmp_path / "signal.csv"
    sig.write_text("\n".join(str(np.sin(i / 9)) for i in range(21600)))
    with pytest.raises(SystemExit) as exc:
        main(["ecg", "score", str(sig)])
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err
    assert main(["ecg", "score", str(sig), "--out", str(tmp_path / "o")]) == 65
    err = capsys.readouterr().err
    assert "an ECG signal" in err and "ecg analyze FILE --fs HZ" in err
    assert "--resample" not in err and not (tmp_path / "o" / "scores.csv").exists()
