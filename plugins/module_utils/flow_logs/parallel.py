"""Both cores for large flow logs: worker processes that aggregate part of a file and send their tally back.

Two ways to share a file, both ending in the reader merging the workers' tallies (endpoints by
value, line numbers the file's, so the first line a flow was seen on does not change):

* a plain file is cut into byte ranges at line ends; each worker reads its own range from the
  file, the reader the first one, and nothing but the result crosses between processes;
* a gzip file can only be decompressed in order: the reader decompresses and cuts it into
  chunks of whole lines, and hands a chunk to a worker that has room (at most ``CREDITS``
  waiting, sent by a feeder thread so the reader never waits), else aggregates it itself.

Workers are forked (POSIX), so nothing is imported or pickled to start them; where fork is not
available the reader does everything itself.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle

CREDITS = 2
_ACK = b"k"
_HEADER = 8


def worker_count():
    """How many worker processes a large file gets: one per usable core beside the reader's, at most 3."""
    if os.name != "posix":
        return 0
    try:
        multiprocessing.get_context("fork")
    except ValueError:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(0, min(cores, 4) - 1)


def line_ranges(handle, size, parts, first_share=1.0):
    """``parts`` byte ranges ``(start, end)`` of a file of ``size`` bytes, each starting at a line's beginning (fewer if lines
    are long); the first is ``first_share`` times as long as each of the others."""
    unit = size / (parts - 1 + first_share)
    starts = [0]
    for part in range(1, parts):
        handle.seek(max(int(unit * (first_share + part - 1)) - 1, starts[-1]))
        handle.readline()
        start = handle.tell()
        if start >= size:
            break
        if start > starts[-1]:
            starts.append(start)
    handle.seek(0)
    return list(zip(starts, starts[1:] + [size]))


def chunk_message(number, lines):
    """A chunk of whole lines for a worker: the number of the line before it, then the lines."""
    return number.to_bytes(_HEADER, "little") + b"\n".join(lines)


def chunks_from(tasks, acks):
    """A chunk worker's input: ``(number, data)`` until the reader says there is no more; each is acknowledged once done."""
    first = True
    while True:
        message = tasks.get()
        if not first:
            acks.send_bytes(_ACK)
        first = False
        if not message:
            return
        yield int.from_bytes(message[:_HEADER], "little"), message[_HEADER:]


def _work(job, index, tasks, connection):
    """A worker: run ``job(index, tasks, connection)`` and send its result, or its failure, back."""
    try:
        result = ("done", job(index, tasks, connection))
    except Exception as err:  # pylint: disable=broad-exception-caught  # reported to the reader, which raises it
        result = ("error", "%s: %s" % (type(err).__name__, err))
    try:
        connection.send_bytes(pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
    finally:
        connection.close()


class Workers:
    """Forked workers, each running ``job(index, tasks, connection)``; with ``chunks``, each also has a queue of chunks."""

    def __init__(self, count, job, chunks=False):
        context = multiprocessing.get_context("fork")
        self.pool = []
        for index in range(count):
            mine, theirs = context.Pipe()
            tasks = context.Queue() if chunks else None
            process = context.Process(target=_work, args=(job, index, tasks, theirs), daemon=True)
            process.start()
            theirs.close()
            self.pool.append([process, mine, CREDITS, tasks])

    def offer(self, number, lines):
        """Hand a chunk (whole lines, the first numbered ``number + 1``) to a worker with room; False when none has
        (always, for workers that read ranges of their own)."""
        for entry in self.pool:
            if entry[3] is None:
                return False
            connection = entry[1]
            while entry[2] < CREDITS and connection.poll():
                try:
                    message = connection.recv_bytes()
                except EOFError:   # not the file's end: the worker's
                    entry[0].join(5)
                    raise RuntimeError("a flow log worker ended early (exit code %s)" % entry[0].exitcode) from None
                self._check(message)
                entry[2] += 1
            if entry[2]:
                entry[3].put(chunk_message(number, lines))
                entry[2] -= 1
                return True
        return False

    @staticmethod
    def _check(message):
        if message != _ACK:
            kind, value = pickle.loads(message)
            raise RuntimeError("a flow log worker failed: %s" % (value if kind == "error" else "it stopped early"))

    def finish(self):
        """Every worker's result, in worker order, once each is done."""
        results = []
        for entry in self.pool:
            if entry[3] is not None:
                entry[3].put(b"")
        for process, connection, _credits, _tasks in self.pool:
            while True:
                try:
                    message = connection.recv_bytes()
                except EOFError:
                    process.join(5)
                    raise RuntimeError("a flow log worker ended without its result (exit code %s)" % process.exitcode) from None
                if message != _ACK:
                    break
            kind, value = pickle.loads(message)
            if kind == "error":
                raise RuntimeError("a flow log worker failed: %s" % value)
            results.append(value)
        self.close()
        return results

    def close(self):
        """End the workers (at once, when the reader stops early)."""
        for process, connection, _credits, tasks in self.pool:
            if process.is_alive():
                process.terminate()
            process.join()
            connection.close()
            if tasks is not None:
                tasks.close()
                tasks.cancel_join_thread()
        self.pool = []
