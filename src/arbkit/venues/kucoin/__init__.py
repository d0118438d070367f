"""KuCoin spot venue package: HF order gateway, level-2 market feed, private order/balance stream.
Every wire behaviour relied on is listed with its source in docs/venues/kucoin.md."""
