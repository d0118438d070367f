"""Venue-independent pieces every venue package reuses: REST rate limiting (``ratelimit``),
malformed-message accounting (``malformed``), the reconnecting WebSocket loop and connection
state (``ws``), feed watchdog checks (``watchdog``), raw-frame recording (``recorder``) and the
``arbkit feed`` top-of-book printer (``watch``). Venue protocol handling stays in each venue."""
