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
