"""MAST API tokens: how spelunker holds them, finds them and keeps them out of text.

Every archive client (`spelunker.archive.mast`, `spelunker.archive.download`,
`spelunker.archive.engdb`) and the notebook session get their token here:

- `Secret` holds a token without showing it (repr, str) and refuses to be
  pickled;
- `resolve_token` takes the argument, else ``MAST_API_TOKEN`` (an empty or
  blank value counts as none);
- `redact` masks a token in a text (messages, URLs) with `MASK`;
- `masked_logs` masks it in every log record handled while a request runs.

Log masking
    While `masked_logs` is active, a `logging.Filter` sits on every handler
    attached at that moment (the root logger's, every named logger's and
    ``logging.lastResort``).  A handler filter sees every record the handler
    is given, whichever logger created it (``spelunker.archive.mast``, a
    child such as ``spelunker.archive.mast.worker``, ``urllib3``,
    ``astroquery``...) and whichever thread logged it, and masks its message
    in place, so the handlers after it see the masked record too.  The
    filters are removed when the last request using them ends; nothing else
    of the logging configuration (the record factory, the loggers' levels
    and filters) is touched.  A handler added while a request runs is not
    covered until the next request.
"""

import contextlib
import logging
import os
import threading

from spelunker.errors import ParameterError

__all__ = [
    "MASK",
    "TOKEN_ENV",
    "Secret",
    "as_secret",
    "masked_logs",
    "masking_handlers",
    "redact",
    "resolve_token",
]

log = logging.getLogger(__name__)

#: Environment variable holding a MAST API token.
TOKEN_ENV = "MAST_API_TOKEN"

#: What a token is replaced with in messages and log records.
MASK = "<MAST token>"


class Secret:
    """A MAST API token that does not show itself in reprs, tracebacks or pickles.

    Parameters
    ----------
    value : str
        The token.

    Raises
    ------
    spelunker.errors.ParameterError
        ``value`` is not a string.

    Examples
    --------
    >>> from spelunker.archive.tokens import Secret
    >>> secret = Secret("abc123")
    >>> secret
    <MAST API token (hidden)>
    >>> secret.reveal()
    'abc123'
    """

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = _token_text(value)

    def reveal(self):
        """The token itself (to put in a request header, nowhere else)."""
        return self._value

    def __repr__(self):
        return "<MAST API token (hidden)>"

    __str__ = __repr__

    def __reduce__(self):
        msg = "a MAST API token cannot be pickled"
        # internal invariant: TypeError is pickle's protocol for an object that refuses to be
        # serialised (as for a lock); spelunker never pickles a Secret (no Dask task gets one).
        raise TypeError(msg)


def as_secret(token):
    """``token`` as a `Secret`, or None when it is None, empty or blank.

    Unlike `resolve_token`, the environment is not read: the notebook
    session keeps the token it was given, and reads ``MAST_API_TOKEN`` at
    each use.

    Parameters
    ----------
    token : str, Secret or None
        The token.

    Returns
    -------
    Secret or None

    Raises
    ------
    spelunker.errors.ParameterError
        For a token that is not a string (the one check of a token's type).

    Examples
    --------
    >>> from spelunker.archive.tokens import as_secret
    >>> as_secret("  abc123 ").reveal()
    'abc123'
    >>> as_secret("  ") is None
    True
    """
    if isinstance(token, Secret):
        token = token.reveal()
    if token is None:
        return None
    token = _token_text(token).strip()
    return Secret(token) if token else None


def _token_text(token):
    """``token`` if it is a string; else a ParameterError (the one check of a token's type)."""
    if not isinstance(token, str):
        msg = f"token must be a string (a MAST API token), got {type(token).__name__}"
        raise ParameterError(msg)
    return token


def resolve_token(token):
    """The token from the argument or ``MAST_API_TOKEN``, as a `Secret` (or None).

    An empty or blank token counts as none: it falls back to
    ``MAST_API_TOKEN``.

    Parameters
    ----------
    token : str, Secret or None
        The token given by the caller.

    Returns
    -------
    Secret or None
        None when neither the argument nor the environment holds a token.

    Raises
    ------
    spelunker.errors.ParameterError
        For a token that is not a string.

    Examples
    --------
    >>> from spelunker.archive.tokens import resolve_token
    >>> resolve_token(" abc123 ")
    <MAST API token (hidden)>
    >>> resolve_token(" abc123 ").reveal()
    'abc123'
    """
    if isinstance(token, Secret):
        token = token.reveal()
    if isinstance(token, str) and not token.strip():
        token = None
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    if token is None:
        return None
    return as_secret(token)


def redact(text, token):
    """``text`` with every occurrence of ``token`` replaced by `MASK`.

    Parameters
    ----------
    text : str
        A message, URL, ...
    token : str, Secret or None
        The token; None or empty leaves ``text`` as it is.

    Returns
    -------
    str

    Raises
    ------
    spelunker.errors.ParameterError
        ``text`` is not a string, or ``token`` not a string, Secret or None.

    Examples
    --------
    >>> from spelunker.archive.tokens import redact
    >>> redact("GET /api?token=abc123", "abc123")
    'GET /api?token=<MAST token>'
    """
    if not isinstance(text, str):
        msg = f"redact: text must be a string, got {type(text).__name__}"
        raise ParameterError(msg)
    if isinstance(token, Secret):
        token = token.reveal()
    if token is None:
        return text
    return text.replace(token, MASK) if _token_text(token) else text


class _MaskingFilter(logging.Filter):
    """Masks the tokens in use in the message of every record a handler gets."""

    def __init__(self):
        super().__init__()
        self.values = ()

    def filter(self, record):
        values = self.values
        if not values:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record (any error of a user's __str__): leave it
            return True
        if any(value in message for value in values):
            for value in values:
                message = message.replace(value, MASK)
            record.msg = message
            record.args = None
        return True


_lock = threading.Lock()
_filter = _MaskingFilter()
_active = {}  # token value -> number of requests using it
_handlers = []  # handlers carrying _filter


def _current_handlers():
    """Every handler attached now: the root's, each named logger's, and lastResort."""
    loggers = [logging.getLogger()]
    loggers += [obj for obj in list(logging.Logger.manager.loggerDict.values())
                if isinstance(obj, logging.Logger)]
    handlers = {}
    for logger in loggers:
        for handler in list(logger.handlers):
            handlers[id(handler)] = handler
    if logging.lastResort is not None:
        handlers[id(logging.lastResort)] = logging.lastResort
    return list(handlers.values())


def _update():
    """Attach the filter to the handlers, or detach it when no token is in use (lock held)."""
    _filter.values = tuple(_active)
    if _filter.values:
        for handler in _current_handlers():
            if _filter not in handler.filters:
                handler.addFilter(_filter)
                _handlers.append(handler)
    else:
        for handler in _handlers:
            handler.removeFilter(_filter)
        _handlers.clear()


@contextlib.contextmanager
def masked_logs(secret):
    """Mask ``secret`` in every log record handled while the block runs (any thread).

    Parameters
    ----------
    secret : Secret or None
        The token; None masks nothing.

    Raises
    ------
    spelunker.errors.ParameterError
        ``secret`` is neither a Secret nor None (when the block starts).

    Examples
    --------
    >>> import logging
    >>> from spelunker.archive.tokens import Secret, masked_logs
    >>> handler = logging.StreamHandler()
    >>> logging.getLogger().addHandler(handler)
    >>> with masked_logs(Secret("abc123")):
    ...     len(handler.filters)
    1
    >>> len(handler.filters)
    0
    >>> logging.getLogger().removeHandler(handler)
    """
    if secret is None:
        yield
        return
    if not isinstance(secret, Secret):
        msg = (f"masked_logs: secret must be a Secret (as_secret, resolve_token) or None, got "
               f"{type(secret).__name__}")
        raise ParameterError(msg)
    value = secret.reveal()
    with _lock:
        _active[value] = _active.get(value, 0) + 1
        _update()
    try:
        yield
    finally:
        with _lock:
            _active[value] -= 1
            if not _active[value]:
                del _active[value]
            _update()


def masking_handlers():
    """The handlers that carry the masking filter now (empty outside any request).

    Examples
    --------
    >>> from spelunker.archive.tokens import masking_handlers
    >>> masking_handlers()
    []
    """
    with _lock:
        return list(_handlers)
