"""Bus: in-process topics (coalescing for market data, FIFO never-drop for orders) and the NNG bridge."""

from arbkit.bus.local import Bus, Subscription, TopicPolicy

__all__ = ["Bus", "Subscription", "TopicPolicy"]
