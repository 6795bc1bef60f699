"""Embedding overlapped with everything else an ingest does.

One worker thread embeds group after group while the calling thread prepares the next group
(reading, chunking, store look-ups) and writes the previous one (Chroma, the keyword index).
The model releases the GIL while it computes (torch and numpy kernels), so both make progress.
Writes stay on the calling thread, one group at a time and in input order: whatever commit
order the writer keeps, it keeps here too."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

G = TypeVar("G")
R = TypeVar("R")


def overlapped(
    groups: Iterable[G], compute: Callable[[G], R], write: Callable[[G, R], None]
) -> None:
    """``write(group, compute(group))`` for each group in order, with ``compute`` on a worker
    thread. At most two groups are computed ahead of the write (the one running, the next
    queued), so memory stays bounded however long the input.

    An error stops the run and is raised here once the worker has finished the group it was
    computing (a queued group is dropped), so nothing runs on after the caller returns. Groups
    before the failing one are written, as they were when ingest ran one step after the other:
    when preparing a group fails, the group before it is still written first."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
    iterator = iter(groups)
    pending: tuple[G, Future[R]] | None = None
    try:
        while True:
            try:
                group = next(iterator)  # preparing it overlaps the pending computation
            except StopIteration:
                break
            except Exception:
                if pending is not None:
                    write(pending[0], pending[1].result())
                raise
            future = pool.submit(compute, group)
            if pending is not None:
                write(pending[0], pending[1].result())  # overlaps this group's computation
            pending = (group, future)
        if pending is not None:
            write(pending[0], pending[1].result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
