"""The embedded case desk's domain, without a web framework: cases, their review and audit
trail, and the accounts of the people and services who use it."""

from callscribe.desk.models import CaseStatus
from callscribe.desk.store import CaseFilter, EmbeddedCaseDesk

__all__ = ["CaseFilter", "CaseStatus", "EmbeddedCaseDesk"]
