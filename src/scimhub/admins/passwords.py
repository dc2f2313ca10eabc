"""Password hashing (argon2) off the event loop, with bounded concurrency.

argon2 is CPU-heavy on purpose (~0.1-0.2 s per check here). Run on the event loop, 8 concurrent failed
sign-ins took a tenant's SCIM `GET /Users` p99 from 8 ms to 1,464 ms (issue #11). Here every hash and check
runs on one dedicated thread (argon2-cffi releases the GIL while it computes), so at most one check uses the
CPU at a time whatever arrives, and at most `MAX_WAITING` more wait for it: beyond that an attempt is refused
at once (`SignInBusy`) without computing anything. The limits are per process (a web process, the CLI).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from scimhub.admins.model import AdminError, SignInBusy

MIN_PASSWORD = 12
HASH_THREADS = 1  # one core of two stays free for the event loop (SCIM requests)
MAX_WAITING = 8  # checks queued behind the running one; more are refused at once

T = TypeVar("T")
_hasher = PasswordHasher()
_executor = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")
_lock = threading.Lock()
_in_flight = 0


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AdminError("the password can have at most 1024 characters")


def generate_password() -> str:
    return secrets.token_urlsafe(15)


@functools.cache
def _dummy_hash() -> str:
    """A real hash to check against when the email is unknown, so timing does not tell accounts apart (made
    at first use: hashing costs ~0.2 s, which every CLI command would pay at import)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify_sync(stored: str | None, password: str) -> bool:
    try:
        _hasher.verify(stored if stored is not None else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored is not None


async def _run(fn: functools.partial[T]) -> T:
    global _in_flight
    with _lock:
        if _in_flight >= HASH_THREADS + MAX_WAITING:
            raise SignInBusy("sign-in is busy right now; try again in a few seconds")
        _in_flight += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_executor, fn)
    finally:
        with _lock:
            _in_flight -= 1


async def hash_password(password: str) -> str:
    """The argon2 hash of a password (checked by `check_password` first)."""
    check_password(password)
    return await _run(functools.partial(_hasher.hash, password))


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash; with `stored` None (an unknown email) a dummy hash is
    checked, so the answer takes as long, and False is returned. SignInBusy when every slot is taken."""
    return await _run(functools.partial(_verify_sync, stored, password[:1024]))
