"""The worker's side of the case-system contract: the protocol, the HTTP client, the outbox."""

from callscribe.writeback.contract import CaseSubmission, CaseSystem, StoredCase

__all__ = ["CaseSubmission", "CaseSystem", "StoredCase"]
