"""The pseudonym key: the secret that turns FHIR patient ids into study ids.

A service run (``--config``) refuses to start without one; a plain demo or file run may use the
development key, which is public (it is in this file) and says so. Only a fingerprint of the key is
ever written down, so that a changed key (and so changed study ids) can be told from one run to the next.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from config.errors import ConfigError

DEVELOPMENT_KEY = b"pelvic-outcomes-development-key"
MIN_KEY_LENGTH = 32
MAKE_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'


@dataclass(frozen=True)
class PseudonymKey:
    secret: bytes = field(repr=False)
    development: bool = False

    @property
    def fingerprint(self) -> str:
        """16 hex digits that identify the key without revealing it."""
        return hmac.new(self.secret, b"pelvic-outcomes key fingerprint", hashlib.sha256).hexdigest()[:16]


def resolve_key(variable: str, env: Mapping[str, str], *, required: bool) -> PseudonymKey:
    """The key from the environment variable ``variable``; the development key when allowed and unset."""
    value = env.get(variable, "")
    fix = f"make a key with {MAKE_KEY} and export {variable}=<that key> in the service's environment"
    if not value:
        if required:
            raise ConfigError(
                "study.pseudonym_key_env",
                f"environment variable {variable} is not set: a service run needs a secret pseudonym key", fix,
            )
        return PseudonymKey(DEVELOPMENT_KEY, development=True)
    if len(value) < MIN_KEY_LENGTH or value.encode() == DEVELOPMENT_KEY:
        raise ConfigError(
            "study.pseudonym_key_env",
            f"the key in {variable} is too short or public ({len(value)} characters; at least {MIN_KEY_LENGTH})",
            fix,
        )
    return PseudonymKey(value.encode())
