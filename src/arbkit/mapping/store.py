"""The mapping store: which Polymarket market is the same contract as which Kalshi market.

One SQLite file (WAL) with a versioned schema. A mapping pairs a Polymarket market (condition id,
YES and NO token ids) with a Kalshi market (ticker) and says which sides are the same outcome
(``polarity``). It starts ``pending``; a person approves it — acknowledging, by code, every
warning discovery attached to it — or rejects it. Only approved mappings reach strategies
(:meth:`MappingStore.approved`).

The *content* of a mapping is every field that defines the contract pairing: the Polymarket ids,
the Kalshi ticker, the polarity and ``terms_hash`` (a hash of both venues' titles, rules,
resolution sources and close times as discovery read them). Changing any of it sends the mapping
back to pending and clears the acknowledgements: an approval is for one exact pairing of one
exact set of terms. Every change is appended to the ``history`` table (never updated, never
deleted), so who approved what, and when, can always be read back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Iterable

SCHEMA_VERSION = 1

log = logging.getLogger("arbkit.mapping.store")


class Polarity(str, Enum):
    SAME = "SAME"  # Polymarket YES is Kalshi YES
    INVERTED = "INVERTED"  # Polymarket YES is Kalshi NO


class MappingStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class MappingError(ValueError):
    """A refused store operation (unknown id, missing acknowledgement, bad transition)."""


@dataclass(frozen=True)
class MappingWarning:
    """A difference that may make the two markets different contracts. ``code`` is what a person
    acknowledges (one of :data:`arbkit.mapping.differences.WARNING_CODES`)."""

    code: str
    detail: str
    severity: str = "different"  # "different" (the contracts differ as written) or "review"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail, "severity": self.severity}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MappingWarning":
        return cls(code=str(d["code"]), detail=str(d.get("detail", "")), severity=str(d.get("severity", "different")))


# Fields whose change sends an approved mapping back to pending.
CONTENT_FIELDS = ("poly_condition_id", "poly_yes_token", "poly_no_token", "kalshi_ticker", "polarity", "terms_hash")
# Descriptive fields discovery may refresh without touching the approval.
DESCRIPTIVE_FIELDS = ("poly_title", "kalshi_title", "score", "recommendation", "details")


@dataclass(frozen=True)
class Mapping:
    id: int
    poly_condition_id: str
    poly_yes_token: str
    poly_no_token: str
    kalshi_ticker: str
    polarity: Polarity
    status: MappingStatus
    warnings: tuple[MappingWarning, ...] = ()
    acknowledged: tuple[str, ...] = ()
    approved_by: str = ""
    approved_ns: int = 0
    rejected_reason: str = ""
    terms_hash: str = ""
    poly_title: str = ""
    kalshi_title: str = ""
    score: float = 0.0
    recommendation: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    created_ns: int = 0
    updated_ns: int = 0
    content_hash: str = ""

    @property
    def key(self) -> str:
        """The isolation key strategies and risk use for this mapping."""
        return f"mapping:{self.id}"

    @property
    def warning_codes(self) -> list[str]:
        return sorted({w.code for w in self.warnings})

    def unacknowledged(self) -> list[str]:
        return [c for c in self.warning_codes if c not in self.acknowledged]


def content_hash(fields: dict[str, Any]) -> str:
    """sha256 over the content fields (stable order, explicit separators)."""
    parts = []
    for name in CONTENT_FIELDS:
        v = fields[name]
        parts.append(f"{name}={v.value if isinstance(v, Enum) else v}")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mappings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    poly_condition_id TEXT NOT NULL,
    poly_yes_token TEXT NOT NULL,
    poly_no_token TEXT NOT NULL,
    kalshi_ticker TEXT NOT NULL,
    polarity TEXT NOT NULL CHECK (polarity IN ('SAME', 'INVERTED')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    warnings TEXT NOT NULL DEFAULT '[]',
    acknowledged TEXT NOT NULL DEFAULT '[]',
    approved_by TEXT NOT NULL DEFAULT '',
    approved_ns INTEGER NOT NULL DEFAULT 0,
    rejected_reason TEXT NOT NULL DEFAULT '',
    terms_hash TEXT NOT NULL DEFAULT '',
    poly_title TEXT NOT NULL DEFAULT '',
    kalshi_title TEXT NOT NULL DEFAULT '',
    score REAL NOT NULL DEFAULT 0,
    recommendation TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}',
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    UNIQUE (poly_condition_id, kalshi_ticker)
);
CREATE INDEX IF NOT EXISTS mappings_status ON mappings (status);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mapping_id INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    status_before TEXT NOT NULL DEFAULT '',
    status_after TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS history_mapping ON history (mapping_id, seq);
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
"""

_COLUMNS = (
    "id", "poly_condition_id", "poly_yes_token", "poly_no_token", "kalshi_ticker", "polarity", "status",
    "warnings", "acknowledged", "approved_by", "approved_ns", "rejected_reason", "terms_hash", "poly_title",
    "kalshi_title", "score", "recommendation", "details", "created_ns", "updated_ns", "content_hash",
)


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    mapping_id: int
    ts_ns: int
    action: str
    actor: str
    status_before: str
    status_after: str
    content_hash: str
    detail: dict[str, Any]


class MappingStore:
    """The SQLite mapping store. Not thread-safe: one owner (the CLI, or the node at start-up)."""

    def __init__(self, path: str | Path, *, clock_ns: Any = time.time_ns) -> None:
        self.path = Path(path)
        self._now = clock_ns
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._init_schema()

    # --- lifecycle ------------------------------------------------------------------------------

    def _init_schema(self) -> None:
        row = None
        has_meta = self._db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if has_meta:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None:
            version = int(row[0])
            if version > SCHEMA_VERSION:
                raise MappingError(
                    f"{self.path}: mapping store schema version {version} is newer than this arbkit "
                    f"understands ({SCHEMA_VERSION}); upgrade arbkit"
                )
            if version < SCHEMA_VERSION:  # pragma: no cover - no older version exists yet
                raise MappingError(f"{self.path}: schema version {version} needs a migration to {SCHEMA_VERSION}")
        self._db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "MappingStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    # --- reading -------------------------------------------------------------------------------

    @staticmethod
    def _row(row: tuple) -> Mapping:
        d = dict(zip(_COLUMNS, row))
        return Mapping(
            id=d["id"],
            poly_condition_id=d["poly_condition_id"],
            poly_yes_token=d["poly_yes_token"],
            poly_no_token=d["poly_no_token"],
            kalshi_ticker=d["kalshi_ticker"],
            polarity=Polarity(d["polarity"]),
            status=MappingStatus(d["status"]),
            warnings=tuple(MappingWarning.from_dict(w) for w in json.loads(d["warnings"])),
            acknowledged=tuple(json.loads(d["acknowledged"])),
            approved_by=d["approved_by"],
            approved_ns=d["approved_ns"],
            rejected_reason=d["rejected_reason"],
            terms_hash=d["terms_hash"],
            poly_title=d["poly_title"],
            kalshi_title=d["kalshi_title"],
            score=d["score"],
            recommendation=d["recommendation"],
            details=json.loads(d["details"]),
            created_ns=d["created_ns"],
            updated_ns=d["updated_ns"],
            content_hash=d["content_hash"],
        )

    def _select(self, where: str = "", args: Iterable[Any] = ()) -> list[Mapping]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM mappings {where} ORDER BY id"
        return [self._row(r) for r in self._db.execute(sql, tuple(args)).fetchall()]

    def get(self, mapping_id: int) -> Mapping:
        rows = self._select("WHERE id = ?", (mapping_id,))
        if not rows:
            raise MappingError(f"no mapping with id {mapping_id}")
        return rows[0]

    def find(self, poly_condition_id: str, kalshi_ticker: str) -> Mapping | None:
        rows = self._select("WHERE poly_condition_id = ? AND kalshi_ticker = ?", (poly_condition_id, kalshi_ticker))
        return rows[0] if rows else None

    def list(self, status: MappingStatus | str | None = None) -> list[Mapping]:
        if status is None:
            return self._select()
        return self._select("WHERE status = ?", (MappingStatus(status).value,))

    def approved(self) -> list[Mapping]:
        """The only mappings a strategy may trade: approved, every warning acknowledged."""
        out = []
        for m in self._select("WHERE status = 'approved'"):
            # Belt and braces: an approved row whose acknowledgements do not cover its warnings
            # (e.g. edited by hand in SQLite) is not handed out.
            if not m.unacknowledged() and m.content_hash == content_hash(_content_of(m)):
                out.append(m)
            else:
                log.error("mapping %s is marked approved but its content hash or acknowledgements do not "
                          "match (edited outside the store?): not handed to strategies", m.id)
        return out

    def history(self, mapping_id: int | None = None) -> list[HistoryEntry]:
        sql = "SELECT seq, mapping_id, ts_ns, action, actor, status_before, status_after, content_hash, detail FROM history"
        args: tuple = ()
        if mapping_id is not None:
            sql += " WHERE mapping_id = ?"
            args = (mapping_id,)
        rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [HistoryEntry(*r[:8], detail=json.loads(r[8])) for r in rows]

    # --- writing -------------------------------------------------------------------------------

    def _tx(self) -> "_Tx":
        return _Tx(self._db)

    def _append_history(self, m: Mapping, action: str, actor: str, before: str, detail: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO history (mapping_id, ts_ns, action, actor, status_before, status_after, content_hash, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (m.id, m.updated_ns, action, actor, before, m.status.value, m.content_hash, json.dumps(detail, sort_keys=True)),
        )

    def _write(self, m: Mapping) -> None:
        self._db.execute(
            "UPDATE mappings SET poly_condition_id=?, poly_yes_token=?, poly_no_token=?, kalshi_ticker=?, polarity=?, "
            "status=?, warnings=?, acknowledged=?, approved_by=?, approved_ns=?, rejected_reason=?, terms_hash=?, "
            "poly_title=?, kalshi_title=?, score=?, recommendation=?, details=?, updated_ns=?, content_hash=? WHERE id=?",
            (
                m.poly_condition_id, m.poly_yes_token, m.poly_no_token, m.kalshi_ticker, m.polarity.value,
                m.status.value, json.dumps([w.to_dict() for w in m.warnings]), json.dumps(list(m.acknowledged)),
                m.approved_by, m.approved_ns, m.rejected_reason, m.terms_hash, m.poly_title, m.kalshi_title,
                float(m.score), m.recommendation, json.dumps(m.details, sort_keys=True), m.updated_ns, m.content_hash, m.id,
            ),
        )

    def add(
        self,
        *,
        poly_condition_id: str,
        poly_yes_token: str,
        poly_no_token: str,
        kalshi_ticker: str,
        polarity: Polarity | str = Polarity.SAME,
        warnings: Iterable[MappingWarning] = (),
        terms_hash: str = "",
        poly_title: str = "",
        kalshi_title: str = "",
        score: float = 0.0,
        recommendation: str = "",
        details: dict[str, Any] | None = None,
        actor: str = "",
    ) -> Mapping:
        """A new pending mapping. Refuses a pair that is already stored (use :meth:`edit`)."""
        fields = {
            "poly_condition_id": _required(poly_condition_id, "poly_condition_id"),
            "poly_yes_token": _required(poly_yes_token, "poly_yes_token"),
            "poly_no_token": _required(poly_no_token, "poly_no_token"),
            "kalshi_ticker": _required(kalshi_ticker, "kalshi_ticker"),
            "polarity": Polarity(polarity),
            "terms_hash": terms_hash,
        }
        if fields["poly_yes_token"] == fields["poly_no_token"]:
            raise MappingError("the YES and NO token ids of a Polymarket market must differ")
        if self.find(poly_condition_id, kalshi_ticker) is not None:
            raise MappingError(f"a mapping of {poly_condition_id} <-> {kalshi_ticker} already exists")
        now = self._now()
        h = content_hash(fields)
        ws = _dedupe(warnings)
        with self._tx():
            cur = self._db.execute(
                "INSERT INTO mappings (poly_condition_id, poly_yes_token, poly_no_token, kalshi_ticker, polarity, status, "
                "warnings, terms_hash, poly_title, kalshi_title, score, recommendation, details, created_ns, updated_ns, "
                "content_hash) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fields["poly_condition_id"], fields["poly_yes_token"], fields["poly_no_token"], fields["kalshi_ticker"],
                    fields["polarity"].value, json.dumps([w.to_dict() for w in ws]), terms_hash, poly_title, kalshi_title,
                    float(score), recommendation, json.dumps(details or {}, sort_keys=True), now, now, h,
                ),
            )
            m = self.get(int(cur.lastrowid))
            self._append_history(m, "created", actor, "", {"warnings": m.warning_codes, "polarity": m.polarity.value})
        return m

    def edit(self, mapping_id: int, *, actor: str = "", reason: str = "", warnings: Iterable[MappingWarning] | None = None,
             **changes: Any) -> Mapping:
        """Change fields of a mapping. A change to any content field (or to the warnings) sends
        it back to pending and clears the acknowledgements and the approval."""
        unknown = set(changes) - set(CONTENT_FIELDS) - set(DESCRIPTIVE_FIELDS)
        if unknown:
            raise MappingError(f"unknown mapping field(s): {', '.join(sorted(unknown))}")
        m = self.get(mapping_id)
        if "polarity" in changes:
            changes["polarity"] = Polarity(changes["polarity"])
        for name in ("poly_condition_id", "poly_yes_token", "poly_no_token", "kalshi_ticker"):
            if name in changes:
                _required(changes[name], name)
        new = replace(m, **changes)
        if new.poly_yes_token == new.poly_no_token:
            raise MappingError("the YES and NO token ids of a Polymarket market must differ")
        new_ws = _dedupe(warnings) if warnings is not None else m.warnings
        content_changed = [f for f in CONTENT_FIELDS if getattr(new, f) != getattr(m, f)]
        warnings_changed = {w.code for w in new_ws} != {w.code for w in m.warnings}
        new = replace(new, warnings=new_ws, updated_ns=self._now(), content_hash=content_hash(_content_of(new)))
        if not content_changed and not warnings_changed and new == replace(m, updated_ns=new.updated_ns):
            return m  # nothing changed: no history noise
        reset = bool(content_changed or warnings_changed)
        if reset:
            new = replace(new, status=MappingStatus.PENDING, acknowledged=(), approved_by="", approved_ns=0, rejected_reason="")
        before = m.status.value
        with self._tx():
            self._write(new)
            detail: dict[str, Any] = {"changed": sorted(set(content_changed) | ({"warnings"} if warnings_changed else set())
                                                       | {f for f in DESCRIPTIVE_FIELDS if getattr(new, f) != getattr(m, f)})}
            if reason:
                detail["reason"] = reason
            if reset and before != MappingStatus.PENDING.value:
                detail["back_to_pending"] = True
            self._append_history(new, "edited", actor, before, detail)
        return new

    def approve(self, mapping_id: int, *, by: str, ack: Iterable[str] = ()) -> Mapping:
        """Approve, acknowledging warnings by code. Every warning must be acknowledged; an
        acknowledgement naming a warning the mapping does not carry is refused (a typo must not
        pass for a review)."""
        by = (by or "").strip()
        if not by:
            raise MappingError("approve needs the name of the person approving (--by)")
        m = self.get(mapping_id)
        if m.status is MappingStatus.APPROVED:
            raise MappingError(f"mapping {mapping_id} is already approved (by {m.approved_by})")
        if m.status is MappingStatus.REJECTED:
            raise MappingError(f"mapping {mapping_id} is rejected ({m.rejected_reason}); reopen it before approving")
        acks = sorted({a.strip() for a in ack if a and a.strip()})
        extra = [a for a in acks if a not in m.warning_codes]
        if extra:
            raise MappingError(
                f"mapping {mapping_id} has no warning(s) {', '.join(extra)}; its warnings are: "
                f"{', '.join(m.warning_codes) or 'none'}"
            )
        missing = [c for c in m.warning_codes if c not in acks]
        if missing:
            details = "; ".join(f"{w.code}: {w.detail}" for w in m.warnings if w.code in missing)
            raise MappingError(f"mapping {mapping_id}: unacknowledged warning(s) {', '.join(missing)} ({details})")
        now = self._now()
        new = replace(m, status=MappingStatus.APPROVED, acknowledged=tuple(acks), approved_by=by, approved_ns=now,
                      rejected_reason="", updated_ns=now)
        with self._tx():
            self._write(new)
            self._append_history(new, "approved", by, m.status.value, {"acknowledged": acks})
        return new

    def reject(self, mapping_id: int, *, reason: str, by: str = "") -> Mapping:
        reason = (reason or "").strip()
        if not reason:
            raise MappingError("reject needs a reason (--reason)")
        m = self.get(mapping_id)
        now = self._now()
        new = replace(m, status=MappingStatus.REJECTED, rejected_reason=reason, acknowledged=(), approved_by="",
                      approved_ns=0, updated_ns=now)
        with self._tx():
            self._write(new)
            self._append_history(new, "rejected", by, m.status.value, {"reason": reason})
        return new

    def reopen(self, mapping_id: int, *, by: str = "", reason: str = "") -> Mapping:
        """Back to pending (e.g. a rejected mapping whose rules were fixed)."""
        m = self.get(mapping_id)
        if m.status is MappingStatus.PENDING:
            return m
        now = self._now()
        new = replace(m, status=MappingStatus.PENDING, acknowledged=(), approved_by="", approved_ns=0,
                      rejected_reason="", updated_ns=now)
        with self._tx():
            self._write(new)
            self._append_history(new, "reopened", by, m.status.value, {"reason": reason} if reason else {})
        return new


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _content_of(m: Mapping) -> dict[str, Any]:
    return {f: getattr(m, f) for f in CONTENT_FIELDS}


def _required(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{name} must be a non-empty string")
    return value.strip()


def _dedupe(warnings: Iterable[MappingWarning]) -> tuple[MappingWarning, ...]:
    """One entry per (code, detail), in a stable order."""
    seen: dict[tuple[str, str], MappingWarning] = {}
    for w in warnings:
        seen.setdefault((w.code, w.detail), w)
    return tuple(sorted(seen.values(), key=lambda w: (w.code, w.detail)))

