"""Kalshi REST and WebSocket error shapes.

REST errors are ``{"error": {"code": str, "message": str, "details": str}}`` (Kalshi's OpenAPI
``ErrorResponse``; ``details`` optional) with the HTTP statuses of the OpenAPI spec (400 bad
request, 401 unauthorized, 404 not found, 409 conflict, 429 rate limit, 500/503 server errors).

Which ``code`` string Kalshi puts in each case is documented only partly. Provenance of each entry:

* ``authentication_error`` (401): a real body quoted in public bug reports.
* ``fill_or_kill_insufficient_resting_volume`` (409): real responses quoted by several public
  clients (a fill-or-kill order that cannot fill completely is answered with 409, not an order).
* the others: this simulator's assumed spelling, kept in this one table so a correction is one line.

WebSocket errors are ``{"id": n, "type": "error", "msg": {"code": int, "msg": str}}`` with the
codes of docs.kalshi.com "Quick Start: WebSockets".
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


class ErrorBody(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    details: str = ""


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody


@dataclass(frozen=True, slots=True)
class KalshiError:
    status: int
    code: str
    message: str


# name -> (HTTP status, code, default message)
ERRORS: dict[str, KalshiError] = {
    "auth": KalshiError(401, "authentication_error", "authentication_error"),
    "bad_request": KalshiError(400, "bad_request", "bad request"),
    "invalid_parameters": KalshiError(400, "invalid_parameters", "invalid parameters"),
    "invalid_price": KalshiError(400, "invalid_price", "invalid price"),
    "insufficient_balance": KalshiError(400, "insufficient_balance", "insufficient balance"),
    "post_only_cross": KalshiError(400, "post_only_cross", "post only order would cross"),
    "market_closed": KalshiError(400, "market_closed", "market is closed"),
    "trading_paused": KalshiError(400, "trading_is_paused", "trading is paused"),
    "self_trade": KalshiError(400, "self_trade", "order would trade against your own order"),
    "order_rejected": KalshiError(400, "order_rejected", "order rejected"),
    "reduce_only": KalshiError(400, "reduce_only_no_position", "reduce only order has no position to reduce"),
    "fok": KalshiError(409, "fill_or_kill_insufficient_resting_volume", "fill or kill insufficient resting volume"),
    "duplicate_client_order_id": KalshiError(409, "order_already_exists", "order already exists"),
    "not_found": KalshiError(404, "not_found", "not found"),
    # The retired legacy order mutations (POST/DELETE /portfolio/orders[...]); code as reported by
    # clients that met it on prod and demo (see docs/venues/kalshi.md; the body's message and
    # details texts are not documented: ours are assumptions).
    "deprecated_v1": KalshiError(410, "deprecated_v1_order_endpoint", "this order endpoint has been retired"),
    "market_not_found": KalshiError(404, "market_not_found", "market not found"),
    "rate_limit": KalshiError(429, "too_many_requests", "too many requests"),
    "internal": KalshiError(500, "internal_server_error", "internal server error"),
    "unavailable": KalshiError(503, "service_unavailable", "service unavailable"),
}

_ENCODER = msgspec.json.Encoder()


def error_body(name: str, details: str = "", message: str | None = None) -> tuple[int, bytes]:
    """(HTTP status, JSON body) of error ``name``; ``details`` says what exactly was wrong."""
    err = ERRORS[name]
    body = ErrorEnvelope(error=ErrorBody(code=err.code, message=message or err.message, details=details))
    return err.status, _ENCODER.encode(body)


def error_object(name: str, details: str = "") -> dict[str, str]:
    """The inner error object (batch responses carry it per item)."""
    err = ERRORS[name]
    out = {"code": err.code, "message": err.message}
    if details:
        out["details"] = details
    return out


# WebSocket error codes (docs.kalshi.com, Quick Start: WebSockets).
WS_UNABLE_TO_PROCESS = 1
WS_PARAMS_REQUIRED = 2
WS_CHANNELS_REQUIRED = 3
WS_SIDS_REQUIRED = 4
WS_UNKNOWN_COMMAND = 5
WS_ALREADY_SUBSCRIBED = 6
WS_UNKNOWN_SID = 7
WS_UNKNOWN_CHANNEL = 8
WS_AUTH_REQUIRED = 9
WS_CHANNEL_ERROR = 10
WS_INVALID_PARAMETER = 11
WS_EXACTLY_ONE_SID = 12
WS_UNSUPPORTED_ACTION = 13
WS_MARKET_TICKER_REQUIRED = 14
WS_ACTION_REQUIRED = 15
WS_MARKET_NOT_FOUND = 16
WS_INTERNAL = 17

WS_MESSAGES = {
    WS_UNABLE_TO_PROCESS: "Unable to process message",
    WS_PARAMS_REQUIRED: "Params required",
    WS_CHANNELS_REQUIRED: "Channels required",
    WS_SIDS_REQUIRED: "Subscription IDs required",
    WS_UNKNOWN_COMMAND: "Unknown command",
    WS_ALREADY_SUBSCRIBED: "Already subscribed",
    WS_UNKNOWN_SID: "Unknown subscription ID",
    WS_UNKNOWN_CHANNEL: "Unknown channel name",
    WS_AUTH_REQUIRED: "Authentication required",
    WS_CHANNEL_ERROR: "Channel error",
    WS_INVALID_PARAMETER: "Invalid parameter",
    WS_EXACTLY_ONE_SID: "Exactly one subscription ID is required",
    WS_UNSUPPORTED_ACTION: "Unsupported action",
    WS_MARKET_TICKER_REQUIRED: "Market ticker required",
    WS_ACTION_REQUIRED: "Action required",
    WS_MARKET_NOT_FOUND: "Market not found",
    WS_INTERNAL: "Internal error",
}
