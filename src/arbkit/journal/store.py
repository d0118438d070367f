"""The append-only journal: SQLite in WAL mode, written by a background thread in batches.

Layout (schema version 1)::

    journal(seq INTEGER PRIMARY KEY, ts_ns, kind, correlation_id, payload BLOB, crc INTEGER)
    meta(key TEXT PRIMARY KEY, value)      -- schema_version, created_at, app_version, crc_spec

Triggers refuse every UPDATE and DELETE on both tables: the journal only grows.

Hot path. :meth:`Journal.append` encodes the payload (when it is not already bytes), assigns the
next sequence number and puts a tuple on an in-memory deque; that is all the caller pays. A
dedicated writer thread with its own connection drains the deque, computes each record's CRC32
and inserts a whole batch with ONE multi-row ``INSERT`` statement. One statement per batch
matters in CPython: the sqlite3 module releases the GIL around every ``sqlite3_step``, and a
thread that gives the GIL away may wait a full switch interval (5 ms) to get it back while the
event loop is busy, so per-row statements (``executemany``) collapse to a few thousand rows/s
while another thread keeps the interpreter busy. Batches are a power of two rows (at most ~13
statement texts are ever prepared) up to ``batch_max``; each statement is its own autocommit
transaction. The CRC is computed by the writer, off the caller's path.

Commit policy: the writer commits as soon as ``batch_max`` records are queued, a flush is
waiting, or ``commit_interval_ms`` has passed since the first queued record — whichever first.

Checkpoints (copying committed WAL pages into the database file) run on a third thread with its
own connection, so the writer only appends to the WAL; every ~64 MiB the writer waits for one
checkpoint so the WAL restarts and stays bounded (see ``_checkpoint_loop``).

Durability, two watermarks: *written* (committed to the WAL: in the OS page cache, so it survives
the process being killed) and *durable* (the WAL fsynced: it survives an OS crash or power cut).

* ``synchronous="FULL"``: every commit fsyncs the WAL, so written == durable; one fsync per batch.
* ``synchronous="GROUP"`` (the node's default): commits do not fsync (SQLite's ``NORMAL``); a
  syncer thread fsyncs the WAL file within ``group_commit_ms`` of a commit (at once when a durable
  flush waits), off the writer's and the caller's path. ``flush(durable=False)`` returns once
  records are written (with the pre-send log below: in the side file); ``flush()`` once they are
  durable.
* ``synchronous="NORMAL"``: simulations and backtests: no fsync at all until a checkpoint;
  ``flush()`` returns at commit (records survive a process crash, not a power cut).

Pre-send log (``presend_log``, on by default with ``GROUP``): ``flush(durable=False)`` -- the barrier
an order waits for -- does not wait for the writer thread. The caller writes every record not yet
committed to a side file ``<journal>-presend`` opened ``O_APPEND``, with one ``os.write`` on its own
thread: once that returns the records are in the OS page cache and survive the process being
killed, which is what *written* promises, without a thread handoff on the order's path. The SQLite
commit and the group fsync follow as before. Opening the journal for writing inserts the records
of the side file that SQLite does not have (contiguous from its last seq, each CRC-checked; a torn
tail -- only a power cut can tear a completed write -- is dropped, as the group-commit contract
allows), fsyncs them, then empties the side file; the writer also empties it whenever everything
in it is committed. Side-file record: ``<u32 len><u64 seq><i64 ts_ns><u16 kind len><u16 cid
len><u32 crc>`` then kind, correlation id and payload (``crc`` as the journal column). Read-only
opens do not read the side file: a crashed node's last records appear once it reopens its journal.

Torn or corrupt tail: every record carries a CRC32 (see :func:`record_crc`). Opening runs
``PRAGMA quick_check`` (``integrity="full"``: ``integrity_check``, which also proves the indexes
match the table, at about twice the cost), checks that sequence numbers run 1..N without a gap,
re-checks the CRC of the last ``check_last`` records and that the kind and correlation id indexes
hold an entry for each of them; :meth:`replay` re-checks every record it reads and the
contiguity of unfiltered reads. Anything wrong raises :class:`JournalCorrupt` naming the seq —
never silently accepted. SQLite itself discards a WAL frame that was not completely written
(a transaction that never committed): those records were not durable, so losing them is allowed.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import datetime as _dt
import fcntl
import logging
import os
import sqlite3
import struct
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from arbkit import __version__
from arbkit.core.clock import Clock, LiveClock
from arbkit.core.events import Event, event_types

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CRC_SPEC = "crc32(utf8(f'{seq}\\x1f{ts_ns}\\x1f{kind}\\x1f{correlation_id}\\x1f') + payload)"

_COLUMNS = "seq, ts_ns, kind, correlation_id, payload, crc"

_SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE journal(
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    crc INTEGER NOT NULL
);
CREATE INDEX journal_kind ON journal(kind);
CREATE INDEX journal_correlation_id ON journal(correlation_id);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
    BEGIN SELECT RAISE(ABORT, 'the arbkit journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
    BEGIN SELECT RAISE(ABORT, 'the arbkit journal is append-only'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
    BEGIN SELECT RAISE(ABORT, 'the arbkit journal meta is write-once'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
    BEGIN SELECT RAISE(ABORT, 'the arbkit journal meta is write-once'); END;
"""

# Max rows in one INSERT: SQLite allows at most SQLITE_LIMIT_VARIABLE_NUMBER (32766 by default)
# bound parameters per statement, 6 per row.
_MAX_BATCH = 4096
_PAGE_SIZE = 16384
_INT64 = 1 << 63

_TAIL_INDEX_CHECK = """
SELECT t.seq FROM (SELECT seq, kind, correlation_id FROM journal ORDER BY seq DESC LIMIT ?) t
WHERE NOT EXISTS (SELECT 1 FROM journal AS k INDEXED BY journal_kind WHERE k.kind = t.kind AND k.seq = t.seq)
   OR NOT EXISTS (SELECT 1 FROM journal AS c INDEXED BY journal_correlation_id
                  WHERE c.correlation_id = t.correlation_id AND c.seq = t.seq)
ORDER BY t.seq
"""
_CHECKPOINT_BYTES = 4 << 20  # ask the checkpointer to run every ~4 MiB committed (SQLite's default)
# Every ~64 MiB the writer waits for one checkpoint to finish before its next commit, so that the
# WAL restarts from its beginning (see _checkpoint_loop).
_WAL_RESTART_BYTES = 64 << 20
_PRESEND_HEAD = struct.Struct("<IQqHHI")  # length of the rest, seq, ts_ns, kind len, cid len, crc
_PRESEND_TRIM_BYTES = 1 << 20  # empty the side file once it is this big and all of it is committed


class JournalError(Exception):
    """The journal cannot do what was asked (bad file, newer schema, writer failed, closed)."""


class JournalCorrupt(JournalError):
    """Committed data does not check out: a CRC mismatch, a sequence gap, a damaged file."""

    def __init__(self, path: str | os.PathLike[str], problems: list[str], seq: int | None = None) -> None:
        self.path = str(path)
        self.problems = list(problems)
        self.seq = seq  # the first bad sequence number, when one is known
        shown = "; ".join(self.problems[:10])
        more = f" (+{len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        super().__init__(f"journal {self.path} is corrupt: {shown}{more}")


# SQLite result codes that say something about the environment (permissions, locks, the disk),
# not about the journal's content: reported as JournalError, never as corruption.
_ENVIRONMENT_ERRORS = ("SQLITE_READONLY", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR",
                       "SQLITE_FULL", "SQLITE_PERM", "SQLITE_NOMEM", "SQLITE_AUTH", "SQLITE_INTERRUPT")


def _is_environment_error(exc: sqlite3.Error) -> bool:
    return str(getattr(exc, "sqlite_errorname", "")).startswith(_ENVIRONMENT_ERRORS)


def _sqlite_failure(path: Path, exc: sqlite3.Error, doing: str) -> JournalError:
    """A JournalError for a SQLite error: JournalCorrupt unless the error is about the environment."""
    if _is_environment_error(exc):
        return JournalError(f"journal {path}: {doing}: {exc} ({getattr(exc, 'sqlite_errorname', '')})")
    return JournalCorrupt(path, [f"sqlite while {doing}: {exc}"])


def record_crc(seq: int, ts_ns: int, kind: str, correlation_id: str, payload: bytes) -> int:
    """CRC32 of one record (see ``CRC_SPEC``; stored in the ``crc`` column and in meta)."""
    return zlib.crc32(payload, zlib.crc32(f"{seq}\x1f{ts_ns}\x1f{kind}\x1f{correlation_id}\x1f".encode()))


_encoder = msgspec.json.Encoder(decimal_format="string")
_json_decoder = msgspec.json.Decoder()
_event_decoders: dict[str, msgspec.json.Decoder] = {}


def _event_decoder(kind: str) -> msgspec.json.Decoder | None:
    """A decoder for the Event subclass named ``kind``; the subclass map is refreshed on a miss
    because engines define their event types in modules imported later."""
    dec = _event_decoders.get(kind)
    if dec is None:
        cls = event_types().get(kind)
        if cls is None:
            return None
        dec = _event_decoders[kind] = msgspec.json.Decoder(cls)
    return dec


class JournalRecord(msgspec.Struct, frozen=True, gc=False):
    """One committed journal record."""

    seq: int
    ts_ns: int
    kind: str
    correlation_id: str
    payload: bytes

    def decode(self) -> Any:
        """The payload as an arbkit Event when ``kind`` names a known event type, else the decoded
        JSON (a dict for the usual payloads). A payload that is not JSON raises JournalError."""
        dec = _event_decoder(self.kind)
        try:
            return dec.decode(self.payload) if dec is not None else _json_decoder.decode(self.payload)
        except msgspec.DecodeError as exc:
            raise JournalError(f"journal record seq {self.seq} (kind {self.kind!r}) does not decode: {exc}") from exc


class _SyncWaiter:
    __slots__ = ("target", "durable", "event", "result", "error")

    def __init__(self, target: int, durable: bool = True) -> None:
        self.target = target
        self.durable = durable
        self.event = threading.Event()
        self.result = 0
        self.error: BaseException | None = None


def _resolve(fut: asyncio.Future[int], value: int | None, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)  # type: ignore[arg-type]


_open_journals: "weakref.WeakSet[Journal]" = weakref.WeakSet()


@atexit.register
def _drain_at_exit() -> None:
    """A process that forgets to close still drains what it appended (best effort)."""
    for journal in list(_open_journals):
        try:
            journal.close_sync()
        except Exception:  # noqa: BLE001 - at exit there is nobody left to raise to
            log.exception("journal %s: close at exit failed", journal.path)


class Journal:
    """Append-only SQLite journal with a background batched writer. Use :meth:`open`."""

    def __init__(self, path: Path, *, readonly: bool, clock: Clock, batch_max: int, commit_interval_s: float,
                 on_error: Callable[[JournalError], None] | None) -> None:
        self.path = path
        self.readonly = readonly
        self._clock = clock
        self._now_ns = clock.now_ns
        self._batch_max = batch_max
        self._interval_s = commit_interval_s
        self._on_error = on_error
        self.problems: list[str] = []  # what the open-time check found (readonly journals keep going)
        # append side
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[int, int, str, str, bytes]] = collections.deque()
        self._next_seq = 1
        self._accepting = False  # False when read-only, closed or failed: append() then raises
        self._closed = False
        self._first_seq = 1  # first seq appended in this session
        # writer side
        self._wake = threading.Event()
        self._stopping = False
        self._durable = 0  # last seq fsynced (see the module docstring: durability)
        self._written = 0  # last seq committed (OS page cache); == _durable unless group commit
        self._group = False  # synchronous="GROUP": a syncer thread fsyncs the WAL after commits
        self._group_window_s = 0.002
        self._sync_wake = threading.Event()
        self._sync_urgent = threading.Event()  # a durable flush waits: fsync now, no gathering
        self._sync_thread: threading.Thread | None = None
        self._syncs = 0
        self._sync_ns_total = 0
        self._max_sync_ns = 0
        self._error: JournalError | None = None
        self._wlock = threading.Lock()
        self._waiters: list[Any] = []
        self._committed = 0
        self._batches = 0
        self._last_commit_ns = 0
        self._max_commit_ns = 0
        self._commit_ns_total = 0  # time inside the INSERT (sqlite + fsync + getting the GIL back)
        self._build_ns_total = 0  # Python time preparing batches (CRCs, parameters)
        self._writer_cpu_ns = 0  # CPU time the writer thread has used
        self._queue_high = 0  # deepest queue the writer has seen (how far it fell behind)
        self._con: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        # checkpointer: copies committed WAL frames into the database file in parallel with the
        # writer, so the writer only ever appends to the WAL (see _checkpoint_loop)
        self._ckpt_thread: threading.Thread | None = None
        self._ckpt_cond = threading.Condition()
        self._ckpt_requested = 0  # request generation
        self._ckpt_done = 0  # generation of the last finished checkpoint
        self._ckpt_stop = False
        self._ckpt_bytes = 0  # approximate bytes committed since the last checkpoint request
        self._wal_bytes = 0  # approximate bytes committed since the writer last waited for one
        self._checkpoints = 0
        self._ckpt_error: str | None = None
        self._lock_fd: int | None = None
        self._statements: dict[int, str] = {}
        # pre-send side log (see the module docstring): records not yet committed, and how far
        # the side file holds them
        self._presend_fd: int | None = None
        self._presend_lock = threading.Lock()
        self._uncommitted: collections.deque[tuple[int, int, str, str, bytes]] = collections.deque()
        self._presend_seq = 0
        self._presend_bytes = 0
        self._presend_writes = 0
        self._presend_recovered = 0

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        batch_max: int = _MAX_BATCH,
        commit_interval_ms: float = 5.0,
        readonly: bool = False,
        check_last: int = 1000,
        integrity: Literal["quick", "full", "none"] = "quick",
        synchronous: Literal["FULL", "GROUP", "NORMAL"] = "FULL",
        group_commit_ms: float = 2.0,
        on_error: Callable[[JournalError], None] | None = None,
        presend_log: bool | None = None,
    ) -> "Journal":
        """Create or open the journal at ``path`` and start its writer.

        Checks the schema version (a journal from a newer or unknown schema raises JournalError),
        runs ``PRAGMA quick_check`` (``integrity="full"``: ``integrity_check``; ``"none"`` skips it and
        the full contiguity count, for a very large file), the sequence contiguity, and the CRC and
        index entries of the last ``check_last`` records; a problem raises
        :class:`JournalCorrupt`. ``readonly=True`` opens an existing journal to inspect it: no
        writer, no lock, and problems are kept in ``journal.problems`` instead of raised.
        ``batch_max`` is rounded down to a power of two (at most 4096 rows per statement).
        ``on_error`` is called (from the writer thread) if the writer fails. ``synchronous``,
        ``group_commit_ms`` and ``presend_log`` (None: on with ``GROUP``): see the module docstring
        (durability, pre-send log).
        """
        if batch_max < 1:
            raise ValueError("batch_max must be >= 1")
        if commit_interval_ms < 0:
            raise ValueError("commit_interval_ms must be >= 0")
        if integrity not in ("quick", "full", "none"):
            raise ValueError(f"integrity must be 'quick', 'full' or 'none', not {integrity!r}")
        if synchronous not in ("FULL", "GROUP", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL', 'GROUP' or 'NORMAL', not {synchronous!r}")
        if not 0 <= group_commit_ms <= 1000:
            raise ValueError(f"group_commit_ms must be in [0, 1000], got {group_commit_ms!r}")
        p = Path(path)
        batch_max = 1 << (min(batch_max, _MAX_BATCH).bit_length() - 1)
        self = cls(p, readonly=readonly, clock=clock or LiveClock(), batch_max=batch_max,
                   commit_interval_s=commit_interval_ms / 1000.0, on_error=on_error)
        self._group = synchronous == "GROUP"
        self._group_window_s = group_commit_ms / 1000.0
        try:
            if readonly:
                if not p.is_file():
                    raise JournalError(f"no journal at {p}")
                self._open_readonly(check_last, integrity)
            else:
                self._open_writer(check_last, integrity, synchronous,
                                  synchronous == "GROUP" if presend_log is None else presend_log)
        except BaseException:
            self._release()
            raise
        return self

    def _open_writer(self, check_last: int, integrity: str, synchronous: str, presend_log: bool = False) -> None:
        p = self.path
        p.parent.mkdir(parents=True, exist_ok=True)
        # One writer per journal: two would hand out the same sequence numbers. flock (released by
        # the kernel when the process dies, so a crash never leaves a stale lock) on a side file,
        # not on the database: SQLite's own POSIX locks on the database must not be disturbed.
        lock_path = p.with_name(p.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        # A reader recovering a dead writer's pre-send log holds the lock for a few milliseconds
        # (see _ingest_orphan_presend): wait that out; a live second writer is still refused.
        deadline = time.monotonic() + 3.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                os.close(fd)
                raise JournalError(f"journal {p} is already open for writing (lock {lock_path} is held)") from None
        self._lock_fd = fd
        try:
            con = sqlite3.connect(p, isolation_level=None, check_same_thread=False, cached_statements=64)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {p}: {exc}") from exc
        self._con = con
        try:
            # 16 KiB pages: ~20% less writer CPU per record than 4 KiB (fewer pages, WAL frames and
            # b-tree splits) at the same small-commit latency. Only takes effect on a new file.
            con.execute(f"PRAGMA page_size={_PAGE_SIZE}")
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {p}: cannot switch to WAL mode (got {mode!r})")
            sqlite_sync = "NORMAL" if synchronous == "GROUP" else synchronous  # GROUP: our syncer fsyncs
            con.execute(f"PRAGMA synchronous={sqlite_sync}")
            con.execute("PRAGMA busy_timeout=10000")
            # Keep a large WAL from lingering on disk after checkpoints.
            con.execute("PRAGMA journal_size_limit=67108864")
            # The checkpointer thread checkpoints, not the writer (see _checkpoint_loop).
            con.execute("PRAGMA wal_autocheckpoint=0")
            con.execute("PRAGMA cache_size=-65536")
            tables = self._tables(con)
            if not tables:
                self._create_schema(con)
            last_seq = self._check(con, check_last, integrity, raise_on_problem=True)
            last_seq = self._recover_presend(con, last_seq, presend_log)
        except sqlite3.Error as exc:
            raise _sqlite_failure(p, exc, "opening") from exc
        limit = con.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        while self._batch_max * 6 > limit:
            self._batch_max //= 2
        self._next_seq = last_seq + 1
        self._first_seq = last_seq + 1
        self._durable = self._written = last_seq
        self._accepting = True
        ckpt_con = sqlite3.connect(p, isolation_level=None, check_same_thread=False)
        ckpt_con.execute(f"PRAGMA synchronous={sqlite_sync}")
        ckpt_con.execute("PRAGMA busy_timeout=10000")
        self._thread = threading.Thread(target=self._run, name=f"journal-writer:{p.name}", daemon=True)
        self._ckpt_thread = threading.Thread(target=self._checkpoint_loop, args=(ckpt_con,),
                                             name=f"journal-checkpoint:{p.name}", daemon=True)
        self._thread.start()
        self._ckpt_thread.start()
        if self._group:
            self._sync_thread = threading.Thread(target=self._sync_loop, name=f"journal-sync:{p.name}", daemon=True)
            self._sync_thread.start()
        _open_journals.add(self)

    def _open_readonly(self, check_last: int, integrity: str) -> None:
        self._ingest_orphan_presend()
        try:
            con = self._reader()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
        try:
            if not self._tables(con):
                raise JournalError(f"{self.path} is not an arbkit journal (no tables)")
            last = self._check(con, check_last, integrity, raise_on_problem=False)
        except sqlite3.Error as exc:
            raise _sqlite_failure(self.path, exc, "opening") from exc
        finally:
            con.close()
        self._next_seq = last + 1
        self._durable = self._written = last

    def _ingest_orphan_presend(self) -> None:
        """A reader of a journal whose writer died (no one holds its lock) first moves the side
        file's records into SQLite, as SQLite itself rolls a hot journal back on a read: the last
        records of a killed node are visible without restarting it. A live writer commits them
        within milliseconds itself, so its side file is left alone."""
        side = self.path.with_name(self.path.name + "-presend")
        try:
            if side.stat().st_size == 0:
                return
        except OSError:
            return
        try:
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            log.warning("journal %s: cannot take the writer lock to recover its pre-send log: %s", self.path, exc)
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a live writer: it commits them
            con = sqlite3.connect(self.path, isolation_level=None)
            try:
                con.execute("PRAGMA busy_timeout=10000")
                last = con.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]
                self._recover_presend(con, int(last), False)
            finally:
                con.close()
        except (sqlite3.Error, OSError) as exc:
            log.warning("journal %s: could not recover its pre-send log (read-only view may miss the last records): %s",
                        self.path, exc)
        finally:
            os.close(fd)  # releases the flock

    @staticmethod
    def _tables(con: sqlite3.Connection) -> set[str]:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _create_schema(self, con: sqlite3.Connection) -> None:
        now = self._clock.now_ns()
        created = _dt.datetime.fromtimestamp(now / 1e9, _dt.timezone.utc).isoformat()
        con.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA.split(";\n"):
                if stmt.strip():
                    con.execute(stmt)
            con.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("created_at", created), ("created_at_ns", str(now)),
                 ("app_version", __version__), ("crc_spec", CRC_SPEC)],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _check(self, con: sqlite3.Connection, check_last: int, integrity: str, *, raise_on_problem: bool) -> int:
        """Schema version, integrity, contiguity and tail CRCs. Returns the last seq."""
        p = self.path
        tables = self._tables(con)
        if "meta" not in tables or "journal" not in tables:
            raise JournalError(f"{p} is not an arbkit journal (tables: {', '.join(sorted(tables)) or 'none'})")
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            raise JournalError(f"{p} is not an arbkit journal (meta has no schema_version)")
        try:
            version = int(row[0])
        except ValueError:
            raise JournalError(f"journal {p}: schema_version {row[0]!r} is not a number") from None
        if version > SCHEMA_VERSION:
            raise JournalError(f"journal {p} has schema version {version}, newer than this arbkit ({__version__}) "
                               f"supports ({SCHEMA_VERSION}): upgrade arbkit to read it")
        if version != SCHEMA_VERSION:
            raise JournalError(f"journal {p} has schema version {version}, which this arbkit does not know "
                               f"(supports {SCHEMA_VERSION}; no migration exists)")
        problems: list[str] = []
        first_bad: int | None = None
        last_seq = 0
        try:
            last_seq, first_bad = self._check_records(con, check_last, integrity, problems)
        except sqlite3.Error as exc:
            if _is_environment_error(exc):
                raise
            problems.append(f"sqlite: {exc}")
        self.problems = problems
        if problems and raise_on_problem:
            raise JournalCorrupt(p, problems, first_bad)
        for problem in problems:
            log.error("journal %s: %s", p, problem)
        return last_seq

    def _check_records(self, con: sqlite3.Connection, check_last: int, integrity: str,
                       problems: list[str]) -> tuple[int, int | None]:
        """Integrity, contiguity, tail CRCs and tail index entries; appends to ``problems``;
        returns (last seq, first bad seq)."""
        first_bad: int | None = None
        if integrity != "none":
            problems.extend(self._integrity(con, integrity))
        last_seq = 0
        if integrity != "none":
            lo, hi, count = con.execute("SELECT min(seq), max(seq), count(*) FROM journal").fetchone()
            if count:
                last_seq = hi
                if lo != 1 or hi - lo + 1 != count:
                    gaps = self._gaps(con, lo)
                    first_bad = gaps[0][0] if gaps else lo
                    problems.append(f"sequence gap: {count} records span seq {lo}..{hi}; missing "
                                    + ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in gaps[:10]))
        tail = con.execute(f"SELECT {_COLUMNS} FROM journal ORDER BY seq DESC LIMIT ?", (max(check_last, 1),)).fetchall()
        if tail:
            last_seq = max(last_seq, tail[0][0])
            expect = tail[0][0]
            for seq, ts_ns, kind, cid, payload, crc in tail:
                if seq != expect:
                    problems.append(f"sequence gap: missing seq {seq + 1}..{expect}")
                    first_bad = seq + 1 if first_bad is None else min(first_bad, seq + 1)
                expect = seq - 1
                bad = self._bad_record(seq, ts_ns, kind, cid, payload, crc)
                if bad:
                    problems.append(bad)
                    first_bad = seq if first_bad is None else min(first_bad, seq)
            # quick_check does not prove the indexes match the table: a damaged index would make
            # replay by kind or correlation id silently miss records, so the tail is looked up.
            missing = con.execute(_TAIL_INDEX_CHECK, (max(check_last, 1),)).fetchall()
            for (seq,) in missing[:20]:
                problems.append(f"index entry missing or damaged for seq {seq}")
                first_bad = seq if first_bad is None else min(first_bad, seq)
        return last_seq, first_bad

    @staticmethod
    def _integrity(con: sqlite3.Connection, integrity: str) -> list[str]:
        pragma = "integrity_check" if integrity == "full" else "quick_check"
        result = [str(r[0]) for r in con.execute(f"PRAGMA {pragma}(20)")]
        return [] if result == ["ok"] else [f"{pragma}: {r}" for r in result]

    @staticmethod
    def _gaps(con: sqlite3.Connection, lo: int) -> list[tuple[int, int]]:
        rows = con.execute(
            "SELECT (SELECT max(p.seq) FROM journal p WHERE p.seq < j.seq) AS prev, j.seq FROM journal j "
            "WHERE j.seq > ? AND NOT EXISTS (SELECT 1 FROM journal k WHERE k.seq = j.seq - 1) ORDER BY j.seq LIMIT 10",
            (lo,),
        ).fetchall()
        gaps = [(prev + 1, seq - 1) for prev, seq in rows if prev is not None]
        if lo != 1:
            gaps.insert(0, (1, lo - 1))
        return gaps

    @staticmethod
    def _bad_record(seq: Any, ts_ns: Any, kind: Any, cid: Any, payload: Any, crc: Any) -> str | None:
        """Why this row is not a sound record, or None."""
        if not (type(seq) is int and type(ts_ns) is int and type(kind) is str and type(cid) is str
                and type(payload) is bytes and type(crc) is int):
            return f"seq {seq}: malformed row (column types {[type(v).__name__ for v in (ts_ns, kind, cid, payload, crc)]})"
        computed = record_crc(seq, ts_ns, kind, cid, payload)
        if computed != crc:
            return f"crc mismatch at seq {seq} (stored {crc:#010x}, computed {computed:#010x})"
        return None

    def _reader(self) -> sqlite3.Connection:
        """A new read connection: read-write handle with query_only (it may need to recover the
        WAL after a crash), or a pure read-only one when the file is not writable."""
        uri = self.path.resolve().as_uri()
        try:
            con = sqlite3.connect(f"{uri}?mode=rw", uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError:
            con = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA query_only=ON")
        con.execute("PRAGMA busy_timeout=10000")
        return con

    # --- appending (hot path) ----------------------------------------------------------------

    def append(self, kind: str, payload: bytes | msgspec.Struct | dict, correlation_id: str = "",
               ts_ns: int | None = None) -> int:
        """Queue one record for the writer and return its sequence number. Never blocks on I/O.

        A Struct or dict payload is JSON-encoded (Decimals as strings). Raises JournalError when
        the journal is closed, read-only or its writer has failed.
        """
        if not self._accepting:
            raise self._not_accepting()
        # Checked here, cheaply, because a bad value reaching the writer would stop the journal.
        if type(kind) is not str or not kind or type(correlation_id) is not str:
            raise TypeError(f"journal kind must be a non-empty str and correlation_id a str, "
                            f"got {kind!r} and {correlation_id!r}")
        if type(payload) is not bytes:
            payload = self._encode(payload)
        if ts_ns is None:
            ts_ns = self._now_ns()
        elif type(ts_ns) is not int or not 0 <= ts_ns < _INT64:
            raise TypeError(f"journal ts_ns must be an int in [0, 2**63), got {ts_ns!r}")
        queue = self._queue
        with self._lock:
            seq = self._next_seq
            self._next_seq = seq + 1
            rec = (seq, ts_ns, kind, correlation_id, payload)
            queue.append(rec)
            if self._presend_fd is not None:
                self._uncommitted.append(rec)
            # Inside the lock: two threads must not both see the same length and both skip
            # waking an idle writer.
            n = len(queue)
        # Wake the writer for the first record after idle (it then gathers for commit_interval)
        # and for a full batch; in between it is awake anyway, so appends pay nothing here.
        if (n == 1 or n >= self._batch_max) and not self._wake.is_set():
            self._wake.set()
        return seq

    def append_event(self, event: Event) -> int:
        """Journal an arbkit Event: kind = its class name, its correlation id, ts = its ts_recv
        (or the clock's now when it has none)."""
        return self.append(type(event).__name__, _encoder.encode(event), event.correlation_id,
                           event.ts_recv or self._now_ns())

    @staticmethod
    def _encode(payload: Any) -> bytes:
        if isinstance(payload, (msgspec.Struct, dict)):
            return _encoder.encode(payload)
        if isinstance(payload, (bytearray, memoryview)):
            return bytes(payload)
        raise TypeError(f"journal payload must be bytes, a msgspec Struct or a dict, not {type(payload).__name__}")

    def _not_accepting(self) -> JournalError:
        if self._error is not None:
            return JournalError(f"journal {self.path}: writer failed, nothing more can be journaled: {self._error}")
        if self.readonly:
            return JournalError(f"journal {self.path} is open read-only")
        return JournalError(f"journal {self.path} is closed")

    # --- flushing ----------------------------------------------------------------------------

    async def flush(self, durable: bool = True) -> int:
        """Return once every record appended before this call is durable (fsynced; see the module
        docstring), or with ``durable=False`` once it is written (committed: it survives the
        process being killed). Returns that watermark. Raises JournalError if the writer failed."""
        if self._error is not None:
            raise self._flush_error()
        if not durable and self._presend_fd is not None:
            return self._presend_flush()
        target = self._next_seq - 1
        mark = self._durable if durable else self._written
        if mark >= target:
            return mark
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        with self._wlock:
            if self._error is not None:
                raise self._flush_error()
            mark = self._durable if durable else self._written
            if mark >= target:
                return mark
            self._waiters.append((target, loop, fut, durable))
        if durable and self._group:
            self._sync_urgent.set()
            self._sync_wake.set()
        self._wake.set()
        return await fut

    def flush_sync(self, timeout: float | None = None, durable: bool = True) -> int:
        """:meth:`flush` for threads and non-async callers. Raises TimeoutError after ``timeout``."""
        if self._error is not None:
            raise self._flush_error()
        if not durable and self._presend_fd is not None:
            return self._presend_flush()
        target = self._next_seq - 1
        mark = self._durable if durable else self._written
        if mark >= target:
            return mark
        waiter = _SyncWaiter(target, durable)
        with self._wlock:
            if self._error is not None:
                raise self._flush_error()
            mark = self._durable if durable else self._written
            if mark >= target:
                return mark
            self._waiters.append(waiter)
        if durable and self._group:
            self._sync_urgent.set()
            self._sync_wake.set()
        self._wake.set()
        if not waiter.event.wait(timeout):
            with self._wlock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if not waiter.event.is_set():
                raise TimeoutError(f"journal {self.path}: seq {target} not {'durable' if durable else 'written'} after "
                                   f"{timeout} s (durable {self._durable}, written {self._written}, queued {len(self._queue)})")
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def _presend_flush(self) -> int:
        """Write every record not yet committed to the side file, on the caller's thread; returns
        the last seq that now survives the process being killed."""
        with self._presend_lock:
            with self._lock:
                target = self._next_seq - 1
                start = self._presend_seq if self._presend_seq > self._written else self._written
                if start >= target:
                    return target
                recs = [r for r in self._uncommitted if r[0] > start]
            fd = self._presend_fd
            if fd is None or self._error is not None:
                raise self._flush_error() if self._error is not None else self._not_accepting()
            pack = _PRESEND_HEAD.pack
            parts = []
            for seq, ts_ns, kind, cid, payload in recs:
                k, c = kind.encode(), cid.encode()
                crc = zlib.crc32(payload, zlib.crc32(f"{seq}\x1f{ts_ns}\x1f{kind}\x1f{cid}\x1f".encode()))
                parts.append(pack(_PRESEND_HEAD.size - 4 + len(k) + len(c) + len(payload), seq, ts_ns, len(k), len(c), crc))
                parts += (k, c, payload)
            buf = memoryview(b"".join(parts))
            try:
                while buf:
                    buf = buf[os.write(fd, buf):]
            except OSError as exc:
                self._fail(JournalError(f"pre-send log of {self.path}: write failed: {exc}"))
                raise self._flush_error() from exc
            self._presend_bytes += len(buf.obj)  # type: ignore[arg-type]
            self._presend_writes += 1
            self._presend_seq = target
            return target

    def _presend_committed(self, written: int) -> None:
        """Writer side, after a commit: forget the committed records; empty the side file once
        all it holds is committed and it has grown (committed = in the WAL: survives a kill)."""
        unc = self._uncommitted
        with self._lock:
            while unc and unc[0][0] <= written:
                unc.popleft()
        if self._presend_bytes >= _PRESEND_TRIM_BYTES and self._presend_seq <= written:
            with self._presend_lock:
                if self._presend_seq <= written and self._presend_fd is not None:
                    os.ftruncate(self._presend_fd, 0)
                    self._presend_bytes = 0

    def _recover_presend(self, con: sqlite3.Connection, last_seq: int, enabled: bool) -> int:
        """At a writer open: insert the side file's records SQLite lacks, make them durable, empty
        the file (see the module docstring). Returns the new last seq."""
        side = self.path.with_name(self.path.name + "-presend")
        recovered: list[tuple[int, int, str, str, bytes, int]] = []
        if side.exists():
            data = side.read_bytes()
            pos, head, n = 0, _PRESEND_HEAD, len(data)
            expect = last_seq + 1
            while pos + head.size <= n:
                length, seq, ts_ns, kl, cl, crc = head.unpack_from(data, pos)
                end = pos + 4 + length
                if length < head.size - 4 + kl + cl or end > n:
                    break  # torn tail
                body = pos + head.size
                try:
                    kind, cid = data[body:body + kl].decode(), data[body + kl:body + kl + cl].decode()
                except UnicodeDecodeError:
                    break
                payload = data[body + kl + cl:end]
                if record_crc(seq, ts_ns, kind, cid, payload) != crc:
                    break  # torn or damaged: nothing after it can be trusted
                pos = end
                if seq < expect:
                    continue  # committed before the crash
                if seq != expect:
                    log.warning("journal %s: pre-send log jumps from seq %d to %d; the rest is not recovered",
                                self.path, expect - 1, seq)
                    break
                recovered.append((seq, ts_ns, kind, cid, payload, crc))
                expect += 1
            if pos < n:
                log.warning("journal %s: pre-send log has %d unreadable bytes at its end (dropped)", self.path, n - pos)
            if recovered:
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.executemany(f"INSERT INTO journal({_COLUMNS}) VALUES (?,?,?,?,?,?)", recovered)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                wal = str(self.path) + "-wal"
                if os.path.exists(wal):  # durable before the side file is emptied
                    wfd = os.open(wal, os.O_RDONLY)
                    try:
                        os.fsync(wfd)
                    finally:
                        os.close(wfd)
                log.warning("journal %s: recovered %d record(s) (seq %d..%d) from the pre-send log", self.path,
                            len(recovered), recovered[0][0], recovered[-1][0])
                self._presend_recovered = len(recovered)
                last_seq = recovered[-1][0]
        if enabled:
            fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.ftruncate(fd, 0)
            self._presend_fd = fd
        elif side.exists():
            side.unlink()
        return last_seq

    def _flush_error(self) -> JournalError:
        return JournalError(f"journal {self.path}: writer failed, records after seq {self._durable} are not "
                            f"durable: {self._error}")

    # --- the writer thread -------------------------------------------------------------------

    def _statement(self, n: int) -> str:
        sql = self._statements.get(n)
        if sql is None:
            sql = self._statements[n] = f"INSERT INTO journal({_COLUMNS}) VALUES " + ",".join(["(?,?,?,?,?,?)"] * n)
        return sql

    def _run(self) -> None:
        con = self._con
        assert con is not None
        queue = self._queue
        wake = self._wake
        popleft = queue.popleft
        crc32 = zlib.crc32
        perf = time.perf_counter_ns
        try:
            while True:
                wake.clear()
                if not queue:
                    if self._stopping:
                        break
                    wake.wait()
                    wake.clear()
                    if self._waiters and not queue:
                        with self._wlock:  # defensive: a waiter already satisfied is released now
                            self._notify_locked()
                    # Gather a batch for up to commit_interval, unless it is already full, a flush
                    # is waiting or we are closing (each of those sets `wake` again).
                    if queue and len(queue) < self._batch_max and not self._waiters and not self._stopping:
                        wake.wait(self._interval_s)
                    continue
                n = len(queue)
                if n > self._queue_high:
                    self._queue_high = n
                if n > self._batch_max:
                    n = self._batch_max
                n = 1 << (n.bit_length() - 1)  # a power of two: few distinct statements to prepare
                tb = perf()
                params: list[Any] = []
                extend = params.extend
                for _ in range(n):
                    seq, ts_ns, kind, cid, payload = popleft()
                    extend((seq, ts_ns, kind, cid, payload,
                            crc32(payload, crc32(f"{seq}\x1f{ts_ns}\x1f{kind}\x1f{cid}\x1f".encode()))))
                t0 = perf()
                try:
                    con.execute(self._statement(n), params)  # autocommit: one fsynced transaction
                except Exception as exc:
                    raise JournalError(f"writing seq {params[0]}..{params[-6]} failed: {exc}") from exc
                took = perf() - t0
                self._build_ns_total += t0 - tb
                self._commit_ns_total += took
                self._last_commit_ns = took
                if took > self._max_commit_ns:
                    self._max_commit_ns = took
                self._committed += n
                self._batches += 1
                self._writer_cpu_ns = time.thread_time_ns()
                # Under the waiters' lock: a flush checks `_durable` and registers in one critical
                # section, so it either sees the new value or is seen by this notify.
                with self._wlock:
                    self._written = params[-6]
                    if not self._group:
                        self._durable = self._written  # FULL: fsynced by the commit; NORMAL: as durable as it gets
                    if self._waiters:
                        self._notify_locked()
                if self._presend_fd is not None:
                    self._presend_committed(params[-6])
                if self._group:
                    self._sync_wake.set()
                written = n * 160 + sum(map(len, params[4::6]))  # ~ row + index bytes
                self._ckpt_bytes += written
                self._wal_bytes += written
                if self._wal_bytes >= _WAL_RESTART_BYTES:
                    self._wal_bytes = self._ckpt_bytes = 0
                    self._checkpoint(wait=True)
                elif self._ckpt_bytes >= _CHECKPOINT_BYTES:
                    self._ckpt_bytes = 0
                    self._checkpoint(wait=False)
        except BaseException as exc:  # noqa: BLE001 - a writer failure must reach every caller
            self._fail(exc)
        finally:
            try:
                con.close()
            except sqlite3.Error as exc:
                if self._error is None:
                    self._fail(exc)

    def _sync_loop(self) -> None:
        """Group commit (synchronous="GROUP"): fsync the WAL within ``group_commit_ms`` of a commit
        (at once when a durable flush waits), then raise the durable watermark to what was written
        before the fsync began. Runs beside the writer, so an fsync never delays a commit."""
        wal = str(self.path) + "-wal"
        fd: int | None = None
        wake, urgent = self._sync_wake, self._sync_urgent
        perf = time.perf_counter_ns
        try:
            while True:
                if self._written <= self._durable:
                    if self._error is not None or (self._stopping and (self._thread is None or not self._thread.is_alive())):
                        break
                    wake.wait()
                    wake.clear()
                    continue
                if not urgent.is_set() and not self._stopping:
                    urgent.wait(self._group_window_s)  # gather the commits of the next few ms
                urgent.clear()
                target = self._written  # committed before the fsync starts: covered by it
                if fd is None:
                    fd = os.open(wal, os.O_RDONLY)  # exists once the writer has committed
                t0 = perf()
                os.fsync(fd)
                took = perf() - t0
                self._syncs += 1
                self._sync_ns_total += took
                if took > self._max_sync_ns:
                    self._max_sync_ns = took
                with self._wlock:
                    if target > self._durable:
                        self._durable = target
                    if self._waiters:
                        self._notify_locked()
        except BaseException as exc:  # noqa: BLE001 - no fsync means nothing more is durable
            self._fail(JournalError(f"fsync of {wal} failed: {exc}"))
        finally:
            if fd is not None:
                os.close(fd)

    def _checkpoint(self, *, wait: bool) -> None:
        """Ask the checkpointer for a checkpoint; with ``wait``, block (the writer) until one that
        started after this call has finished."""
        cond = self._ckpt_cond
        with cond:
            self._ckpt_requested += 1
            want = self._ckpt_requested
            cond.notify_all()
            if not wait:
                return
            deadline = time.monotonic() + 30.0
            while self._ckpt_done < want and not self._ckpt_stop:
                left = deadline - time.monotonic()
                if left <= 0 or (self._ckpt_thread is not None and not self._ckpt_thread.is_alive()):
                    log.warning("journal %s: gave up waiting for a checkpoint; the WAL may keep growing", self.path)
                    return
                cond.wait(left)

    def _checkpoint_loop(self, con: sqlite3.Connection) -> None:
        """Run PASSIVE checkpoints on request, with a connection of its own.

        Checkpointing here rather than inside the writer's commit (``wal_autocheckpoint``) takes
        copying WAL pages into the database file, and its fsync, off the writer's path. But SQLite
        restarts the WAL from its beginning only when a writer starts a transaction after a
        checkpoint has caught up completely, which never happens while the writer keeps committing
        during the copy; so every ``_WAL_RESTART_BYTES`` the writer waits for one checkpoint
        (short: earlier passes have copied most frames) and the WAL stays bounded.
        A checkpoint failure is logged and counted, not fatal: committed data is safe in the WAL,
        which then just grows; the writer's own errors are what stop the journal.
        """
        cond = self._ckpt_cond
        try:
            while True:
                with cond:
                    while self._ckpt_requested == self._ckpt_done and not self._ckpt_stop:
                        cond.wait()
                    if self._ckpt_requested == self._ckpt_done:
                        break  # stopping, nothing pending
                    gen = self._ckpt_requested
                try:
                    con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self._checkpoints += 1
                except sqlite3.Error as exc:
                    self._ckpt_error = str(exc)
                    log.error("journal %s: checkpoint failed (the WAL keeps growing): %s", self.path, exc)
                with cond:
                    self._ckpt_done = gen
                    cond.notify_all()
        finally:
            # Closed after the writer's connection: the last connection to close checkpoints the
            # whole WAL into the database and removes it.
            con.close()

    def _notify_locked(self) -> None:
        """Release the flush waiters whose records are durable (caller holds ``_wlock``)."""
        durable, written = self._durable, self._written
        keep = []
        for w in self._waiters:
            if type(w) is _SyncWaiter:
                mark = durable if w.durable else written
                if w.target > mark:
                    keep.append(w)
                else:
                    w.result = mark
                    w.event.set()
            else:
                mark = durable if w[3] else written
                if w[0] > mark:
                    keep.append(w)
                else:
                    self._call_in_loop(w[1], w[2], mark, None)
        self._waiters = keep

    @staticmethod
    def _call_in_loop(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[int], value: int | None,
                      error: BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(_resolve, fut, value, error)
        except RuntimeError:  # that event loop is closed: nobody is waiting any more
            pass

    def _fail(self, exc: BaseException) -> None:
        err = exc if isinstance(exc, JournalError) else JournalError(f"{type(exc).__name__}: {exc}")
        if err is not exc:
            err.__cause__ = exc
        log.error("journal %s: writer failed: records %d..%d are not durable and nothing more will be written: %s",
                  self.path, self._durable + 1, self._next_seq - 1, err)
        with self._lock:
            self._accepting = False
        self._sync_wake.set()  # a group-commit syncer waiting for commits stops
        with self._wlock:
            self._error = err
            waiters, self._waiters = self._waiters, []
        flush_err = self._flush_error()
        for w in waiters:
            if type(w) is _SyncWaiter:
                w.error = flush_err
                w.event.set()
            else:
                self._call_in_loop(w[1], w[2], None, flush_err)
        self._queue.clear()
        if self._on_error is not None:
            try:
                self._on_error(err)
            except Exception:  # noqa: BLE001 - the error is already recorded and raised to callers
                log.exception("journal %s: on_error callback failed", self.path)

    # --- reading -----------------------------------------------------------------------------

    def scan(self, from_seq: int = 0, *, kinds: Iterable[str] | None = None, correlation_id: str | None = None,
             to_seq: int | None = None) -> Iterator[tuple[JournalRecord, bool]]:
        """Committed records in seq order with whether each one's CRC checks out (for
        inspection tools: nothing is raised for a bad record)."""
        sql = f"SELECT {_COLUMNS} FROM journal WHERE seq >= ?"
        args: list[Any] = [from_seq]
        if to_seq is not None:
            sql += " AND seq <= ?"
            args.append(to_seq)
        if kinds is not None:
            kind_list = [kinds] if isinstance(kinds, str) else list(kinds)
            if not kind_list:
                return
            sql += f" AND kind IN ({','.join('?' * len(kind_list))})"
            args.extend(kind_list)
        if correlation_id is not None:
            sql += " AND correlation_id = ?"
            args.append(correlation_id)
        sql += " ORDER BY seq"
        try:
            con = self._reader()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read journal {self.path}: {exc}") from exc
        try:
            cur = con.execute(sql, args)
            while True:
                rows = cur.fetchmany(1024)
                if not rows:
                    break
                for seq, ts_ns, kind, cid, payload, crc in rows:
                    ok = self._bad_record(seq, ts_ns, kind, cid, payload, crc) is None
                    if not isinstance(payload, bytes):
                        payload = bytes(str(payload), "utf-8") if payload is not None else b""
                    yield JournalRecord(seq, ts_ns, str(kind), str(cid), payload), ok
        except sqlite3.Error as exc:
            raise _sqlite_failure(self.path, exc, "reading") from exc
        finally:
            con.close()

    def replay(self, from_seq: int = 0, *, kinds: Iterable[str] | None = None, correlation_id: str | None = None,
               to_seq: int | None = None) -> Iterator[JournalRecord]:
        """Committed records in seq order, from ``from_seq`` (inclusive) to ``to_seq``
        (inclusive), optionally only some kinds and/or one correlation id. Every record's CRC is
        checked, and an unfiltered read also checks that no seq is missing: a bad record raises
        JournalCorrupt naming its seq."""
        kind_set = None if kinds is None else ({kinds} if isinstance(kinds, str) else set(kinds))
        contiguous = kinds is None and correlation_id is None
        expect: int | None = None
        for rec, ok in self.scan(from_seq, kinds=kind_set, correlation_id=correlation_id, to_seq=to_seq):
            if not ok:
                raise JournalCorrupt(self.path, [f"crc mismatch at seq {rec.seq}"], rec.seq)
            if (kind_set is not None and rec.kind not in kind_set) or (
                    correlation_id is not None and rec.correlation_id != correlation_id):
                raise JournalCorrupt(self.path, [f"index inconsistent with the table at seq {rec.seq}"], rec.seq)
            if contiguous:
                if expect is None:
                    expect = max(from_seq, 1)
                if rec.seq != expect:
                    raise JournalCorrupt(self.path, [f"sequence gap: missing seq {expect}..{rec.seq - 1}"], expect)
                expect = rec.seq + 1
            yield rec

    def verify(self) -> list[str]:
        """Check every committed record (CRC, contiguity) and the file with ``PRAGMA
        integrity_check`` (which also proves the indexes match the table); returns the problems
        found (empty when sound)."""
        problems: list[str] = []
        con = self._reader()
        try:
            problems.extend(self._integrity(con, "full"))
            expect = 1
            for row in con.execute(f"SELECT {_COLUMNS} FROM journal ORDER BY seq"):
                if row[0] != expect:
                    problems.append(f"sequence gap: missing seq {expect}..{row[0] - 1}")
                expect = row[0] + 1
                bad = self._bad_record(*row)
                if bad:
                    problems.append(bad)
        except sqlite3.Error as exc:
            if _is_environment_error(exc):
                raise _sqlite_failure(self.path, exc, "verifying") from exc
            problems.append(f"sqlite: {exc}")
        finally:
            con.close()
        return problems

    def meta(self) -> dict[str, str]:
        con = self._reader()
        try:
            return {k: v for k, v in con.execute("SELECT key, value FROM meta")}
        finally:
            con.close()

    # --- state -------------------------------------------------------------------------------

    def last_seq(self) -> int:
        """The last sequence number handed out (read-only journals: the last committed one,
        read afresh so a follower sees a live writer's progress)."""
        if self.readonly:
            con = self._reader()
            try:
                return con.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()[0]
            finally:
                con.close()
        return self._next_seq - 1

    def durable_seq(self) -> int:
        """The last sequence number fsynced (see the module docstring: durability)."""
        return self.last_seq() if self.readonly else self._durable

    def written_seq(self) -> int:
        """The last sequence number committed (survives a process crash)."""
        return self.last_seq() if self.readonly else max(self._written, self._presend_seq)

    @property
    def error(self) -> JournalError | None:
        """The writer's failure, if it failed."""
        return self._error

    def stats(self) -> dict[str, Any]:
        return {
            "appended": self._next_seq - self._first_seq,
            "committed": self._committed,
            "batches": self._batches,
            "queue_depth": len(self._queue),
            "queue_high_water": self._queue_high,
            "last_seq": self._next_seq - 1,
            "durable_seq": self._durable,
            "written_seq": self._written,
            "presend_seq": self._presend_seq,
            "presend_writes": self._presend_writes,
            "presend_recovered": self._presend_recovered,
            "group_syncs": self._syncs,
            "max_sync_latency_us": round(self._max_sync_ns / 1000, 1),
            "sync_time_total_ms": round(self._sync_ns_total / 1e6, 1),
            "last_commit_latency_us": round(self._last_commit_ns / 1000, 1),
            "max_commit_latency_us": round(self._max_commit_ns / 1000, 1),
            "commit_time_total_ms": round(self._commit_ns_total / 1e6, 1),
            "build_time_total_ms": round(self._build_ns_total / 1e6, 1),
            "writer_cpu_ms": round(self._writer_cpu_ns / 1e6, 1),
            "checkpoints": self._checkpoints,
            "checkpoint_error": self._ckpt_error,
            "error": None if self._error is None else str(self._error),
        }

    # --- closing -----------------------------------------------------------------------------

    def close_sync(self) -> None:
        """Stop accepting appends, drain the queue, commit, close. Idempotent; a second caller
        (another thread, the exit hook) also returns only once everything is drained. Raises
        JournalError when the writer failed (records were lost)."""
        with self._lock:
            self._closed = True
            self._accepting = False
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()  # drains the queue; may still need the checkpointer meanwhile
        if self._sync_thread is not None and self._sync_thread is not threading.current_thread():
            self._sync_urgent.set()  # the last commits: fsync now, then stop
            self._sync_wake.set()
            self._sync_thread.join()
        with self._ckpt_cond:
            self._ckpt_stop = True
            self._ckpt_cond.notify_all()
        if self._ckpt_thread is not None and self._ckpt_thread is not threading.current_thread():
            self._ckpt_thread.join()
        with self._lock:
            self._release()
        _open_journals.discard(self)
        if self._error is not None:
            raise JournalError(f"journal {self.path} closed after its writer failed "
                               f"(durable up to seq {self._durable}): {self._error}")

    async def close(self) -> None:
        """:meth:`close_sync` without blocking the event loop while the writer drains."""
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    def _release(self) -> None:
        if self._presend_fd is not None:
            fd, self._presend_fd = self._presend_fd, None
            os.close(fd)
            if self._thread is not None and self._error is None:
                # closed cleanly: the writer committed everything and the syncer fsynced it
                with contextlib.suppress(OSError):
                    self.path.with_name(self.path.name + "-presend").unlink()
        if self._thread is None and self._con is not None:
            self._con.close()  # never handed to a writer (failed open)
        self._con = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_sync()

    async def __aenter__(self) -> "Journal":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        mode = "readonly" if self.readonly else ("closed" if self._closed else "open")
        return f"<Journal {self.path} {mode} last_seq={self._next_seq - 1} durable={self._durable}>"
