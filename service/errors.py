"""Errors of the service layer (lookups and concurrency), beside the domain's rule errors."""

from __future__ import annotations

from domain.errors import DomainError


class NotFound(DomainError):
    """No such resource in the caller's tenant (another tenant's ids look the same)."""

    code = "not-found"
    title = "Not found"


class ConcurrentWrite(DomainError):
    """Another command changed the aggregate first; re-read and try again."""

    code = "concurrent-write"
    title = "Conflict"


class Gone(DomainError):
    """The subject was erased; its personal data no longer exists anywhere."""

    code = "erased"
    title = "Gone"
