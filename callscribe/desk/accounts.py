"""Who may use the case desk: people (operators, QA) with passwords, services with tokens.

- People sign in with a password (argon2id hashes) and get a session token, which the web
  app sends back as a bearer token or in an HttpOnly cookie (for the browser pages).
- Services (the worker's write-back, call recorders) use long random tokens made by
  ``callscribe tokens add``; ``CALLSCRIBE_DESK_WORKER_TOKEN`` may name one more for the worker.
- Only SHA-256 digests of tokens are stored; the token itself is shown once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callscribe.db import utcnow
from callscribe.desk.models import SessionRow, TokenRow, UserRow
from callscribe.errors import ConfigurationError, RetryableError

__all__ = [
    "PEOPLE_ROLES",
    "SERVICE_ROLES",
    "AuthStore",
    "PasswordCheckGate",
    "Principal",
    "SignInBusy",
]

log = logging.getLogger(__name__)

PEOPLE_ROLES = ("operator", "qa", "qa-redacted")
"""``qa-redacted``: a QA auditor who may not see personal data (the desk shows them redacted
cases, see :mod:`callscribe.desk.redact`)."""
SERVICE_ROLES = ("worker", "recorder")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD_CHARS = 8

_SERVICE_PREFIX = "cst_"
_SESSION_PREFIX = "css_"
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Whoever a request acts for."""

    name: str
    role: str
    kind: str
    """``user`` (a person signed in) or ``service`` (a token)."""

    @property
    def actor(self) -> str:
        """How the audit trail names them."""
        return self.name if self.kind == "user" else f"token:{self.name}"


@dataclass(frozen=True)
class SignIn:
    token: str
    expires_at: datetime
    principal: Principal


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so they take as long as known ones; made on
    first use, not at import (about 0.2 s), since every command imports this module."""
    return _hasher.hash("not a password: equalises timing for unknown users")


class SignInBusy(RetryableError):
    """More sign-ins wait for a password check than the desk queues (HTTP 503, Retry-After)."""


class PasswordCheckGate:
    """Bounds argon2 work: ``concurrent`` checks at once, ``waiting`` more may wait for a turn.

    Each check costs about 64 MiB and a core for a tenth of a second, so a flood of sign-ins
    would otherwise take every worker thread and all memory, and the rest of the app (health
    checks, the worker's write-backs) with it. A sign-in that finds the queue full is refused at
    once instead of waiting.

    Args:
        concurrent: password checks running at once.
        waiting: sign-ins allowed to wait for a turn.
        wait_s: the longest a sign-in waits for its turn before it is refused.
    """

    def __init__(self, *, concurrent: int = 2, waiting: int = 8, wait_s: float = 10.0) -> None:
        self.concurrent = concurrent
        self.waiting = waiting
        self._wait_s = wait_s
        self._turns = threading.BoundedSemaphore(concurrent)
        self._admitted = 0
        self._lock = threading.Lock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold one of the turns for a password check.

        Raises:
            SignInBusy: every turn is taken and the queue is full, or the wait ran out.
        """
        with self._lock:
            if self._admitted >= self.concurrent + self.waiting:
                raise SignInBusy("too many sign-ins at once; try again in a moment")
            self._admitted += 1
        try:
            if not self._turns.acquire(timeout=self._wait_s):
                raise SignInBusy("sign-ins are queued too long; try again in a moment")
            try:
                yield
            finally:
                self._turns.release()
        finally:
            with self._lock:
                self._admitted -= 1


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit"
        )


class AuthStore:
    """Users, service tokens and sessions in the store.

    Args:
        engine: the store.
        worker_token: an extra worker token from the settings (compared in constant time).
        session_hours: how long a sign-in lasts.
        password_checks: the gate every sign-in passes (see :meth:`sign_in`).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        worker_token: str | None = None,
        session_hours: float = 12.0,
        password_checks: PasswordCheckGate | None = None,
    ) -> None:
        self.engine = engine
        self._worker_token = worker_token
        self.session_lifetime = timedelta(hours=session_hours)
        self.password_checks = password_checks or PasswordCheckGate()

    def add_user(self, username: str, role: str, password: str) -> None:
        """Create a person's account.

        Raises:
            ConfigurationError: bad name, role or password, or the name is taken.
        """
        _check_name(username)
        if role not in PEOPLE_ROLES:
            raise ConfigurationError(f"role {role!r}: choose one of {', '.join(PEOPLE_ROLES)}")
        _check_password(password)
        password_hash = _hasher.hash(password)
        try:
            with Session(self.engine) as session, session.begin():
                session.add(UserRow(username=username, role=role, password_hash=password_hash))
        except IntegrityError as err:
            raise ConfigurationError(f"user {username!r} exists already") from err

    def disable_user(self, username: str) -> None:
        """Stop a person signing in, and end the sessions they have.

        Raises:
            ConfigurationError: no such user.
        """
        with Session(self.engine) as session, session.begin():
            _user(session, username).active = False
            _end_sessions(session, username)
        log.info("user %s disabled", username)

    def enable_user(self, username: str) -> None:
        """Let a disabled person sign in again.

        Raises:
            ConfigurationError: no such user.
        """
        with Session(self.engine) as session, session.begin():
            _user(session, username).active = True
        log.info("user %s enabled", username)

    def set_password(self, username: str, password: str) -> None:
        """Replace a person's password and end the sessions opened with the old one.

        Raises:
            ConfigurationError: no such user, or the password is too short.
        """
        _check_password(password)
        password_hash = _hasher.hash(password)
        with Session(self.engine) as session, session.begin():
            _user(session, username).password_hash = password_hash
            _end_sessions(session, username)
        log.info("user %s has a new password", username)

    def list_users(self) -> list[tuple[str, str, bool]]:
        with Session(self.engine) as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
            return [(r.username, r.role, r.active) for r in rows]

    def add_token(self, name: str, role: str) -> str:
        """Create a service token and return it; only its digest is kept.

        Raises:
            ConfigurationError: bad name or role, or the name is taken.
        """
        _check_name(name)
        if role not in SERVICE_ROLES:
            raise ConfigurationError(f"role {role!r}: choose one of {', '.join(SERVICE_ROLES)}")
        token = _SERVICE_PREFIX + secrets.token_urlsafe(32)
        try:
            with Session(self.engine) as session, session.begin():
                session.add(
                    TokenRow(
                        token_id=str(uuid.uuid4()), name=name, role=role, token_hash=_digest(token)
                    )
                )
        except IntegrityError as err:
            raise ConfigurationError(f"token {name!r} exists already") from err
        return token

    def revoke_token(self, name: str) -> bool:
        """Revoke a service token by name. Returns whether one was active."""
        with Session(self.engine) as session, session.begin():
            row = session.scalars(select(TokenRow).where(TokenRow.name == name)).first()
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = utcnow()
            return True

    def list_tokens(self) -> list[tuple[str, str, bool]]:
        """(name, role, active) of every service token."""
        with Session(self.engine) as session:
            rows = session.scalars(select(TokenRow).order_by(TokenRow.name)).all()
            return [(r.name, r.role, r.revoked_at is None) for r in rows]

    def sign_in(
        self, username: str, password: str, *, admit: Callable[[], None] | None = None
    ) -> SignIn | None:
        """Check a password and open a session; None when either is wrong.

        The check waits for a turn at :attr:`password_checks`. ``admit`` runs once the turn is
        held, before any argon2 work, and may raise to refuse the attempt: a throttle checked
        there also counts the failures of the attempts that were queued before this one.

        Raises:
            SignInBusy: no turn for a password check now.
        """
        with self.password_checks.turn():
            if admit is not None:
                admit()
            return self._sign_in(username, password)

    def _sign_in(self, username: str, password: str) -> SignIn | None:
        """No transaction is open while argon2 runs: on SQLite every transaction takes the write
        lock, and one held for each password check made every other request wait behind them."""
        with Session(self.engine) as session:
            user = session.get(UserRow, username) if NAME_PATTERN.match(username) else None
            stored = (user.password_hash, user.role) if user is not None and user.active else None
        if stored is None:
            _verify(_dummy_hash(), password)
            return None
        password_hash, role = stored
        if not _verify(password_hash, password):
            return None
        rehashed = _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None
        with Session(self.engine) as session, session.begin():
            user = session.get(UserRow, username)
            if user is None or not user.active or user.password_hash != password_hash:
                return None
            if rehashed is not None:
                user.password_hash = rehashed
            now = utcnow()
            session.execute(
                delete(SessionRow).where(
                    SessionRow.username == username, SessionRow.expires_at < now
                )
            )
            token = _SESSION_PREFIX + secrets.token_urlsafe(32)
            expires_at = now + self.session_lifetime
            session.add(
                SessionRow(session_hash=_digest(token), username=username, expires_at=expires_at)
            )
        log.info("user %s signed in", username)
        return SignIn(token, expires_at, Principal(username, role, "user"))

    def sign_out(self, token: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(delete(SessionRow).where(SessionRow.session_hash == _digest(token)))

    def authenticate(self, token: str) -> Principal | None:
        """Whom a bearer or cookie token stands for; None when unknown, revoked or expired."""
        if self._worker_token and hmac.compare_digest(token.encode(), self._worker_token.encode()):
            return Principal("settings", "worker", "service")
        digest = _digest(token)
        with Session(self.engine) as session:
            if token.startswith(_SERVICE_PREFIX):
                row = session.scalars(select(TokenRow).where(TokenRow.token_hash == digest)).first()
                if row is None or row.revoked_at is not None:
                    return None
                return Principal(row.name, row.role, "service")
            if token.startswith(_SESSION_PREFIX):
                found = session.execute(
                    select(SessionRow.expires_at, UserRow)
                    .join(UserRow, UserRow.username == SessionRow.username)
                    .where(SessionRow.session_hash == digest)
                ).first()
                if found is None or not found[1].active:
                    return None
                expires_at, user = found
                if expires_at.tzinfo is None:
                    expires_at = expires_at.replace(tzinfo=utcnow().tzinfo)
                if expires_at <= utcnow():
                    return None
                return Principal(user.username, user.role, "user")
        return None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigurationError(f"password: at least {MIN_PASSWORD_CHARS} characters")


def _user(session: Session, username: str) -> UserRow:
    user = session.get(UserRow, username) if NAME_PATTERN.match(username) else None
    if user is None:
        raise ConfigurationError(f"no user named {username!r}")
    return user


def _end_sessions(session: Session, username: str) -> None:
    session.execute(delete(SessionRow).where(SessionRow.username == username))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
