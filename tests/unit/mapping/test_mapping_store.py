"""Mapping store on a real SQLite file: approval needs every acknowledgement, edits go back to
pending, rejected mappings never reach strategies, history is append-only, schema is versioned."""

from __future__ import annotations

import sqlite3

import pytest

from arbkit.mapping.store import (
    SCHEMA_VERSION,
    MappingError,
    MappingStatus,
    MappingStore,
    MappingWarning,
    Polarity,
)

W_SRC = MappingWarning("resolution_source", "CF Benchmarks vs Binance")
W_POL = MappingWarning("polarity", "YES here is NO there", "review")


class Ticker:
    def __init__(self) -> None:
        self.t = 1_000

    def __call__(self) -> int:
        self.t += 1
        return self.t


@pytest.fixture
def store(tmp_path):
    s = MappingStore(tmp_path / "m.db", clock_ns=Ticker())
    yield s
    s.close()


def add(store: MappingStore, cond: str = "0xc1", ticker: str = "KX-1", warnings=(W_SRC, W_POL), **kw):
    return store.add(poly_condition_id=cond, poly_yes_token=f"{cond}-y", poly_no_token=f"{cond}-n", kalshi_ticker=ticker,
                     polarity=kw.pop("polarity", Polarity.INVERTED), warnings=warnings, terms_hash="t1", **kw)


def test_new_mapping_is_pending_and_not_returned(store):
    m = add(store)
    assert m.status is MappingStatus.PENDING
    assert m.warning_codes == ["polarity", "resolution_source"]
    assert store.approved() == []
    assert m.created_ns == m.updated_ns > 0 and len(m.content_hash) == 64


def test_approve_requires_every_warning_acknowledged(store):
    m = add(store)
    with pytest.raises(MappingError, match="unacknowledged warning\\(s\\) resolution_source") as e:
        store.approve(m.id, by="alice", ack=["polarity"])
    assert "CF Benchmarks vs Binance" in str(e.value)
    with pytest.raises(MappingError, match="polarity, resolution_source"):
        store.approve(m.id, by="alice")
    with pytest.raises(MappingError, match="no warning\\(s\\) threshold"):
        store.approve(m.id, by="alice", ack=["polarity", "resolution_source", "threshold"])
    with pytest.raises(MappingError, match="--by"):
        store.approve(m.id, by=" ", ack=["polarity", "resolution_source"])
    assert store.get(m.id).status is MappingStatus.PENDING
    ok = store.approve(m.id, by="alice", ack=["resolution_source", "polarity"])
    assert ok.status is MappingStatus.APPROVED and ok.approved_by == "alice" and ok.approved_ns > 0
    assert ok.acknowledged == ("polarity", "resolution_source")
    assert [x.id for x in store.approved()] == [m.id]
    with pytest.raises(MappingError, match="already approved"):
        store.approve(m.id, by="bob", ack=["polarity", "resolution_source"])


def test_mapping_without_warnings_approves_without_acks(store):
    m = add(store, warnings=())
    assert store.approve(m.id, by="alice").status is MappingStatus.APPROVED


@pytest.mark.parametrize("field,value", [
    ("polarity", Polarity.SAME), ("kalshi_ticker", "KX-2"), ("poly_yes_token", "other-y"),
    ("poly_no_token", "other-n"), ("poly_condition_id", "0xc9"), ("terms_hash", "t2"),
])
def test_editing_content_sends_back_to_pending_and_clears_acks(store, field, value):
    m = add(store)
    store.approve(m.id, by="alice", ack=["polarity", "resolution_source"])
    before = store.get(m.id).content_hash
    e = store.edit(m.id, actor="bob", **{field: value})
    assert e.status is MappingStatus.PENDING
    assert e.acknowledged == () and e.approved_by == "" and e.approved_ns == 0
    assert e.content_hash != before
    assert store.approved() == []
    h = store.history(m.id)[-1]
    assert h.action == "edited" and h.status_before == "approved" and h.status_after == "pending"
    assert h.detail["back_to_pending"] is True and field in h.detail["changed"]


def test_descriptive_edit_keeps_the_approval(store):
    m = add(store)
    store.approve(m.id, by="alice", ack=["polarity", "resolution_source"])
    e = store.edit(m.id, score=0.9, poly_title="new wording of the title")
    assert e.status is MappingStatus.APPROVED and e.acknowledged == ("polarity", "resolution_source")
    assert [x.id for x in store.approved()] == [m.id]


def test_new_warning_sends_back_to_pending(store):
    m = add(store, warnings=())
    store.approve(m.id, by="alice")
    e = store.edit(m.id, warnings=[MappingWarning("date_window", "Dec 15 vs Dec 31")])
    assert e.status is MappingStatus.PENDING
    with pytest.raises(MappingError, match="date_window"):
        store.approve(m.id, by="alice")


def test_rejected_is_never_returned_and_cannot_be_approved_until_reopened(store):
    m = add(store, warnings=())
    r = store.reject(m.id, reason="different weather station", by="carol")
    assert r.status is MappingStatus.REJECTED and r.rejected_reason == "different weather station"
    assert store.approved() == []
    with pytest.raises(MappingError, match="rejected"):
        store.approve(m.id, by="alice")
    with pytest.raises(MappingError, match="reason"):
        store.reject(m.id, reason="")
    store.reopen(m.id, by="carol", reason="rules fixed")
    assert store.approve(m.id, by="alice").status is MappingStatus.APPROVED


def test_reject_an_approved_mapping_withdraws_it(store):
    m = add(store, warnings=())
    store.approve(m.id, by="alice")
    store.reject(m.id, reason="venue changed the source")
    assert store.approved() == []


def test_duplicates_and_bad_input_are_refused(store):
    add(store)
    with pytest.raises(MappingError, match="already exists"):
        add(store)
    with pytest.raises(MappingError, match="kalshi_ticker"):
        add(store, cond="0xc2", ticker="")
    with pytest.raises(MappingError, match="must differ"):
        store.add(poly_condition_id="0xc3", poly_yes_token="a", poly_no_token="a", kalshi_ticker="K")
    with pytest.raises(ValueError):
        add(store, cond="0xc4", polarity="SIDEWAYS")
    with pytest.raises(MappingError, match="no mapping with id 999"):
        store.get(999)
    with pytest.raises(MappingError, match="unknown mapping field"):
        store.edit(1, status="approved")


def test_history_is_complete_and_append_only(store, tmp_path):
    m = add(store)
    store.approve(m.id, by="alice", ack=["polarity", "resolution_source"])
    store.edit(m.id, polarity=Polarity.SAME, actor="bob", reason="polarity was wrong")
    store.reject(m.id, reason="not the same", by="carol")
    actions = [(h.action, h.actor, h.status_before, h.status_after) for h in store.history(m.id)]
    assert actions == [
        ("created", "", "", "pending"),
        ("approved", "alice", "pending", "approved"),
        ("edited", "bob", "approved", "pending"),
        ("rejected", "carol", "pending", "rejected"),
    ]
    assert store.history(m.id)[1].detail == {"acknowledged": ["polarity", "resolution_source"]}
    db = sqlite3.connect(tmp_path / "m.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM history")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE history SET actor='mallory'")
    db.close()


def test_hand_edited_row_is_not_handed_to_strategies(store, tmp_path):
    """An 'approved' row changed behind the store's back (content hash no longer matches, or an
    acknowledgement removed) is not returned by approved()."""
    m = add(store)
    store.approve(m.id, by="alice", ack=["polarity", "resolution_source"])
    db = sqlite3.connect(tmp_path / "m.db")
    db.execute("UPDATE mappings SET kalshi_ticker='KX-OTHER' WHERE id=?", (m.id,))
    db.commit()
    assert store.approved() == []
    db.execute("UPDATE mappings SET kalshi_ticker='KX-1', acknowledged='[\"polarity\"]' WHERE id=?", (m.id,))
    db.commit()
    db.close()
    assert store.approved() == []


def test_schema_is_versioned_and_persistent(tmp_path):
    path = tmp_path / "m.db"
    with MappingStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        m = add(s)
    with MappingStore(path) as s:
        assert s.get(m.id).kalshi_ticker == "KX-1"
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(MappingError, match="newer"):
        MappingStore(path)
