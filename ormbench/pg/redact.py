"""Passwords never leave ormbench in clear: every one it holds is known here, and ``redact``
replaces each (as typed and as a URL encodes it) with ``***`` in any text it is given.

``PgServer`` remembers its password when it is made; the pytest plugin redacts failure reports
and captured output with ``redact``, the command line its error lines.
"""

from __future__ import annotations

import threading
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import URL

# What a password is replaced with.
MASK = "***"
# Shorter "passwords" are not masked: replacing every "a" would garble a report and hide nothing.
MIN_SECRET = 4

_secrets: set[str] = set()
_lock = threading.Lock()


def remember(secret: str | None) -> None:
    """Mask ``secret`` from now on, in every form a URL or conninfo string may carry it."""
    if not secret or len(secret) < MIN_SECRET:
        return
    # SQLAlchemy's URL escapes fewer characters than urllib: take its own rendering too.
    rendered = URL.create("x", username="u", password=secret, host="h").render_as_string(False)
    in_url = rendered[len("x://u:") : -len("@h")]
    in_conninfo = secret.replace("\\", "\\\\").replace("'", "\\'")
    with _lock:
        _secrets.update({secret, quote(secret, safe=""), quote_plus(secret), in_url, in_conninfo})


def redact(text: str) -> str:
    """``text`` with every remembered password replaced by MASK."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
