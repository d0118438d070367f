"""Execution: the decision path, multi-leg sagas, backends, reconciliation, recovery."""
