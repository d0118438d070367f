"""arbkit: arbitrage on prediction markets and crypto exchanges."""

__version__ = "0.1.0"
