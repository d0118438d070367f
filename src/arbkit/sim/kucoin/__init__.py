"""KuCoin spot simulator: a spot matching engine with per-currency accounts and the KuCoin REST +
WebSocket protocol (bullet tokens, HF orders, level-2 by sequence, private order/balance events)."""
