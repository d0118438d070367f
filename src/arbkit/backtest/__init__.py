"""Backtests: recorded venue data replayed through the node's own feeds, strategies, risk and
execution on a simulated clock (``runner``), against a simulated exchange per venue (``exchange``);
recordings (``recording``, docs/recording.md) and imports of third-party data (``importers``)."""
