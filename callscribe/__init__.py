"""callscribe: Mandarin hotline calls in, filled work orders out."""

from callscribe.errors import (
    CallscribeError,
    PermanentError,
    RetryableError,
)
from callscribe.schema import CallAudio, CaseFields, Evidence, Segment, Transcript, Word

__all__ = [
    "CallAudio",
    "CallscribeError",
    "CaseFields",
    "Evidence",
    "PermanentError",
    "RetryableError",
    "Segment",
    "Transcript",
    "Word",
]

__version__ = "0.1.0"
