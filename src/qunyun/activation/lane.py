"""The hot lane: a process's grabs and orders, on one connection, several per transaction.

A crowd on one red packet or one sale meets at one row, and on PostgreSQL that row's lock
lasts until the commit's WAL flush (~3.4 ms on the benchmark's disk): one attempt per commit
caps a hot packet at ~290 grabs a second whatever the server does. The lane commits them in
groups instead (group commit). The API's hot endpoints hand their attempt to the lane of
their process and wait for its answer; the lane's thread takes every attempt waiting, runs
them one after the other in one transaction on a connection it keeps, commits once and only
then answers each. So:

- **acknowledged = durable**: an answer leaves only after the commit of its batch; killed
  (``kill -9``) before that, the transaction never committed and nothing of the batch
  happened, nor was any of it acknowledged;
- **the same guarantees as one attempt per transaction**: the attempts of a batch run
  serially on one connection, each seeing the ones before it (a member's second grab in the
  same batch is ``already_grabbed``), with the same statements and checks as alone;
- **a refusal takes back only its own writes**: an attempt's writes run under a savepoint
  (``Attempt.write``), so a refusal after a first write undoes that write alone; on
  PostgreSQL a write of one statement needs none, and an attempt whose statement fails
  aborts the transaction — the lane sees that, rolls the batch back and runs the attempts
  before it again as a batch (nothing of them was answered yet), the failing one alone and
  the rest after them: a conflict never poisons the others' answers;
- **one round trip a batch on PostgreSQL**: attempts that are one statement each
  (``OneStatement``: a grab, an order) go in one psycopg pipeline with the batch's BEGIN and
  COMMIT, instead of a round trip per statement; the statements still run one after the
  other in the transaction, and one that fails aborts it (PostgreSQL skips the rest and the
  COMMIT), which the lane replays as above;
- **one statement a batch where the kind has one**: a batch of attempts that all give the
  same ``OneStatement.together`` (orders) is first sent as that one statement; it writes only
  when it decides every attempt (each judged as after those before it), and otherwise, or
  when it fails, nothing of it happened and the batch runs a statement per attempt as above;
- **no artificial delay**: a batch is what waited while the one before it ran, so under no
  load an attempt runs alone at once, and under a crowd a batch grows to what came in during
  one commit (at most ``MAX_BATCH``).

Attempts on Redis hot state (acknowledged at their Lua script, written to SQL by the drainer)
write nothing in SQL: they run on the lane's connection in autocommit (``batched=False``),
which spares them a pooled connection's checkout and a thread of the pool each. Those given as
``Together`` run with the others of their kind that waited: one SQL read for all of them (the
packet or sale and the membership, read as each would alone), then their scripts in one Redis
pipeline, instead of two round trips each one after the other.

The lane also replaces, for these endpoints, the thread pool of sync endpoints: one thread
per process does the database work of every hot attempt, so the crowd's requests do not
become dozens of threads contending for the interpreter's lock.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from qunyun.activation.common import (
    BEGIN,
    BEGIN_IMMEDIATE,
    COMMIT,
    ROLLBACK,
    Attempt,
    Rows,
    Sql,
    Statement,
    run_pipeline,
    sqlite_writer,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BATCH = 128
"""Attempts committed together at most."""
IDLE_SECONDS = 10.0
"""A lane without attempts for this long gives its connection back and ends its thread."""


@dataclass
class _Job:
    """An attempt waiting on the lane: answered to ``future``, or to ``waiter`` in ``loop``."""

    work: Callable[[Attempt], Any]
    batched: bool
    future: Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[Any] | None = None
    outcome: _Outcome | None = None


@dataclass(frozen=True)
class Together:
    """An attempt that may run at once with the others of its kind waiting on the lane.

    ``run_all(attempt, requests)`` answers each request in order, a value or the exception it
    refuses with, as the attempt alone would (``run_all(attempt, [request])``). It must write
    no SQL (``batched=False`` only): one failing request must not undo the others.
    """

    run_all: Callable[[Attempt, list[Any]], list[Any]]
    request: Any

    def __call__(self, attempt: Attempt) -> Any:
        """Run the attempt alone."""
        answer = self.run_all(attempt, [self.request])[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


@dataclass(frozen=True)
class OneStatement:
    """A batched attempt that may be one statement, sent with the rest of its batch at once.

    ``statement(attempt)`` returns it (``common.Statement``: its SQL and how its answer is
    read), or None where the attempt is more than one. On PostgreSQL a batch whose attempts
    all are one statement goes in one pipeline: BEGIN, their statements, COMMIT, one round
    trip for the whole batch. An answer of None means the statement did not decide the
    attempt (it wrote nothing): the lane then runs ``run``, the whole attempt, after the
    batch. Alone (``__call__``) it is ``run``.
    """

    run: Callable[[Attempt], Any]
    statement: Callable[[Attempt], Statement[Any] | None]
    together: Callable[[Attempt, list[Any]], Statement[list[Any] | None] | None] | None = None
    """Where given: the statement of a whole batch of attempts of this kind (their ``request``s
    in order), answering each one's value, or None when it did not decide them all (it then
    wrote nothing); None where it cannot be one statement."""
    request: Any = None

    def __call__(self, attempt: Attempt) -> Any:
        """Run the whole attempt."""
        return self.run(attempt)


class BatchAborted(RuntimeError):
    """An attempt left the batch's transaction aborted without raising (a bug of the attempt)."""


class HotLane:
    """The hot lane of one engine in one process (see the module's docstring).

    ``submit`` and ``run`` are safe from any thread or event loop; the lane's thread starts at
    the first attempt and stops with ``close``.
    """

    def __init__(
        self, engine: Engine, max_batch: int = MAX_BATCH, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self.is_postgresql = engine.dialect.name == "postgresql"
        self.batches = 0
        """Transactions committed with at least one attempt (for diagnosis)."""
        self.attempts = 0
        """Attempts answered (for diagnosis)."""
        self.merged = 0
        """Batches committed as one statement of their kind (``OneStatement.together``)."""
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._connection: Connection | None = None
        self._writer_lock = None if self.is_postgresql else sqlite_writer(engine)

    # --- callers ------------------------------------------------------------------------------

    def submit(self, work: Callable[[Attempt], T], *, batched: bool = True) -> Future[T]:
        """Queue ``work`` (an attempt on the lane's connection); return the future of its answer.

        ``batched`` work runs in a batch's transaction and is answered after its commit; other
        work runs alone in autocommit (it must not write SQL, or commit what it writes itself).
        """
        return self.submit_together([work], batched=batched)[0]

    def submit_together(
        self, works: Sequence[Callable[[Attempt], T]], *, batched: bool = True
    ) -> list[Future[T]]:
        """Queue several attempts at once: with ``batched`` they share one batch (or more)."""
        jobs = [_Job(work, batched, future=Future()) for work in works]
        self._queue(jobs)
        return [job.future for job in jobs if job.future is not None]

    async def run(self, work: Callable[[Attempt], T], *, batched: bool = True) -> T:
        """Run ``work`` on the lane and return its answer (raise its error) in an event loop.

        The answers of a batch reach their event loop in one wake-up, not one each.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._queue([_Job(work, batched, loop=loop, waiter=waiter)])
        return await waiter

    def _queue(self, jobs: list[_Job]) -> None:
        self._jobs.put(jobs)  # before the check of the thread: see ``_idle``
        if self._thread is None:
            self._start()

    def close(self) -> None:
        """Answer what is queued, stop the thread and give the connection back."""
        with self._guard:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    # --- the lane's thread --------------------------------------------------------------------

    def _start(self) -> None:
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="hot-lane", daemon=True)
                self._thread.start()

    def _idle(self) -> bool:
        """Whether the thread may end: it is unregistered first, then the queue looked at.

        A caller queues first and then looks for a thread, so either this sees its attempt
        or the caller sees no thread and starts one.
        """
        with self._guard:
            me, self._thread = self._thread, None
            if self._jobs.empty():
                return True
            self._thread = me
            return False

    def _loop(self) -> None:
        try:
            while True:
                try:
                    first = self._jobs.get(timeout=self.idle_seconds)
                except queue.Empty:
                    if self._idle():
                        return
                    continue
                if first is None:
                    return
                jobs, stop = list(first), False
                while len(jobs) < self.max_batch:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    jobs.extend(more)
                self._serve(jobs)
                if stop:
                    return
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _serve(self, jobs: list[_Job]) -> None:
        batched = [job for job in jobs if job.batched]
        try:
            connection = self._open()
            if batched:
                self._run_batch(connection, batched)
            self._run_unbatched(connection, [job for job in jobs if not job.batched])
        except Exception as error:  # the connection failed: nothing unanswered was committed
            log.exception("hot lane: the database connection failed")
            self._drop_connection()
            for job in jobs:
                if job.outcome is None:
                    job.outcome = _Outcome(error=error)
        self.attempts += len(jobs)
        _deliver(jobs)

    def _run_unbatched(self, connection: Connection, jobs: list[_Job]) -> None:
        """Run each job alone in autocommit, those of one ``Together`` kind in one call."""
        attempt = Attempt(connection, owns_transactions=True)
        kinds: dict[Any, tuple[list[_Job], list[Any]]] = {}
        for job in jobs:
            if isinstance(job.work, Together):
                waiting, requests = kinds.setdefault(job.work.run_all, ([], []))
                waiting.append(job)
                requests.append(job.work.request)
            else:
                _settle(job, _call(job, attempt))
        for run_all, (together, requests) in kinds.items():
            try:
                answers = run_all(attempt, requests)
            except Exception as error:  # as each attempt alone would have answered
                answers = [error] * len(together)
            for job, answer in zip(together, answers, strict=True):
                if isinstance(answer, BaseException):
                    _settle(job, _Outcome(error=answer))
                else:
                    _settle(job, _Outcome(value=answer))

    def _open(self) -> Connection:
        if self._connection is None:
            self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except Exception:  # already broken: nothing more to give back
                log.debug("hot lane: closing a failed connection", exc_info=True)

    def _run_batch(
        self,
        connection: Connection,
        jobs: list[_Job],
        *,
        pipelined: bool = True,
        merge: bool = True,
    ) -> None:
        """Run ``jobs`` in as few transactions as conflicts allow; answer each after its commit.

        First as one statement of their kind where they have one (``_merged``), else in one
        pipeline of a statement each, else attempt by attempt.
        """
        if pipelined and merge and self._merged(connection, jobs):
            return
        while jobs:
            outcomes, aborted_at = self._transaction(connection, jobs, pipelined)
            if aborted_at is None:
                undecided = []
                for job, outcome in zip(jobs, outcomes, strict=True):
                    if outcome is _UNDECIDED:
                        undecided.append(job)
                    else:
                        _settle(job, outcome)
                if undecided:  # their statements wrote nothing: now each whole attempt
                    self._run_batch(connection, undecided, pipelined=False, merge=False)
                return
            if aborted_at > 0:  # they ran cleanly before the abort: again, without it
                self._run_batch(connection, jobs[:aborted_at], pipelined=pipelined, merge=False)
            self._run_alone(connection, jobs[aborted_at])
            jobs = jobs[aborted_at + 1 :]

    def _transaction(
        self, connection: Connection, jobs: list[_Job], pipelined: bool
    ) -> tuple[list[_Outcome], int | None]:
        """Run ``jobs`` in one transaction and commit it; or roll back at the first that aborts it.

        Return the outcomes and None once committed, or the index of the aborting job.
        """
        attempt = Attempt(connection, owns_transactions=False, in_batch=True)
        statements = self._statements(attempt, jobs) if pipelined else None
        if statements is not None:
            return self._pipeline(connection, statements)
        outcomes: list[_Outcome] = []
        with self._writer():
            self._begin(connection)
            try:
                for index, job in enumerate(jobs):
                    outcome = _call(job, attempt)
                    if self._aborted(connection):
                        ROLLBACK.run(connection)
                        return outcomes, index
                    outcomes.append(outcome)
                COMMIT.run(connection)
            except BaseException:
                self._rollback_quietly(connection)
                raise
        self.batches += 1
        return outcomes, None

    def _statements(self, attempt: Attempt, jobs: list[_Job]) -> list[Statement[Any]] | None:
        """Return the statement of each job, or None unless each one is a single statement."""
        if not self.is_postgresql:
            return None
        statements = []
        for job in jobs:
            if not isinstance(job.work, OneStatement):
                return None
            try:
                statement = job.work.statement(attempt)
            except Exception:  # the whole attempt, run one after the other, answers it
                return None
            if statement is None:
                return None
            statements.append(statement)
        return statements

    def _merged(self, connection: Connection, jobs: list[_Job]) -> bool:
        """Run a batch of one kind as its one statement (``OneStatement.together``) and commit.

        Return whether that answered every job. False (nothing committed, nothing answered)
        when the batch is not one statement or the statement did not decide every attempt or
        failed: the caller then runs the batch attempt by attempt.
        """
        if not self.is_postgresql or len(jobs) < 2:
            return False
        works = [job.work for job in jobs if isinstance(job.work, OneStatement)]
        together = works[0].together if works else None
        if together is None or len(works) < len(jobs):
            return False
        if any(work.together != together for work in works):
            return False
        attempt = Attempt(connection, owns_transactions=False, in_batch=True)
        try:
            statement = together(attempt, [work.request for work in works])
        except Exception:  # attempt by attempt, each answers its own
            return False
        if statement is None:
            return False
        answers, failure = self._send(connection, [statement])
        if failure is not None:
            if len(answers) != 1:  # BEGIN or COMMIT: the connection's fault
                raise failure
            return False  # overtaken, or a key taken at the same moment: attempt by attempt
        values = statement.answer(answers[1])
        if values is None:  # it wrote nothing, and its transaction committed nothing
            return False
        for job, value in zip(jobs, values, strict=True):
            _settle(job, _Outcome(value=value))
        self.batches += 1
        self.merged += 1
        return True

    def _pipeline(
        self, connection: Connection, statements: list[Statement[Any]]
    ) -> tuple[list[_Outcome], int | None]:
        """Send BEGIN, the statements and COMMIT at once; read the answers once committed.

        Return as ``_transaction`` does. A statement that fails aborts the transaction, and
        PostgreSQL skips the rest, COMMIT included: nothing of the batch is committed.
        """
        answers, failure = self._send(connection, statements)
        if failure is not None:
            failed = len(answers) - 1  # BEGIN came first
            if not 0 <= failed < len(statements):  # BEGIN or COMMIT: the connection's fault
                raise failure
            return [], failed
        self.batches += 1
        outcomes = []
        for statement, rows in zip(statements, answers[1:-1], strict=True):
            try:
                answer = statement.answer(rows)
            except Exception as error:
                outcomes.append(_Outcome(error=error))
                continue
            outcomes.append(_UNDECIDED if answer is None else _Outcome(value=answer))
        return outcomes, None

    def _send(
        self, connection: Connection, statements: Sequence[Statement[Any]]
    ) -> tuple[list[Rows], DBAPIError | None]:
        """Send BEGIN, ``statements`` and COMMIT in one pipeline; roll back after a failure.

        Return ``run_pipeline``'s answer: the rows of BEGIN and of the statements that ran,
        and the failure (None once committed).
        """
        sent: list[tuple[Sql, dict[str, Any]]] = [(BEGIN, {})]
        sent += [(statement.sql, statement.params) for statement in statements]
        sent.append((COMMIT, {}))
        try:
            answers, failure = run_pipeline(connection, sent)
            if failure is not None:
                ROLLBACK.run(connection)
        except BaseException:
            self._rollback_quietly(connection)
            raise
        return answers, failure

    def _run_alone(self, connection: Connection, job: _Job) -> None:
        """Run one job in a transaction of its own; answer its error when it aborts it."""
        attempt = Attempt(connection, owns_transactions=False, in_batch=True)
        with self._writer():
            self._begin(connection)
            try:
                outcome = _call(job, attempt)
                if self._aborted(connection):
                    ROLLBACK.run(connection)
                    if outcome.error is None:
                        outcome = _Outcome(error=BatchAborted("数据库事务已中止，请重试"))
                else:
                    COMMIT.run(connection)
            except BaseException:
                self._rollback_quietly(connection)
                raise
        if outcome.error is None:
            self.batches += 1
        _settle(job, outcome)

    def _writer(self) -> Any:
        """SQLite: the process's writer lock, shared with ``Attempt.write`` (threads queue on it)."""
        return nullcontext() if self._writer_lock is None else self._writer_lock

    def _begin(self, connection: Connection) -> None:
        (BEGIN if self.is_postgresql else BEGIN_IMMEDIATE).run(connection)

    def _aborted(self, connection: Connection) -> bool:
        """Whether the driver's transaction can no longer commit (a statement of it failed)."""
        driver: Any = connection.connection.driver_connection
        if self.is_postgresql:
            from psycopg.pq import TransactionStatus

            return bool(driver.info.transaction_status != TransactionStatus.INTRANS)
        return not driver.in_transaction

    def _rollback_quietly(self, connection: Connection) -> None:
        try:
            ROLLBACK.run(connection)
        except Exception:  # the connection is gone; the caller drops it
            log.debug("hot lane: rollback failed", exc_info=True)


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None


_UNDECIDED = _Outcome()
"""The outcome of a statement that did not decide its attempt (``OneStatement``)."""


def _call(job: _Job, attempt: Attempt) -> _Outcome:
    try:
        return _Outcome(value=job.work(attempt))
    except Exception as error:
        return _Outcome(error=error)


def _settle(job: _Job, outcome: _Outcome) -> None:
    """Keep the job's answer; ``_deliver`` sends it once every transaction of the batch ended."""
    job.outcome = outcome


def _deliver(jobs: list[_Job]) -> None:
    """Answer every job: futures at once, each event loop's waiters in one call of that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        if job.future is not None:
            _answer(job.future, job.outcome)
        elif job.loop is not None:
            by_loop.setdefault(job.loop, []).append(job)
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_answer_waiters, waiting)
        except RuntimeError:  # the loop is closed: nobody waits for these answers any more
            log.debug("hot lane: %d answers for a closed event loop", len(waiting))


def _answer_waiters(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.waiter is not None and not job.waiter.done():  # a cancelled request: done
            _answer(job.waiter, job.outcome)


def _answer(future: Any, outcome: _Outcome | None) -> None:
    if outcome is None:
        outcome = _Outcome(error=BatchAborted("尝试未被处理，请重试"))
    if outcome.error is not None:
        future.set_exception(outcome.error)
    else:
        future.set_result(outcome.value)
