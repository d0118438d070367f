"""Simulated Kalshi trade API v2 (fixed-point schema): REST, WebSocket, RSA-PSS auth, fees."""
