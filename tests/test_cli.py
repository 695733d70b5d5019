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
