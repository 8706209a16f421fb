"""Errors of the service layer (lookups and concurrency), beside the domain's rule errors."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.errors import DomainError, VersionMismatch


class NotFound(DomainError):
    """No such resource in the caller's tenant (another tenant's ids look the same)."""

    code = "not-found"
    title = "Not found"


class ConcurrentWrite(DomainError):
    """Another command changed the aggregate first; re-read and try again."""

    code = "concurrent-write"
    title = "Conflict"


class CommitFailed(DomainError):
    """The event store could not commit a command (the database, the signer or its KMS
    failed): nothing of it was stored, so the caller may retry."""

    code = "commit-failed"
    title = "Service unavailable"


def check_version(aggregate: Aggregate, expected_version: int | None) -> None:
    """``If-Match`` on a command: refuse it when the aggregate moved on since it was read."""
    if expected_version is not None and expected_version != aggregate.version:
        raise VersionMismatch(expected_version, aggregate.version)
