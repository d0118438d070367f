"""Venue packages. Each has the same file roles: feed, user, gateway, auth, parse, constants."""
