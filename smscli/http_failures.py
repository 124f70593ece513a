"""What a failed HTTP exchange means for a send, and how it is said: http_client's half
that never touches the network (kept apart so that the session's module stays readable).

``failure_table`` is THE table: every transport failure is classified there, and only
there, by what can have reached the server: not sent (exit 6; refused at once, so safe to
retry even a send, or not sent by the deadline, not retried) or may have been processed
(exit 7 for the request that hands a message over). ``failure_error`` words each kind.
"""

from __future__ import annotations

import functools
import os
import re

from smscli.errors import ConfigError, OutcomeUnknown, ProviderUnavailable, SmscliError


def kind_of(exc: Exception) -> str:
    """What a failed exchange means (the table below), or re-raise what is not ours."""
    if isinstance(exc, SmscliError):
        raise exc  # the CA certificates or a SOCKS proxy without socksio: config
    if isinstance(exc, ImportError) and exc.name == "socksio":
        raise ConfigError(
            "a SOCKS proxy is configured (ALL_PROXY or HTTP(S)_PROXY = socks5://…), "
            "but the optional socksio package is not installed",
            hint="pip install socksio (or httpx[socks]), or unset the proxy variable",
            code="proxy_socks_missing",
        ) from None
    if isinstance(exc, OSError) and not _is_httpx(exc):  # ssl.SSLError too
        raise _certificates_error(exc) from None
    for cls, kind in failure_table():
        if isinstance(exc, cls):
            return kind
    raise exc


def failure_error(
    url: str, failure: Failure, *, sends_message: bool, timeout: float, cancelled: bool
) -> SmscliError:
    """What a transport failure means for the user, by what can have been sent
    (``cancelled``: HttpSession.cancel() was called; ``timeout``: --timeout)."""
    exc, where = failure.cause, _host(url)
    if failure.kind == BAD_URL:
        if isinstance(exc, UnicodeError):  # from the idna codec, for an ASCII host name
            host = _host(url)
            exc = ValueError(
                f"the host name {host!r} has an empty label or one longer than 63 characters"
            )
        return ConfigError(
            f"invalid provider URL {url!r}: {exc}",
            hint="check base_url in the profile",
            code="invalid_base_url",
        )
    if failure.kind in (NOT_SENT, NOT_SENT_IN_TIME):
        from smscli.http_transport import Stopped

        if isinstance(exc, Stopped) or cancelled:
            return ProviderUnavailable(
                f"{where}: interrupted before the request was sent; nothing was sent",
                hint="re-run the same command to send it",
                code="interrupted",
            )
        detail = describe(exc)
        if failure.kind == NOT_SENT_IN_TIME:  # "... within 2s (timed out)"
            detail = f" within {timeout:g}s ({detail.rstrip('.')})"
        else:  # "...: [Errno 111] Connection refused"
            detail = f": {detail}"
        proxy: str | None = getattr(exc, "proxy", None)
        if proxy is not None:  # http_transport.ProxyUnreachable, ProxyTimeout
            return ProviderUnavailable(
                f"cannot reach the proxy {proxy}{_proxy_source(url, proxy)}{detail}",
                hint="check the proxy, or HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and "
                "NO_PROXY; nothing was sent",
                code="unreachable",
            )
        return ProviderUnavailable(
            f"cannot reach {where}{detail}",
            hint="check the network, proxy settings and base_url; nothing was sent",
            code="unreachable",
        )
    if failure.kind == INVALID:
        return ProviderUnavailable(
            f"cannot send the request to {where}: {describe(exc)}",
            hint="nothing was sent; a login reply may have been malformed",
            code="invalid_request",
        )
    return _after_send_error(url, failure, sends_message, timeout, cancelled)


def _after_send_error(
    url: str, failure: Failure, sends_message: bool, timeout: float, cancelled: bool
) -> SmscliError:
    from smscli.http_transport import Cancelled, FloodedExchange

    exc = failure.cause
    if isinstance(exc.__cause__, Cancelled) or cancelled:
        what, code = "interrupted while waiting for the reply", "interrupted"
    elif failure.kind == TIMED_OUT:
        what, code = f"no reply within {timeout:g}s", "timeout"
    elif failure.kind == UNREADABLE or isinstance(exc.__cause__, FloodedExchange):
        what, code = f"unreadable reply ({describe(exc).rstrip('.')})", "unreadable_reply"
    else:
        what, code = f"connection lost ({describe(exc).rstrip('.')})", "connection_lost"
    where = _host(url)
    if sends_message:
        return OutcomeUnknown(
            f"{where}: {what} after the message was sent; it may have been processed",
            hint="check `smscli status --last` or `smscli log` before sending again",
            code=code,
        )
    return ProviderUnavailable(
        f"{where}: {what}; nothing was sent",
        hint="re-run when the provider answers (raise --timeout if it is slow)",
        code=code,
    )


def _proxy_source(url: str, proxy: str) -> str:
    """ " (from HTTPS_PROXY)": the variable httpx took the proxy ``proxy`` (host:port) from
    for ``url``, as httpx prefers them; else the system's settings."""
    import httpx

    from smscli.http_transport import proxy_label

    scheme = url.split(":", 1)[0].lower()
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        try:
            if proxy_label(httpx.URL(value if "://" in value else f"http://{value}")) == proxy:
                return f" (from {name})"
        except (httpx.InvalidURL, ValueError):
            continue
    return " (from the system's proxy settings)"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


# What can have happened to a request that got no reply (see Failure).
BAD_URL = "bad-url"  # refused before any I/O
NOT_SENT = "not-sent"  # refused at once (DNS, TCP, TLS, proxy): safe to retry, even a send
NOT_SENT_IN_TIME = "not-sent-in-time"  # not sent by the deadline (or stopped): not retried
TIMED_OUT = "timed-out"  # sent (or partly): no (whole) reply in time
LOST = "lost"  # sent (or partly): the connection broke, or the reply was not HTTP
UNREADABLE = "unreadable"  # a reply came, but too large or undecodable
INVALID = "invalid"  # a request that cannot be written (a header with a line break)


@functools.cache
def failure_table() -> tuple[tuple[type[Exception], str], ...]:
    """THE table: httpx's exceptions by what they mean for a send, first match wins."""
    import httpx

    from smscli.http_transport import NotSent

    return (
        (httpx.UnsupportedProtocol, BAD_URL),  # a scheme other than http(s)
        (httpx.InvalidURL, BAD_URL),
        (UnicodeError, BAD_URL),  # the idna codec refuses a host name ("api..example")
        (httpx.LocalProtocolError, INVALID),  # h11 would not write the request
        (NotSent, NOT_SENT_IN_TIME),  # stopped, or out of time, before the first byte
        (httpx.ConnectTimeout, NOT_SENT_IN_TIME),  # connect or TLS handshake too slow
        (httpx.ConnectError, NOT_SENT),  # DNS, TCP, TLS handshake and certificates
        (httpx.ProxyError, NOT_SENT),  # the proxy refused the tunnel
        (httpx.PoolTimeout, NOT_SENT_IN_TIME),
        (httpx.TimeoutException, TIMED_OUT),  # read/write: the request may be in
        (httpx.DecodingError, UNREADABLE),  # http_transport.ReplyTooLarge too
        (httpx.TransportError, LOST),  # reset, EOF, garbage, a cut-off reply
    )


def _is_httpx(exc: Exception) -> bool:
    return type(exc).__module__.startswith(("httpx", "httpcore"))


class Failure(Exception):
    """A transport failure, classified by what it means for a send."""

    def __init__(self, kind: str, cause: Exception) -> None:
        super().__init__(kind)
        self.kind = kind
        self.cause = cause


def describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx wraps OS errors as "[Errno 111] Connection refused"; keep it short and readable.
    return text.splitlines()[0][:200]


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*|", re.ASCII)


@functools.cache
def valid_name(name: str) -> bool:
    return _HEADER_NAME.fullmatch(name) is not None


def header_problem(name: str, value: str) -> str | None:
    """Why this header cannot be sent as it is (httpx sends header values as ASCII; h11
    refuses line breaks and control characters), or None. Never quotes the value: it may
    be a token from a login reply."""
    if not valid_name(name):
        return f"{name!r} is not a valid header name"
    if re.search(r"[\r\n\0]", value):
        return f"the {name} header has a line break"
    if not value.isascii():
        return f"the {name} header has a character outside ASCII"
    if not _HEADER_VALUE.fullmatch(value):
        return f"the {name} header has a control character or surrounding spaces"
    return None


def _certificates_error(exc: Exception) -> ConfigError:
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        where = f"SSL_CERT_FILE={cafile}" if cafile else f"SSL_CERT_DIR={capath}"
    else:
        where = "certifi's bundle"
    return ConfigError(
        f"cannot load the CA certificates ({where}): {describe(exc)}",
        hint="point SSL_CERT_FILE at a PEM bundle, or unset it",
        code="tls_certificates",
    )
