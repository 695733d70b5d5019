import subprocess
import sys

from conftest import run_cli

from cardioclarity.cli import main


def test_help_lists_command_groups(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "ecg", "xray", "serve", "models"):
        assert cmd in out
    assert "Not a medical device" in out


def test_no_command_is_usage_error():
    assert main([]) == 2


def test_module_entry_point_runs():
    r = run_cli("--version")
    assert r.returncode == 0 and "cardioclarity" in r.stdout


def test_building_the_parser_imports_no_heavy_library():
    # `cardioclarity --help` took 3.7 s when argparse choices pulled in torch, SciPy and Matplotlib;
    # every command paid it. The parser must stay buildable from the light modules alone.
    code = ("import sys; from cardioclarity.cli import build_parser; build_parser(); "
            "print(','.join(m for m in ('torch', 'scipy.stats', 'matplotlib.pyplot', 'monai', 'fastapi') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "", f"imported at parser build: {r.stdout.strip()}"


def _crash(args):
    raise TypeError("float() argument must be a string or a real number, not 'MultiValue'")


def test_an_unexpected_error_is_one_line_and_exit_70(monkeypatch, capsys):
    import cardioclarity.cli as cli

    monkeypatch.setattr(cli, "_cmd_models", _crash)
    assert main(["models"]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (TypeError" in err and "--debug" in err
    assert "Traceback" not in err
    assert main(["--debug", "models"]) == 70
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_models_table_has_a_header_and_real_fields(capsys):
    import json

    from cardioclarity.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["NAME", "KIND", "MODEL"]
    rhythm = next(ln for ln in out if ln.startswith("rhythm-cinc2017"))
    assert "logistic" in rhythm and "mlp" not in rhythm
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(r["metrics"] for r in rows), [r["name"] for r in rows if not r["metrics"]]
