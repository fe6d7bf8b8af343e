"""Summarize stage: transcript -> work-order fields, each with evidence and confidence."""

from callscribe.summarize.fields import extract_case_fields

__all__ = ["extract_case_fields"]
