"""Bus: in-process topics (coalescing for market data, FIFO never-drop for orders) and the NNG bridge."""
