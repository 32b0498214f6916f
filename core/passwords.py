"""The minimum strength of a new password.

Three rules, each cheap and each with a message the user can act on:

- at least :data:`MIN_LENGTH` characters that are not whitespace (ten spaces,
  or "a b c d e f g", are not ten characters of secret);
- more than two different characters (``aaaaaaaaaaaa`` is no secret either);
- not one of the common passwords shipped in ``data/common-passwords.txt``
  (compared lower-cased and without whitespace, so ``Pass Word 1234`` is
  ``password1234``). The list is read once, from the package: nothing is
  fetched at run time.
"""
from __future__ import annotations

import functools
from importlib import resources

__all__ = ["MIN_LENGTH", "MAX_LENGTH", "password_problem", "common_passwords"]

MIN_LENGTH = 10
#: scrypt hashes anything, but a megabyte of "password" is a denial of service
MAX_LENGTH = 1024


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, normalised (lower-case, no whitespace)."""
    text = resources.files("clientnest").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        _normalise(line) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def _normalise(password: str) -> str:
    return "".join(password.split()).lower()


def password_problem(password: str) -> str | None:
    """What is wrong with ``password`` as a new password, or None if nothing is.

    The message never repeats the password.
    """
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    core = _normalise(password)
    if len(core) < MIN_LENGTH:
        return f"must have at least {MIN_LENGTH} characters that are not spaces"
    if len(set(core)) < 3:
        return "must use more than two different characters"
    if core in common_passwords():
        return "is one of the most common passwords; choose another"
    return None
