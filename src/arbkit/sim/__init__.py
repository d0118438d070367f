"""Venue simulator: matching engine and protocol-faithful Polymarket and Kalshi servers."""
