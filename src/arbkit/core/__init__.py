"""Domain model: venues, instruments, exact numbers, events, books, clock. No I/O here."""
