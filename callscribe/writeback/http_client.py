"""The HTTP write-back client: an external case system, or the embedded desk over HTTP.

The contract (docs/ and :mod:`callscribe.web.app` publish it as OpenAPI):

- ``PUT /api/cases/{call_id}`` with a bearer token and ``{"call_id", "status", "fields",
  "transcript", "metadata"}`` answers 200 (updated) or 201 (created) with the stored case. The call
  id is the idempotency key, which is what makes every retry below safe: a PUT that timed out
  after the server applied it is simply applied again.
- 409: the case is in a state the worker may not overwrite (an operator confirmed it).
- ``GET /api/cases/{call_id}`` answers the stored case or 404. Errors are ``{"detail": "..."}``.

Timeouts, connection errors, 429 and 5xx are retried here a few times with exponential backoff
and full jitter (tenacity), honouring ``Retry-After``; when those attempts run out the caller
gets :class:`~callscribe.errors.CaseSystemUnavailable` and the queue retries the job later, from
the transcript and fields the ledger already holds. Any other 4xx is
:class:`~callscribe.errors.WriteBackRejected` with the server's message.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from callscribe import defaults
from callscribe.errors import (
    CaseSystemUnavailable,
    ConfigurationError,
    WriteBackConflict,
    WriteBackRejected,
)
from callscribe.settings import Settings
from callscribe.writeback.contract import CaseSubmission, StoredCase

__all__ = ["HttpCaseSystem", "parse_retry_after"]

log = logging.getLogger(__name__)

DETAIL_MAX_CHARS = 300
"""Characters of a server's error message kept in logs and the ledger."""

_STORED_KEYS = ("case_id", "call_id", "status", "fields", "transcript", "created_at", "updated_at")


class _Transient(Exception):
    """One request that failed in a way worth repeating."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HttpCaseSystem:
    """A :class:`~callscribe.writeback.contract.CaseSystem` spoken to over HTTP with httpx.

    Args:
        base_url: The case system's root, e.g. ``https://cases.example.gov/``.
        token: Bearer token of the worker's own account.
        timeout_s: Timeout of each request (connect, read, write, pool).
        attempts: Requests per call, the first included, before giving up to the queue.
        backoff_s: Base of the exponential backoff; waits are uniform in [0, base * 2**n].
        backoff_max_s: Cap of one wait. A ``Retry-After`` longer than this is not slept
            in-process: the error goes up at once, carrying the server's delay.
        transport: An httpx transport (tests, proxies); default a plain connection pool.
        sleep: How to wait between attempts.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = defaults.CASE_SYSTEM_TIMEOUT_S,
        attempts: int = defaults.CASE_SYSTEM_ATTEMPTS,
        backoff_s: float = defaults.CASE_SYSTEM_BACKOFF_S,
        backoff_max_s: float = defaults.CASE_SYSTEM_BACKOFF_MAX_S,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"CALLSCRIBE_CASE_SYSTEM_URL: {base_url!r} is not an http:// or https:// URL"
            )
        if not token:
            raise ConfigurationError(
                "CALLSCRIBE_CASE_SYSTEM_TOKEN: required when CALLSCRIBE_CASE_SYSTEM_URL is set"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.backoff_max_s = backoff_max_s
        self._backoff = wait_random_exponential(multiplier=backoff_s, max=backoff_max_s)
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpCaseSystem:
        """The client for ``CALLSCRIBE_CASE_SYSTEM_URL`` and its token and timings."""
        if not settings.case_system_url:
            raise ConfigurationError("CALLSCRIBE_CASE_SYSTEM_URL: not set")
        token = settings.case_system_token.get_secret_value() if settings.case_system_token else ""
        return cls(
            settings.case_system_url,
            token,
            timeout_s=settings.case_system_timeout_s,
            attempts=settings.case_system_attempts,
            backoff_s=settings.case_system_backoff_s,
            backoff_max_s=settings.case_system_backoff_max_s,
        )

    def upsert_case(self, submission: CaseSubmission) -> StoredCase:
        """Create or update the case of ``submission.call_id``.

        Raises:
            WriteBackConflict: 409; the server's message is kept.
            WriteBackRejected: any other 4xx (bad token, invalid body); the server's message kept.
            CaseSystemUnavailable: timeouts, connection errors, 429 or 5xx on every attempt.
        """
        call_id = submission.call_id
        body = {
            "call_id": call_id,
            "status": submission.status,
            "fields": submission.fields.to_dict(),
            "transcript": submission.transcript.to_dict(),
            "metadata": submission.metadata,
        }
        response = self._request("PUT", call_id, json=body)
        if response.status_code in (200, 201):
            stored = _stored_case(response, call_id)
            log.info(
                "call %s: case system %s case %s",
                call_id,
                "created" if response.status_code == 201 else "updated",
                stored.case_id,
            )
            return stored
        detail = _detail(response)
        if response.status_code == 409:
            raise WriteBackConflict(
                f"call {call_id}: case system kept its case (HTTP 409: {detail})"
            )
        raise WriteBackRejected(
            f"call {call_id}: case system refused the case (HTTP {response.status_code}: {detail})"
        )

    def get_case(self, call_id: str) -> StoredCase | None:
        """The stored case of ``call_id``, or None when the case system has none."""
        response = self._request("GET", call_id)
        if response.status_code == 200:
            return _stored_case(response, call_id)
        if response.status_code == 404:
            return None
        raise WriteBackRejected(
            f"call {call_id}: case system refused to read the case "
            f"(HTTP {response.status_code}: {_detail(response)})"
        )

    def healthy(self) -> bool:
        """Whether ``GET /healthz`` answers 2xx now (one request, no retries)."""
        try:
            return self._client.get("/healthz").is_success
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpCaseSystem:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, call_id: str, **kwargs: Any) -> httpx.Response:
        path = f"/api/cases/{quote(call_id, safe='')}"
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._worth_another_try),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(call_id, method, state),
            reraise=True,
        )
        try:
            return retrying(self._send_once, method, path, **kwargs)
        except _Transient as err:
            tries = retrying.statistics.get("attempt_number", 1)
            raise CaseSystemUnavailable(
                f"call {call_id}: case system at {self.base_url} unavailable "
                f"after {tries} attempt(s): {err}",
                retry_after=err.retry_after,
            ) from err

    def _send_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as err:
            raise _Transient(f"{type(err).__name__} after {self.timeout_s:g}s") from err
        except httpx.TransportError as err:
            raise _Transient(f"{type(err).__name__}: {err}") from err
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(
                f"HTTP {response.status_code}: {_detail(response)}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        return response

    def _worth_another_try(self, err: BaseException) -> bool:
        if not isinstance(err, _Transient):
            return False
        return err.retry_after is None or err.retry_after <= self.backoff_max_s

    def _wait(self, state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome is not None else None
        if isinstance(err, _Transient) and err.retry_after is not None:
            return err.retry_after
        return float(self._backoff(state))

    @staticmethod
    def _log_retry(call_id: str, method: str, state: RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "call %s: %s attempt %d failed (%s); next in %.2fs",
            call_id,
            method,
            state.attempt_number,
            err,
            wait,
        )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _detail(response: httpx.Response) -> str:
    """The server's message: ``detail`` of a JSON error, else the start of the body, one line."""
    text = response.text
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
    text = " ".join(text.split()) or response.reason_phrase or "no message"
    return text[:DETAIL_MAX_CHARS]


def _stored_case(response: httpx.Response, call_id: str) -> StoredCase:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or any(key not in body for key in _STORED_KEYS):
        raise CaseSystemUnavailable(
            f"call {call_id}: case system answered HTTP {response.status_code} "
            "with a body that is not a stored case"
        )
    if body["call_id"] != call_id:
        raise CaseSystemUnavailable(
            f"call {call_id}: case system answered with the case of call {body['call_id']}"
        )
    return StoredCase(
        case_id=str(body["case_id"]),
        call_id=str(body["call_id"]),
        status=str(body["status"]),
        fields=dict(body["fields"]),
        transcript=dict(body["transcript"]),
        created_at=str(body["created_at"]),
        updated_at=str(body["updated_at"]),
    )
