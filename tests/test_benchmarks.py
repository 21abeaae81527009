"""The speed benchmark runs end to end (tiny grid) and every competitor does the same work.

Speed targets live in the benchmark, not here: this only checks that the script runs, that
each entry's final point for the check setting equals optiscope's reference engine (the
"check" column: ``ok`` within 1e-9, ``BAD`` otherwise), and that a missing library (JAX,
optax) gives a "not installed" row rather than a crash.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_sweep.py"
METRICS_BENCH = BENCH.parent / "bench_fused_metrics.py"


def test_quick_benchmark_runs_and_every_entry_computes_the_same_path():
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--cases", "momentum-aniso,adam-rosenbrock"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "Traceback" not in proc.stderr
    assert " BAD " not in out, out
    assert out.count(" ok ") >= 2 * 2  # at least two checked entries per case
    for entry in (
        "optiscope.sweep (+metrics)",
        "hand-fused Numba kernel",
        "note's classes",
        "sweep's loop, no metrics",
        "sweep's loop + metrics",
    ):
        assert entry in out


def test_metric_pass_timings_run():
    proc = subprocess.run(
        [sys.executable, str(METRICS_BENCH), "--side", "4", "--steps", "30", "--repeat", "1"]
        + ["--passes"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "metrics.columns (NumPy)" in proc.stdout
    assert proc.stdout.count("  pass ") == 7, proc.stdout
