"""Case system stage: the write-back contract, its clients, and the embedded case desk."""

from callscribe.casesystem.base import CaseSubmission, CaseSystem, StoredCase
from callscribe.casesystem.embedded import EmbeddedCaseDesk

__all__ = ["CaseSubmission", "CaseSystem", "EmbeddedCaseDesk", "StoredCase"]
