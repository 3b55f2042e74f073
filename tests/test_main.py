"""Tests of the command line ``python -m sklearn_implicit demo``."""

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
