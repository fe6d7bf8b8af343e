"""Audio stage: decode a recorded call, validate it, keep its channels, resample to 16 kHz."""

from callscribe.audio.decode import decode_call_audio
from callscribe.audio.fingerprint import fingerprint_file

__all__ = ["decode_call_audio", "fingerprint_file"]
