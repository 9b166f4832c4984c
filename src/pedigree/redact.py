"""Credentials never leave pedigree: stripped from every URL it prints, records, labels or submits.

A password or token can sit in a URL's user part (`https://user:TOKEN@git.example/r.git`, an
`OPENLINEAGE_URL` with basic auth, a DVC remote URL) and in environment variables
(`AWS_SECRET_ACCESS_KEY`, `OPENLINEAGE_API_KEY`, ...). Everything pedigree writes where others
can read it (the terminal, logs, lineage records and OpenLineage events, image labels, the
arguments of a cluster run) goes through this module first:

- `url_without_credentials(url)`: the URL with its whole user part removed (a token is often
  the user name alone, `https://TOKEN@github.com/...`, so the name goes too);
- `redact_text(text)`: every URL inside free text (an exception message that repeats the URL it
  failed on) stripped the same way, and the value of every secret environment variable
  replaced by `***`.

Pure functions of their arguments (and of `os.environ` when no environment is given).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"

# Variables whose values are credentials whatever their content, by name.
SECRET_ENV = (
    "OPENLINEAGE_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "GIT_PASSWORD",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
)
# Any other variable whose name says it holds a credential (MY_API_KEY, DB_PASSWORD, ...).
SECRET_NAME = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.IGNORECASE
)
# Shorter values are not masked in free text: "1", "true" or "false" would blank out unrelated
# words (every real key or token is far longer).
MIN_SECRET_LENGTH = 6

# scheme://userinfo@ inside free text. The user part runs up to the LAST '@' before the host
# ends (a password may hold an unescaped '@'), never across '/', '?', '#', whitespace or quotes.
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s'\"<>@]*(?:@[^/?#\s'\"<>@]*)*@"
)
# scp-like git address with a password: user:password@host:path.
_SCP_WITH_PASSWORD = re.compile(r"^[^/@:\s]+:[^/\s]*@(?P<rest>[^/:\s]+:.*)$")


def has_credentials(url: str) -> bool:
    """True when `url` carries a user part that could be a credential (user name or password).

    `git@host:org/repo.git` and `ssh://git@host/...` name an ssh account, not a secret.
    """
    return url_without_credentials(url) != url


def url_without_credentials(url: str) -> str:
    """`url` with its user part (`user:password@`, or a lone token `TOKEN@`) removed; anything
    else unchanged.

    An ssh user without a password is kept (`ssh://git@host/r.git`, `git@host:r.git`): it is
    an account name (ssh authenticates with keys), and the address does not work without it.
    """
    text = url.strip()
    scp = _SCP_WITH_PASSWORD.match(text)
    if scp and "://" not in text:
        return scp.group("rest")
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact_text(text, environ={})
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    if ":" not in userinfo and parts.scheme in ("ssh", "git+ssh"):
        return url  # an ssh account name (`git`), not a secret: ssh authenticates with keys
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The credentials `environ` (default: os.environ) holds, longest first.

    The values of secret variables (by name), and the user part of every URL-valued variable
    (OPENLINEAGE_URL=http://user:password@host/), as written and percent-decoded.
    """
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if name in SECRET_ENV or SECRET_NAME.search(name):
            found.add(value.strip())
        if "://" in value and "@" in value:
            found.update(_userinfo_parts(value))
    return tuple(sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=lambda v: -len(v)))


def _userinfo_parts(value: str) -> Iterable[str]:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return ()
    if "@" not in parts.netloc:
        return ()
    userinfo = parts.netloc.rsplit("@", 1)[0]
    pieces = [userinfo, *userinfo.split(":", 1)]
    return {p for piece in pieces for p in (piece, unquote(piece)) if p}


def redact_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with credentials removed: every URL's user part, and the value of every secret
    in `environ` (default: os.environ, see `secret_values`) replaced by `***`."""
    result = _URL_USERINFO.sub(lambda m: m.group("scheme"), text)
    for secret in secret_values(environ):
        result = result.replace(secret, MASK)
    return result


def redact_error(exc: BaseException, when_empty: str | None = None) -> str:
    """`exc`'s message on one line, credentials removed (clients and fsspec backends repeat the
    URL they failed on, user and password included); `when_empty` (default: the exception's type
    name) when it says nothing."""
    text = redact_text(" ".join(str(exc).split()))
    return text or (type(exc).__name__ if when_empty is None else when_empty)
