"""A sweep on a Dask cluster (two worker processes on loopback) equals the local sweep."""

from __future__ import annotations

import pandas as pd
import pytest

import optiscope as osc

distributed = pytest.importorskip("dask.distributed")


def test_dask_sweep_equals_local_sweep(monkeypatch) -> None:
    import sys

    sweep_module = sys.modules["optiscope.sweep"]
    monkeypatch.setattr(sweep_module, "FUSED_CHUNK_ROWS", 8)  # several chunks for two workers
    monkeypatch.setattr(sweep_module, "NUMPY_CHUNK_ROWS", 8)
    monkeypatch.setattr(sweep_module, "NUMPY_MIN_WORK", 1)
    spec = "momentum:lr=0.01..0.3@log6,momentum=0..0.9@4"
    local = osc.sweep("aniso", spec, steps=40, noise=0.1)
    assert local.attrs["chunks"] == 3
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        remote = osc.sweep("aniso", spec, steps=40, noise=0.1, scheduler=cluster.scheduler_address)
    for key in ("seconds",):
        local.attrs.pop(key), remote.attrs.pop(key)
    pd.testing.assert_frame_equal(local, remote)
    assert local.attrs == remote.attrs
