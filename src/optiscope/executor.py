"""Where a sweep's chunks run: here, in order, or on a dask.distributed cluster.

A chunk is a picklable task; ``evaluate(task)`` is a module-level function that computes its
result from the task alone, so any worker gives the same numbers as this process. Results
come back in chunk order whatever order they finished in, so a sweep on a cluster returns
the same table as a local one.

``scheduler``:

- None: every chunk runs here, one after another;
- ``"local"``: a ``LocalCluster`` on this machine (one single-threaded worker process per
  core), started for the sweep and closed after it;
- ``"tcp://HOST:PORT"`` (or any address ``dask.distributed.Client`` takes): an existing
  cluster's scheduler. Its workers need optiscope installed (the same version).

Ctrl-C (KeyboardInterrupt) stops the sweep: chunks not yet finished are cancelled and
:class:`ChunksInterrupted` carries the results that did finish (by chunk index).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from optiscope.errors import OptiscopeError

Progress = Callable[[int], None]  # called with a finished chunk's index


class ChunksInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; ``done`` maps the index of each finished chunk to its result."""

    def __init__(self, done: dict[int, Any]) -> None:
        super().__init__(f"interrupted after {len(done)} chunks")
        self.done = done


def run_chunks(
    evaluate: Callable[[Any], Any],
    tasks: Sequence[Any],
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> list[Any]:
    """``[evaluate(t) for t in tasks]``, here or on Dask (see the module notes).

    Raises :class:`ChunksInterrupted` on Ctrl-C with the finished results.
    """
    if scheduler is None:
        return _run_here(evaluate, tasks, progress)
    check_scheduler(scheduler)
    return _run_on_dask(evaluate, tasks, scheduler, progress)


def check_scheduler(scheduler: Any) -> str | None:
    """None, ``"local"`` or a scheduler address such as ``tcp://10.0.0.5:8786``."""
    if scheduler is None or scheduler == "local":
        return scheduler
    if (
        not isinstance(scheduler, str)
        or "://" not in scheduler
        or any(c.isspace() for c in scheduler)
    ):
        raise OptiscopeError(
            f"invalid scheduler: {scheduler!r} (valid: an address such as tcp://HOST:8786, "
            "or local for a cluster on this machine)"
        )
    return scheduler


def _run_here(evaluate, tasks, progress) -> list[Any]:
    done: dict[int, Any] = {}
    try:
        for i, task in enumerate(tasks):
            done[i] = evaluate(task)
            if progress is not None:
                progress(i)
    except KeyboardInterrupt:
        raise ChunksInterrupted(done) from None
    return [done[i] for i in range(len(tasks))]


def _run_on_dask(evaluate, tasks, scheduler: str, progress) -> list[Any]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise OptiscopeError(
            "a Dask scheduler needs dask.distributed: pip install 'optiscope[dask]'"
        ) from None
    cluster = None
    try:
        if scheduler == "local":
            cluster = LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            client = _connect(Client, scheduler)
        with client:
            return _gather_in_order(client, as_completed, evaluate, tasks, progress)
    finally:
        if cluster is not None:
            cluster.close()


def _connect(client_type, address: str):
    """A Client on ``address``; one line naming the address when no scheduler answers."""
    try:
        return client_type(address, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise OptiscopeError(
            f"cannot reach the Dask scheduler at {address}: {err.__class__.__name__}; start one "
            "with `dask scheduler` (and workers with `dask worker ADDRESS`), or use --dask local"
        ) from None


def _gather_in_order(client, as_completed, evaluate, tasks, progress) -> list[Any]:
    """Submit every task, collect results as they finish, return them in task order."""
    futures = [client.submit(evaluate, task, pure=False) for task in tasks]
    index = {future.key: i for i, future in enumerate(futures)}
    done: dict[int, Any] = {}
    try:
        for future in as_completed(futures):
            i = index[future.key]
            done[i] = future.result()  # a task's own error (OptiscopeError) is raised here
            if progress is not None:
                progress(i)
    except KeyboardInterrupt:
        client.cancel([f for i, f in enumerate(futures) if i not in done])
        raise ChunksInterrupted(done) from None
    return [done[i] for i in range(len(tasks))]
