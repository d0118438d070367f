"""Journal: append-only SQLite (WAL) memory of every decision, order, fill and transition."""
