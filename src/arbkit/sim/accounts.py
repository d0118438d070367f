"""Simulated venue accounts: cash per currency, shares per (market, outcome), reservations.

Everything is held in integers: cash in ``CASH_UNIT`` (1e-6), shares in lots of ``SIZE_UNIT``
(0.01). ``total`` includes ``reserved``; ``available = total - reserved``. Nothing here lets
``available`` or ``total`` go below zero: a method that would do so raises ``ValueError``, and the
engine checks first so that never happens during matching.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from arbkit.sim.events import Outcome

CASH_UNIT = Decimal("0.000001")
SIZE_UNIT = Decimal("0.01")


def cash_to_units(amount: Decimal) -> int:
    q, r = divmod(amount, CASH_UNIT)
    if r != 0:
        raise ValueError(f"cash amount {amount} is not a multiple of {CASH_UNIT}")
    return int(q)


def units_to_cash(units: int) -> Decimal:
    return Decimal(units).scaleb(-6)  # exact, always 6 decimals


def size_to_lots(size: Decimal) -> int:
    q, r = divmod(size, SIZE_UNIT)
    if r != 0:
        raise ValueError(f"size {size} is not a multiple of {SIZE_UNIT}")
    return int(q)


def lots_to_size(lots: int) -> Decimal:
    return Decimal(lots).scaleb(-2)  # exact, always 2 decimals


class BalanceView(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    total: Decimal
    reserved: Decimal
    available: Decimal


class PositionView(msgspec.Struct, frozen=True, kw_only=True):
    market_id: str
    outcome: Outcome
    symbol: str
    size: Decimal
    reserved: Decimal
    available: Decimal


class Accounts:
    """All accounts of one simulated venue."""

    def __init__(self) -> None:
        # account -> currency -> [total_units, reserved_units]
        self._cash: dict[str, dict[str, list[int]]] = {}
        # account -> (market_id, outcome) -> [total_lots, reserved_lots]
        self._pos: dict[str, dict[tuple[str, Outcome], list[int]]] = {}
        # (market_id, outcome) -> symbol, filled in by the engine for views
        self.symbols: dict[tuple[str, Outcome], str] = {}

    # --- lifecycle ---------------------------------------------------------------------------

    def create(self, account_id: str, balances: dict[str, Decimal] | None = None) -> None:
        """Create an account (idempotent) and deposit ``balances``."""
        if not account_id:
            raise ValueError("account_id must be non-empty")
        self._cash.setdefault(account_id, {})
        self._pos.setdefault(account_id, {})
        for cur, amount in (balances or {}).items():
            self.deposit(account_id, cur, amount)

    def exists(self, account_id: str) -> bool:
        return account_id in self._cash

    def account_ids(self) -> list[str]:
        return list(self._cash)

    def deposit(self, account_id: str, currency: str, amount: Decimal) -> None:
        if amount < 0:
            raise ValueError("deposit must be non-negative")
        self.credit_cash(account_id, currency, cash_to_units(amount))

    def withdraw(self, account_id: str, currency: str, amount: Decimal) -> None:
        self.debit_cash(account_id, currency, cash_to_units(amount))

    # --- cash (integer units) ------------------------------------------------------------------

    def _cash_slot(self, account_id: str, currency: str) -> list[int]:
        try:
            acct = self._cash[account_id]
        except KeyError:
            raise KeyError(f"unknown account {account_id!r}") from None
        slot = acct.get(currency)
        if slot is None:
            slot = acct[currency] = [0, 0]
        return slot

    def cash_available(self, account_id: str, currency: str) -> int:
        s = self._cash_slot(account_id, currency)
        return s[0] - s[1]

    def credit_cash(self, account_id: str, currency: str, units: int, *, held: bool = False) -> None:
        """Add cash; ``held`` adds it reserved (received by a trade that is going to fail)."""
        if units < 0:
            raise ValueError("credit must be non-negative")
        s = self._cash_slot(account_id, currency)
        s[0] += units
        if held:
            s[1] += units

    def debit_cash(self, account_id: str, currency: str, units: int, *, from_reserved: bool = False) -> None:
        if units < 0:
            raise ValueError("debit must be non-negative")
        s = self._cash_slot(account_id, currency)
        if from_reserved:
            if s[1] < units:
                raise ValueError(f"{account_id}: reserved {currency} below {units}")
            s[1] -= units
        elif s[0] - s[1] < units:
            raise ValueError(f"{account_id}: available {currency} below {units}")
        s[0] -= units

    def reserve_cash(self, account_id: str, currency: str, units: int) -> bool:
        s = self._cash_slot(account_id, currency)
        if units < 0 or s[0] - s[1] < units:
            return False
        s[1] += units
        return True

    def release_cash(self, account_id: str, currency: str, units: int) -> None:
        s = self._cash_slot(account_id, currency)
        if units < 0 or s[1] < units:
            raise ValueError(f"{account_id}: cannot release {units} of reserved {s[1]} {currency}")
        s[1] -= units

    # --- positions (integer lots) --------------------------------------------------------------

    def _pos_slot(self, account_id: str, market_id: str, outcome: Outcome) -> list[int]:
        try:
            acct = self._pos[account_id]
        except KeyError:
            raise KeyError(f"unknown account {account_id!r}") from None
        key = (market_id, outcome)
        slot = acct.get(key)
        if slot is None:
            slot = acct[key] = [0, 0]
        return slot

    def pos_available(self, account_id: str, market_id: str, outcome: Outcome) -> int:
        s = self._pos_slot(account_id, market_id, outcome)
        return s[0] - s[1]

    def pos_total(self, account_id: str, market_id: str, outcome: Outcome) -> int:
        return self._pos_slot(account_id, market_id, outcome)[0]

    def credit_pos(self, account_id: str, market_id: str, outcome: Outcome, lots: int, *, held: bool = False) -> None:
        if lots < 0:
            raise ValueError("credit must be non-negative")
        s = self._pos_slot(account_id, market_id, outcome)
        s[0] += lots
        if held:
            s[1] += lots

    def debit_pos(
        self, account_id: str, market_id: str, outcome: Outcome, lots: int, *, from_reserved: bool = False
    ) -> None:
        if lots < 0:
            raise ValueError("debit must be non-negative")
        s = self._pos_slot(account_id, market_id, outcome)
        if from_reserved:
            if s[1] < lots:
                raise ValueError(f"{account_id}: reserved shares of {market_id}/{outcome.value} below {lots}")
            s[1] -= lots
        elif s[0] - s[1] < lots:
            raise ValueError(f"{account_id}: available shares of {market_id}/{outcome.value} below {lots}")
        s[0] -= lots

    def reserve_pos(self, account_id: str, market_id: str, outcome: Outcome, lots: int) -> bool:
        s = self._pos_slot(account_id, market_id, outcome)
        if lots < 0 or s[0] - s[1] < lots:
            return False
        s[1] += lots
        return True

    def release_pos(self, account_id: str, market_id: str, outcome: Outcome, lots: int) -> None:
        s = self._pos_slot(account_id, market_id, outcome)
        if lots < 0 or s[1] < lots:
            raise ValueError(f"{account_id}: cannot release {lots} reserved shares")
        s[1] -= lots

    # --- views -------------------------------------------------------------------------------

    def balance(self, account_id: str, currency: str) -> BalanceView:
        acct = self._cash.get(account_id)
        if acct is None:
            raise KeyError(f"unknown account {account_id!r}")
        total, reserved = acct.get(currency, (0, 0))
        return BalanceView(
            currency=currency,
            total=units_to_cash(total),
            reserved=units_to_cash(reserved),
            available=units_to_cash(total - reserved),
        )

    def balances(self, account_id: str) -> list[BalanceView]:
        acct = self._cash.get(account_id)
        if acct is None:
            raise KeyError(f"unknown account {account_id!r}")
        return [self.balance(account_id, cur) for cur in sorted(acct)]

    def position(self, account_id: str, market_id: str, outcome: Outcome) -> PositionView:
        acct = self._pos.get(account_id)
        if acct is None:
            raise KeyError(f"unknown account {account_id!r}")
        total, reserved = acct.get((market_id, outcome), (0, 0))
        return PositionView(
            market_id=market_id,
            outcome=outcome,
            symbol=self.symbols.get((market_id, outcome), ""),
            size=lots_to_size(total),
            reserved=lots_to_size(reserved),
            available=lots_to_size(total - reserved),
        )

    def positions(self, account_id: str) -> list[PositionView]:
        acct = self._pos.get(account_id)
        if acct is None:
            raise KeyError(f"unknown account {account_id!r}")
        return [
            self.position(account_id, m, o)
            for (m, o), (total, reserved) in sorted(acct.items(), key=lambda kv: (kv[0][0], kv[0][1].value))
            if total or reserved
        ]

    def snapshot(self, account_id: str) -> dict[str, Any]:
        """JSON-able state of one account (Decimals as strings)."""
        return {
            "account_id": account_id,
            "balances": [msgspec.to_builtins(b) for b in self.balances(account_id)],
            "positions": [msgspec.to_builtins(p) for p in self.positions(account_id)],
        }

    # --- totals (conservation checks) ----------------------------------------------------------

    def total_cash_units(self, currency: str) -> int:
        return sum(acct.get(currency, (0, 0))[0] for acct in self._cash.values())

    def total_pos_lots(self, market_id: str, outcome: Outcome) -> int:
        return sum(acct.get((market_id, outcome), (0, 0))[0] for acct in self._pos.values())

    def all_non_negative(self) -> bool:
        for acct in self._cash.values():
            for total, reserved in acct.values():
                if total < 0 or reserved < 0 or reserved > total:
                    return False
        for pacct in self._pos.values():
            for total, reserved in pacct.values():
                if total < 0 or reserved < 0 or reserved > total:
                    return False
        return True
