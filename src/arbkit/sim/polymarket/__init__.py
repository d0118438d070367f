"""Simulated Polymarket CLOB V2 venue: EIP-712/HMAC auth, wire messages, REST + WS server."""
