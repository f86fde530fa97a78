"""Access control and security headers for every response.

A token may come as ``Authorization: Bearer``, as the password of HTTP basic
auth (so a browser prompts for it), or as ``?token=`` (feed readers cannot set
headers). Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def presented_secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return request.query_params.get("token")


class Guard(BaseHTTPMiddleware):
    def __init__(self, app: object, secrets: Sequence[str]) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.secrets = [s.encode() for s in secrets if s]

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if self.secrets and not self._allowed(request):
            response: Response = PlainTextResponse(
                "newsmon: a token or password is required\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="newsmon", charset="UTF-8"'},
            )
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def _allowed(self, request: Request) -> bool:
        given = presented_secret(request)
        if not given:
            return False
        return any(hmac.compare_digest(given.encode(), secret) for secret in self.secrets)
