"""Journal: append-only SQLite (WAL) memory of every decision, order, fill and transition."""

from arbkit.journal.store import (
    CRC_SPEC,
    SCHEMA_VERSION,
    Journal,
    JournalCorrupt,
    JournalError,
    JournalRecord,
    record_crc,
)

__all__ = [
    "CRC_SPEC",
    "SCHEMA_VERSION",
    "Journal",
    "JournalCorrupt",
    "JournalError",
    "JournalRecord",
    "record_crc",
]
