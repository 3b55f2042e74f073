"""Tests of the command line ``python -m sklearn_implicit demo``."""

import os
import subprocess
import sys

import pytest

from sklearn_implicit import __main__ as cli


def test_help_lists_options():
    out = subprocess.run(
        [sys.executable, "-m", "sklearn_implicit", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("--task", "--output", "--seed", "--quick", "reciprocal", "navier-stokes"):
        assert option in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_unknown_task_is_rejected():
    with pytest.raises(SystemExit):
        cli.main(["demo", "--task", "nope"])


def test_missing_domain_module_gives_clear_error(monkeypatch):
    monkeypatch.setitem(cli.TASKS, "lp", "sklearn_implicit.no_such_pkg._demo")
    with pytest.raises(SystemExit, match="not available"):
        cli.main(["demo", "--task", "lp", "--quick"])


def test_domain_task_dispatch(monkeypatch):
    import types

    calls = {}
    fake = types.ModuleType("fake_demo")

    def run(*, quick=True, seed=0, output=None):
        calls.update(quick=quick, seed=seed, output=output)
        return {}

    fake.run = run
    monkeypatch.setitem(sys.modules, "fake_demo", fake)
    monkeypatch.setitem(cli.TASKS, "looped", "fake_demo")
    assert cli.main(["demo", "--task", "looped", "--quick", "--seed", "3"]) == 0
    assert calls == {"quick": True, "seed": 3, "output": None}


def test_quick_reciprocal_demo(tmp_path, capsys):
    out = tmp_path / "demo.png"
    res = cli.run_reciprocal(quick=True, seed=0, output=str(out), progress=False)
    text = capsys.readouterr().out
    assert out.exists() and out.stat().st_size > 1000
    assert res["n_iter"] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert res["n_params_implicit"] == res["n_params_explicit"]
    for t in res["n_iter"]:
        assert f"\n{t:>5} |" in text
    # Error falls and L_t rises with the budget.
    assert res["implicit_rmse"][-1] < 0.5 * res["implicit_rmse"][0]
    assert res["lipschitz"][-1] > 10 * res["lipschitz"][0]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a demo starts."""

    def run_task(*args, **kwargs):
        raise AssertionError("a demo ran although the command line was invalid")

    monkeypatch.setattr(cli, "_run_task", run_task)


def _usage_error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("seed", ["-1", "5000000000", "1.5", "x"])
def test_bad_seed_is_a_usage_error(capsys, no_training, seed):
    line = _usage_error(capsys, ["demo", "--quick", "--seed", seed])
    assert "--seed" in line


def test_bad_seed_from_the_shell_exits_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "sklearn_implicit", "demo", "--quick", "--seed", "-1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--seed" in proc.stderr


@pytest.mark.parametrize("task", ["reciprocal", "lp"])
def test_output_in_missing_folder_is_refused_before_training(tmp_path, capsys, no_training, task):
    out = tmp_path / "no" / "such" / "demo.png"
    line = _usage_error(capsys, ["demo", "--task", task, "--output", str(out)])
    assert "--output" in line and "does not exist" in line


def test_output_that_is_a_directory_is_refused(tmp_path, capsys, no_training):
    line = _usage_error(capsys, ["demo", "--output", str(tmp_path)])
    assert "is a directory" in line


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere"
)
def test_output_in_read_only_folder_is_refused(tmp_path, capsys, no_training):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = _usage_error(capsys, ["demo", "--output", str(folder / "demo.png")])
    finally:
        folder.chmod(0o700)
    assert "not writable" in line


def test_valid_output_and_seed_reach_the_demo(tmp_path, monkeypatch):
    calls = {}
    monkeypatch.setattr(cli, "_run_task", lambda task, **kw: calls.update(task=task, **kw))
    out = tmp_path / "fig.png"
    assert cli.main(["demo", "--seed", str(2**32 - 1), "--output", str(out)]) == 0
    assert calls == {"task": "reciprocal", "quick": False, "seed": 2**32 - 1, "output": str(out)}
