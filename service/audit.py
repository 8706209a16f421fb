"""Verification of the audit ledger, and Merkle proofs over it.

``verify_ledger`` streams the whole store in batches (constant memory) and recomputes every
hash, the chain, and the Merkle root at each checkpoint, checking signatures under a
pinned public key. It works on a live store or on an exported bundle (``LedgerSource``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Protocol
from uuid import UUID

import orjson

from crypto.ledger import GENESIS, SignedTreeHead, chain_hash, event_hash
from crypto.merkle import Frontier, consistency_proof, inclusion_proof, leaf_hash, root_of
from crypto.signing import PinnedKey
from storage.recorders import ENTRY_WITH_EVENT, EntryWithEvent, LedgerRecorder

BATCH = 5000


class LedgerSource(Protocol):
    """Where verification reads from: the live store, or an exported bundle."""

    def entries_with_events(self, after_seq: int, limit: int) -> list[EntryWithEvent]: ...

    def first_event_without_entry(self) -> int | None: ...

    def checkpoints(self) -> list[SignedTreeHead]: ...

    def head(self) -> SignedTreeHead | None: ...


class StoreSource:
    """The live event store's ledger."""

    def __init__(self, recorder: LedgerRecorder) -> None:
        self.recorder = recorder

    def entries_with_events(self, after_seq: int, limit: int) -> list[EntryWithEvent]:
        return self.recorder.entries_with_events(after_seq, limit)

    def first_event_without_entry(self) -> int | None:
        return self.recorder.first_event_without_entry()

    def checkpoints(self) -> list[SignedTreeHead]:
        rows = self.recorder.query("SELECT * FROM ledger_checkpoints ORDER BY size")
        return [SignedTreeHead.from_dict(r) for r in rows]

    def head(self) -> SignedTreeHead | None:
        rows = self.recorder.query("SELECT * FROM ledger_head WHERE id = 1")
        return SignedTreeHead.from_dict(rows[0]) if rows else None


@dataclass
class Verdict:
    """``{ok, checked, head}``, or ``{ok: false, first_bad_position, reason}``."""

    ok: bool
    checked: int
    head: dict[str, Any] | None = None
    first_bad_position: int | None = None
    reason: str | None = None
    unchecked: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, "checked": self.checked, "head": self.head}
        return {
            "ok": False,
            "checked": self.checked,
            "first_bad_position": self.first_bad_position,
            "reason": self.reason,
        }


class _Tampered(Exception):
    def __init__(self, position: int, reason: str) -> None:
        super().__init__(reason)
        self.position = position
        self.reason = reason


def _check_signed(signed: SignedTreeHead, pinned: PinnedKey, what: str, position: int) -> None:
    if not signed.verify(pinned):
        raise _Tampered(position, f"{what} signature does not verify under the pinned key")


def _check_root(
    signed: SignedTreeHead, frontier: Frontier, chain: bytes, position: int, what: str
) -> None:
    head = signed.head
    if (
        head.root_hash != frontier.root().hex()
        or head.chain_hash != chain.hex()
        or head.position != position
    ):
        raise _Tampered(position, f"{what} at size {head.size} does not match the entries")


def verify_ledger(
    source: LedgerSource,
    public_key: str,
    progress: Callable[[int], None] | None = None,
) -> Verdict:
    """Recompute everything; name the first bad position and why, or report the head.

    ``public_key`` is the ledger key the caller trusts (base64); without a well-formed one
    this raises at once (:class:`crypto.signing.KeyNotPinned`, ``MalformedPublicKey``),
    even for an empty ledger, rather than report a verdict nothing was checked against.
    """
    pinned = PinnedKey.parse(public_key, "ledger public key")
    checked = 0
    try:
        checked, frontier, chain, position = _walk(source, pinned, progress)
        _check_tail(source, pinned, checked, frontier, chain, position)
    except _Tampered as bad:
        return Verdict(False, checked, first_bad_position=bad.position, reason=bad.reason)
    head = {"size": checked, "root_hash": frontier.root().hex(), "position": position}
    return Verdict(True, checked, head=head)


def _walk(
    source: LedgerSource, pinned: PinnedKey, progress: Callable[[int], None] | None
) -> tuple[int, Frontier, bytes, int]:
    with ThreadPoolExecutor(2, thread_name_prefix="verify-read") as reader:
        pages = _prefetched(source, reader)  # the first page and the orphan search (a scan
        orphan = reader.submit(source.first_event_without_entry)  # of every event) at once
        checkpoints = {c.head.size: c for c in source.checkpoints()}
        return _check_entries(pages, orphan.result(), checkpoints, pinned, progress)


def _check_entries(
    pages: Iterator[list[EntryWithEvent]],
    orphan: int | None,
    checkpoints: dict[int, SignedTreeHead],
    pinned: PinnedKey,
    progress: Callable[[int], None] | None,
) -> tuple[int, Frontier, bytes, int]:
    chain, frontier, seq, last = GENESIS, Frontier(), 0, 0
    for rows in pages:
        for seq_, position, stored_hash, stored_chain, originator, version, topic, state in rows:
            if orphan is not None and orphan < position:
                raise _Tampered(orphan, "stored event has no ledger entry")
            if seq_ != seq + 1:
                raise _Tampered(position, "ledger entries missing before this position")
            if position <= last:
                raise _Tampered(position, "ledger entries out of order")
            if topic is None or state is None or version is None:
                raise _Tampered(position, "stored event missing")
            digest = event_hash(
                position,
                originator if isinstance(originator, UUID) else UUID(str(originator)),
                version,
                topic,
                state,
            )
            if digest.hex() != stored_hash:
                raise _Tampered(position, "stored event does not match its ledger entry")
            chain = chain_hash(chain, digest)
            if chain.hex() != stored_chain:
                raise _Tampered(position, "ledger chain broken")
            frontier.append(leaf_hash(digest))
            seq, last = seq_, position
            checkpoint = checkpoints.get(seq)
            if checkpoint is not None:
                _check_signed(checkpoint, pinned, "checkpoint", position)
                _check_root(checkpoint, frontier, chain, position, "checkpoint")
        if progress:
            progress(seq)
    if orphan is not None:
        raise _Tampered(orphan, "stored event has no ledger entry")
    beyond = [size for size in checkpoints if size > seq]
    if beyond:
        raise _Tampered(
            last + 1, f"ledger truncated: checkpoint of size {max(beyond)}, {seq} entries"
        )
    return seq, frontier, chain, last


def _prefetched(source: LedgerSource, reader: Executor) -> Iterator[list[EntryWithEvent]]:
    """The entries in batches, the next one read by ``reader`` while this one is checked:
    the database's time and the hashing overlap. Which rows come next depends only on
    the last seq of the batch before, so nothing the check decides is skipped. The first
    batch is asked for at once, before the first is taken."""
    return _pages(source, reader, reader.submit(source.entries_with_events, 0, BATCH))


def _pages(
    source: LedgerSource, reader: Executor, following: Future[list[EntryWithEvent]]
) -> Iterator[list[EntryWithEvent]]:
    while rows := following.result():
        following = reader.submit(source.entries_with_events, rows[-1][0], BATCH)
        yield rows


def _check_tail(
    source: LedgerSource, pinned: PinnedKey, size: int, frontier: Frontier, chain: bytes, last: int
) -> None:
    head = source.head()
    if head is None:
        if size:
            raise _Tampered(1, "the ledger has entries but no signed head")
        return
    _check_signed(head, pinned, "ledger head", last)
    if head.head.size > size:
        raise _Tampered(last + 1, f"ledger truncated: signed head of size {head.head.size}")
    if head.head.size < size:
        rows = source.entries_with_events(head.head.size, 1)
        raise _Tampered(rows[0][1], "entries after the signed head are unsigned")
    _check_root(head, frontier, chain, last, "ledger head")


# Proofs


class ProofError(ValueError):
    """A proof was asked for sizes or positions the ledger does not have."""


def _leaves(recorder: LedgerRecorder, size: int) -> list[bytes]:
    rows = recorder.query(
        "SELECT event_hash FROM ledger_entries WHERE seq <= :size ORDER BY seq", {"size": size}
    )
    if len(rows) != size:
        raise ProofError(f"the ledger has fewer than {size} entries")
    return [leaf_hash(bytes.fromhex(r["event_hash"])) for r in rows]


def _checkpoint(recorder: LedgerRecorder, size: int) -> dict[str, Any] | None:
    rows = recorder.query("SELECT * FROM ledger_checkpoints WHERE size = :size", {"size": size})
    return SignedTreeHead.from_dict(rows[0]).as_dict() if rows else None


def checkpoint_now(recorder: LedgerRecorder) -> dict[str, Any] | None:
    """Store the current signed head as a checkpoint (for auditors who want one at once,
    rather than within the checkpointer's delay); ``None`` while the ledger is empty."""
    recorder.checkpoint_head()
    return latest_checkpoint(recorder)


def latest_checkpoint(recorder: LedgerRecorder) -> dict[str, Any] | None:
    rows = recorder.query("SELECT * FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
    return SignedTreeHead.from_dict(rows[0]).as_dict() if rows else None


def current_checkpoint(recorder: LedgerRecorder) -> dict[str, Any] | None:
    """The latest checkpoint; when the ledger has entries but none was ever stored (a
    deployment older than the first-entry checkpoint), one is stored from the signed head
    on the spot. ``None`` only while the ledger is empty."""
    return latest_checkpoint(recorder) or checkpoint_now(recorder)


def prove_inclusion(recorder: LedgerRecorder, position: int, size: int | None) -> dict[str, Any]:
    """The audit path of the event at ``position`` in the tree of ``size`` entries
    (default: the latest checkpoint), with that checkpoint when one was signed."""
    rows = recorder.query(
        "SELECT seq, event_hash FROM ledger_entries WHERE position = :p", {"p": position}
    )
    if not rows:
        raise ProofError("no ledger entry at that position")
    if size is None:
        latest = current_checkpoint(recorder)
        if latest is None:
            raise ProofError("no checkpoint yet")
        size = int(latest["size"])
    index = int(rows[0]["seq"]) - 1
    if index >= size:
        raise ProofError("the entry is not in a tree of that size")
    leaves = _leaves(recorder, size)
    return {
        "position": position,
        "leaf_index": index,
        "tree_size": size,
        "event_hash": rows[0]["event_hash"],
        "leaf_hash": leaves[index].hex(),
        "audit_path": [h.hex() for h in inclusion_proof(leaves, index)],
        "root_hash": root_of(leaves).hex(),
        "checkpoint": _checkpoint(recorder, size),
    }


def prove_consistency(recorder: LedgerRecorder, first: int, second: int) -> dict[str, Any]:
    if not 0 < first <= second:
        raise ProofError("sizes must satisfy 0 < first <= second")
    leaves = _leaves(recorder, second)
    return {
        "first": first,
        "second": second,
        "first_root": root_of(leaves[:first]).hex(),
        "second_root": root_of(leaves).hex(),
        "proof": [h.hex() for h in consistency_proof(leaves, first)],
        "first_checkpoint": _checkpoint(recorder, first),
        "second_checkpoint": _checkpoint(recorder, second),
    }


# Bundles: the ledger exported to one file, verifiable offline.


def export_bundle(recorder: LedgerRecorder, out: IO[bytes]) -> int:
    """Write JSON lines: every entry with its event, orphan events, checkpoints, the head."""
    source = StoreSource(recorder)
    count, seq = 0, 0
    while rows := recorder.entries_with_events(seq, BATCH):
        for row in rows:
            record: dict[str, Any] = {
                **dict(zip(ENTRY_WITH_EVENT, row, strict=True)),
                "kind": "entry",
            }
            if record["state"] is not None:
                record["state"] = base64.b64encode(record["state"]).decode()
                record["originator_id"] = str(record["originator_id"])
            out.write(orjson.dumps(record) + b"\n")
            seq, count = row[0], count + 1
    orphan = recorder.first_event_without_entry()
    if orphan is not None:
        out.write(orjson.dumps({"kind": "orphan", "position": orphan}) + b"\n")
    for checkpoint in source.checkpoints():
        out.write(orjson.dumps({"kind": "checkpoint", **checkpoint.as_dict()}) + b"\n")
    head = source.head()
    if head is not None:
        out.write(orjson.dumps({"kind": "head", **head.as_dict()}) + b"\n")
    return count


class BundleSource:
    """An exported bundle, read in two passes: metadata first, then entries streamed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._checkpoints: list[SignedTreeHead] = []
        self._head: SignedTreeHead | None = None
        self._orphan: int | None = None
        for number, record in self._records():
            with _line(number, record.get("kind")):
                kind = record.pop("kind", None)
                if kind == "checkpoint":
                    self._checkpoints.append(SignedTreeHead.from_dict(record))
                elif kind == "head":
                    self._head = SignedTreeHead.from_dict(record)
                elif kind == "orphan":
                    self._orphan = int(record["position"])
        self._entries: Iterator[tuple[int, dict[str, Any]]] | None = None
        self._last_seq = 0

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Each non-empty line with its number, as a JSON object."""
        with open(self.path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    with _line(number, "record"):
                        record = orjson.loads(line)
                    if not isinstance(record, dict):
                        raise MalformedBundle(f"bundle line {number}: not a JSON object")
                    yield number, record

    def entries_with_events(self, after_seq: int, limit: int) -> list[EntryWithEvent]:
        if self._entries is None or after_seq < self._last_seq:
            self._entries = ((n, r) for n, r in self._records() if r.get("kind") == "entry")
        batch: list[EntryWithEvent] = []
        for number, record in self._entries:
            with _line(number, "entry"):
                entry = _entry_of(record)
            self._last_seq = entry[0]
            if self._last_seq <= after_seq:
                continue
            batch.append(entry)
            if len(batch) == limit:
                break
        return batch

    def first_event_without_entry(self) -> int | None:
        return self._orphan

    def checkpoints(self) -> list[SignedTreeHead]:
        return self._checkpoints

    def head(self) -> SignedTreeHead | None:
        return self._head


class MalformedBundle(ValueError):
    """A bundle line that does not parse as what it says it is: edited or damaged. The
    command line reports it (which line, which part) and exits non-zero."""


@contextmanager
def _line(number: int, kind: object) -> Iterator[None]:
    try:
        yield
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else type(exc).__name__
        raise MalformedBundle(f"bundle line {number}: not a well-formed {kind} ({what})") from None


def _entry_of(record: dict[str, Any]) -> EntryWithEvent:
    """A bundle's entry line as the store gives it."""
    state = record.get("state")
    version = record.get("originator_version")
    return (
        int(record["seq"]),
        int(record["position"]),
        str(record["event_hash"]),
        str(record["chain_hash"]),
        record.get("originator_id"),
        None if version is None else int(version),
        record.get("topic"),
        None if state is None else base64.b64decode(state),
    )
