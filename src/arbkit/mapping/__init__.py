"""Cross-venue market mapping: discovery, differences, approval store."""
