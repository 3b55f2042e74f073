"""Run the CUDA tests and every benchmark on the GPU; collect one JSON line each.

Called by ``make gpu-check`` (``.ci/gpu-check``) once the environment holds a
CUDA build of torch. Steps, each recorded as one line of
``benchmarks/results/gpu-check.jsonl``:

1. ``pytest tests -k cuda``: the device-parametrised tests of
   ``tests/test_devices.py`` with ``device="cuda"`` (every estimator, both
   architectures, and a CUDA-fitted model loaded without CUDA) and the other
   CUDA tests of the suite; the line holds pytest's summary and counts.
2. ``benchmarks/performance.py --device cuda --quick``.
3. The quick configurations of ``lp_table.py``, ``deblurring.py``,
   ``navier_stokes.py`` and ``looped_transformer.py`` with ``--device cuda``.

Each line is ``{"check": name, "returncode": rc, "seconds": s, "result": {...}}``
where ``result`` is the benchmark's own last JSON line, keys unchanged (null
when it printed none). The first line describes the device. Exits non-zero if
any step failed; every step runs regardless.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def _run(cmd, log_dir, name, timeout):
    t0 = time.perf_counter()
    print(f"gpu-check: {name}: {' '.join(cmd)}", flush=True)
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        out, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or "") + (exc.stderr or "")
        out = out.decode() if isinstance(out, bytes) else out
        rc = 124
    (log_dir / f"{name}.log").write_text(out)
    seconds = round(time.perf_counter() - t0, 1)
    print(f"gpu-check: {name}: exit {rc} in {seconds} s", flush=True)
    return out, rc, seconds


def _pytest_counts(summary):
    pattern = r"(\d+) (passed|failed|skipped|deselected|xfailed|xpassed|errors?)"
    return {word.rstrip("s"): int(number) for number, word in re.findall(pattern, summary)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="benchmarks/results/gpu-check.jsonl")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per step")
    parser.add_argument("--skip-benchmarks", action="store_true", help="run the CUDA tests only")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("gpu-check: this Python's torch sees no CUDA device; nothing to check.")
        return 0
    output = ROOT / args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="gpu-check-", dir=output.parent))
    py = sys.executable
    lines = [
        {
            "check": "device",
            "device": torch.cuda.get_device_name(0),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "logs": str(log_dir.relative_to(ROOT)),
        }
    ]
    failed = []

    out, rc, s = _run(
        [py, "-m", "pytest", "tests", "-k", "cuda", "-q", "-rs", "-p", "no:cacheprovider"],
        log_dir,
        "tests-cuda",
        args.timeout,
    )
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    counts = _pytest_counts(summary)
    lines.append(
        {
            "check": "tests-cuda",
            "returncode": rc,
            "seconds": s,
            "result": {"summary": summary.strip("= "), **counts},
        }
    )
    if rc != 0 or not counts.get("passed"):
        failed.append("tests-cuda")

    if not args.skip_benchmarks:
        figures = log_dir  # PNGs of the domain benchmarks, beside the logs
        benches = [
            ("performance", ["benchmarks/performance.py", "--quick"]),
            ("lp_table", ["benchmarks/lp_table.py", "--quick"]),
            (
                "deblurring",
                [
                    "benchmarks/deblurring.py",
                    "--quick",
                    "--output",
                    str(figures / "deblurring.png"),
                ],
            ),
            (
                "navier_stokes",
                [
                    "benchmarks/navier_stokes.py",
                    "--quick",
                    "--output",
                    str(figures / "navier_stokes.png"),
                ],
            ),
            ("looped_transformer", ["benchmarks/looped_transformer.py", "--quick"]),
        ]
        for name, cmd in benches:
            out, rc, s = _run([py, *cmd, "--device", args.device], log_dir, name, args.timeout)
            result = _last_json(out)
            lines.append({"check": name, "returncode": rc, "seconds": s, "result": result})
            if rc != 0 or result is None:
                failed.append(name)

    with open(output, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    status = f"failed: {', '.join(failed)}" if failed else "all passed"
    print(
        f"gpu-check: {status}; results in {output.relative_to(ROOT)}, logs in {log_dir.relative_to(ROOT)}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
