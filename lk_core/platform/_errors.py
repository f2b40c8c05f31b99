"""The platform's refusals: an HTTP status with an optional coded error body."""

from __future__ import annotations

from typing import Any


class PlatformError(Exception):
    """A request the platform refuses; the server turns it into a signed 4xx reply.

    `code` is the API error code (errors.md section 2) or None for a bare status;
    `detail` becomes `error_detail` and `data` becomes `error_data`.
    """

    def __init__(
        self,
        status: int,
        code: str | None = None,
        detail: str | dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code or ''} {detail or ''}".strip())
        self.status = status
        self.code = code
        self.detail = detail
        self.data = data

    @classmethod
    def coded(
        cls,
        status: int,
        code: str,
        detail: str | dict[str, Any],
        data: dict[str, Any] | None = None,
    ) -> PlatformError:
        return cls(status, code, detail, data)

    @classmethod
    def field(cls, name: str, problem: str) -> PlatformError:
        """ARG-001 with detail keyed by the request field (errors.md section 1)."""
        return cls(400, "ARG-001", {name: problem})

    def body(self) -> dict[str, Any] | None:
        """The error JSON object, or None when only the status is sent."""
        if self.code is None:
            return None
        out: dict[str, Any] = {"error_code": self.code, "error_detail": self.detail}
        if self.data is not None:
            out["error_data"] = self.data
        return out


def not_found(what: str) -> PlatformError:
    return PlatformError(404, None, f"{what} not found")
