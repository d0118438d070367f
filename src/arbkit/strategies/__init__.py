"""Strategies: read facts, emit intents. They never import the executor or a venue client."""
