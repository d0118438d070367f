"""Polymarket (CLOB V2) venue package.

Modules: ``constants`` (endpoints, contracts, EIP-712 strings, rounding, limits), ``auth`` (L1
ClobAuth, L2 HMAC, API credentials), ``signer`` (fast V2 order signer), ``parse`` (wire -> typed
structs -> core values, malformed-message accounting), ``feed`` (market channel), ``user`` (user
channel), ``gateway`` (REST order entry, metadata), ``ratelimit`` (token bucket with 429 handling).
Import the module you need; nothing heavy is imported here.
"""
