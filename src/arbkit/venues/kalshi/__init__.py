"""Kalshi trade API v2 venue package: fixed-point market feed, user stream (fills), RSA-PSS gateway.

Same file roles as every venue: ``constants``, ``auth`` (signing), ``parse`` (wire -> core),
``feed`` (market data WS), ``user`` (private WS), ``gateway`` (REST orders), plus ``fees`` (the
documented fee rounding) and ``ratelimit``.
"""
