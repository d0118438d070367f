"""Risk: synchronous pre-trade checks, capital reservations, kill switch."""
