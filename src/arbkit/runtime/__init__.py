"""Runtime: configuration, wiring at start-up, supervisor, services, control."""
