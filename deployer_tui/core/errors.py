"""Errors raised by the deployer client.

One exception type carries everything a DSS error body says (docs/protocol.md, "Errors") plus the HTTP status,
which the official client drops. Connection failures and timeouts get their own subclasses so the UI can
tell "the deployer said no" from "the deployer is not there". Messages never contain the API key: the
client builds them from the URL's host and the server's own words only.
"""

from __future__ import annotations

from typing import Any


class DeployerError(Exception):
    """A failed call. `status` is the HTTP status (None when no response came back)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        detail: str | None = None,
        body: dict | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type or "Unknown error"
        self.message = message
        self.detail = detail or message
        self.body = body
        self.method = method
        self.path = path

    @classmethod
    def from_response(
        cls, status: int, text: str, parsed: Any, *, method: str | None = None, path: str | None = None
    ) -> DeployerError:
        """Build from an HTTP error response: DSS error JSON when there is one, else the raw text."""
        if isinstance(parsed, dict) and any(k in parsed for k in ("errorType", "message", "detailedMessage")):
            message = parsed.get("message") or parsed.get("detailedMessage") or f"HTTP {status}"
            return cls(
                str(message),
                status=status,
                error_type=parsed.get("errorType") or f"HTTP {status}",
                detail=parsed.get("detailedMessage") or str(message),
                body=parsed,
                method=method,
                path=path,
            )
        raw = text.strip()
        message = raw[:500] if raw else _REASONS.get(status, "no message")
        return cls(message, status=status, error_type=f"HTTP {status}", detail=raw or message,
                   body=parsed if isinstance(parsed, dict) else None, method=method, path=path)

    @property
    def short_type(self) -> str:
        """The error type without its Java package ("NotFoundException"), for short messages."""
        kind = self.error_type
        if "." in kind and " " not in kind:
            kind = kind.rsplit(".", 1)[-1]
        return kind

    def __str__(self) -> str:
        return f"{self.short_type}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, error_type={self.error_type!r}, message={self.message!r})"

    def describe(self) -> str:
        """Every detail, several lines: for an error dialog the user can copy."""
        lines = [f"{type(self).__name__}: {self.message}"]
        if self.method or self.path:
            lines.append(f"Request: {self.method or ''} {self.path or ''}".rstrip())
        lines.append(f"HTTP status: {self.status if self.status is not None else 'no response'}")
        lines.append(f"Error type: {self.error_type}")
        if self.detail and self.detail != self.message:
            lines.append(f"Details: {self.detail}")
        body = self.body or {}
        for key in ("code", "title", "fixability", "debuggingHint"):
            if body.get(key):
                lines.append(f"{key}: {body[key]}")
        log = body.get("logTail")
        if isinstance(log, dict) and log.get("lines"):
            lines.append("Log tail:")
            lines.extend(f"  {line}" for line in log["lines"])
        return "\n".join(lines)

    @property
    def is_not_found(self) -> bool:
        return self.status == 404


class ConnectionLost(DeployerError):
    """No HTTP answer: connection refused or reset, DNS failure, TLS failure, server gone mid-request."""

    def __init__(self, host: str, reason: str, **kwargs: Any) -> None:
        super().__init__(f"cannot reach {host}: {reason}", error_type="ConnectionLost", detail=reason, **kwargs)
        self.host = host
        self.reason = reason

    def __str__(self) -> str:
        return self.message


class RequestTimeout(DeployerError):
    """The deployer did not answer in time."""

    def __init__(self, host: str, reason: str, **kwargs: Any) -> None:
        super().__init__(f"{host} did not answer in time ({reason})", error_type="Timeout", detail=reason, **kwargs)
        self.host = host

    def __str__(self) -> str:
        return self.message


_REASONS = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
