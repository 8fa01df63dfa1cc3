"""Access codes as people read them: short, from an alphabet without look-alikes, grouped in fours.

12 characters from 31 symbols is about 59 bits: far beyond guessing through the throttled join page,
and only a keyed hash is stored, so a copy of the database does not let anyone try codes offline either
(the key is SECRET_KEY's; rotating it ends the codes not yet used, which a clinic re-issues)."""

import secrets

from django.utils.crypto import salted_hmac

# No 0/O, 1/I/L: the code is read off paper and typed on a phone.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 12
GROUP = 4
_HMAC_SALT = "palisade.patients.access-code"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalized(typed: str) -> str:
    """The code as typed, without spaces or dashes, upper-cased."""
    return "".join(typed.split()).replace("-", "").upper()


def is_well_formed(code: str) -> bool:
    return len(code) == LENGTH and all(char in ALPHABET for char in code)


def digest(code: str) -> str:
    return salted_hmac(_HMAC_SALT, code, algorithm="sha256").hexdigest()


def grouped(code: str) -> str:
    """ABCD-EFGH-JKMN: easier to read aloud and to copy."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))
