"""The one exception hierarchy of claimwatch.

Every error a user can meet derives from :class:`ClaimwatchError` and says what is wrong and what to
do next, so the process boundary (the CLI) can print it as one line and exit non-zero instead of a
traceback.
"""


class ClaimwatchError(Exception):
    """Base of every error claimwatch raises on purpose."""


class ConfigError(ClaimwatchError):
    """The configuration file is missing, unreadable or holds a bad value."""


class SecretError(ClaimwatchError):
    """An account's password or token could not be obtained from its configured source."""


class ImapError(ClaimwatchError):
    """The IMAP server refused us or the connection failed; the source retries with backoff."""


class AuthError(ImapError):
    """The server refused the login: the password or token is wrong, retrying will not help."""


class TlsError(ImapError):
    """The server's certificate could not be verified (set ``ca_file`` for a private CA)."""


class SpoolError(ClaimwatchError):
    """A message could not be written durably to the spool."""


class ParseError(ClaimwatchError):
    """A spooled message could not be parsed; it is quarantined with this reason."""


class ModelError(ClaimwatchError):
    """The model file is missing, unsafe, corrupt or from another library version."""


class MessageIndexError(ClaimwatchError):
    """The message index cannot be opened: corrupt files, or another process holds it."""


class CaseError(ClaimwatchError):
    """A case folder's case.json is missing or corrupt, or its export cannot be written."""
