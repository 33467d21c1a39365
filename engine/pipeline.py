"""Jobs in three stages: read on I/O threads ahead of time, compute on the calling thread (or on `workers`
threads), publish on the I/O threads behind. A batch then decodes the next picture and encodes the last
one while the network works on the current one; Pillow's codecs, zlib, OpenCV and torch release the GIL,
so the stages really do overlap.

Memory stays bounded: at most `ahead` jobs are read before their turn and at most `ahead` results wait
to be published (a 12 MP item is about 100 MB decoded, with its float mask).
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from engine.errors import CancelledError

AHEAD = 2  # enough to hide a decode or an encode behind one network step; more only holds memory


def run_stages(jobs: list, read: Callable, compute: Callable, publish: Callable, workers: int = 1,
               stopping: threading.Event | None = None, ahead: int = AHEAD) -> None:
    """read(job) -> data runs on an I/O thread; compute(job, future_of_data) -> result, or None when there
    is nothing to publish; publish(job, result) runs on an I/O thread. Stage functions report their own
    failures; compute raising CancelledError starts no further job, and what was computed is still
    published before it propagates. An interruption of the calling thread (Ctrl+C, SIGTERM) sets
    `stopping`, drops reads and publishes not yet started, and propagates."""
    lock = threading.Lock()
    reads: dict[int, Future] = {}
    published: list[Future] = []
    room = threading.Semaphore(ahead)
    cursor = {"next": 0, "read": 0}
    stopping = stopping or threading.Event()
    io = ThreadPoolExecutor(max_workers=max(ahead, workers), thread_name_prefix="batch-io")

    def take():
        with lock:
            i = cursor["next"]
            if i >= len(jobs):
                return None
            cursor["next"] += 1
            while cursor["read"] < min(len(jobs), i + 1 + ahead):
                reads[cursor["read"]] = io.submit(read, jobs[cursor["read"]])
                cursor["read"] += 1
            return i, reads.pop(i)

    def publish_one(job, result):
        try:
            publish(job, result)
        finally:
            room.release()

    def drive():
        while (taken := take()) is not None:
            i, data = taken
            result = compute(jobs[i], data)
            if result is not None:
                room.acquire()
                with lock:
                    published.append(io.submit(publish_one, jobs[i], result))

    try:
        if workers == 1:
            drive()
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch") as pool:
                drivers = [pool.submit(drive) for _ in range(workers)]
                try:
                    stopped = [d.exception() for d in drivers]
                except BaseException:
                    stopping.set()  # the drivers see it at their next job and leave
                    raise
                for exc in stopped:
                    if exc is not None:
                        raise exc
    except CancelledError:
        for future in list(published):
            future.result()
        io.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:
        stopping.set()
        io.shutdown(wait=True, cancel_futures=True)
        raise
    for future in list(published):
        future.result()
    io.shutdown(wait=True)
