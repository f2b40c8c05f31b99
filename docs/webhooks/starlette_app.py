"""Receive LaunchKey service webhooks in Starlette (or FastAPI) with the async client.

``await client.handle_webhook(...)`` verifies the signature, method, path and body hash
and decodes the event. A key fetch, when one is needed, does not block the event loop;
the signature check and decryption (about a millisecond at RSA-2048) run on it. It
raises a ``LaunchKeyError`` for anything forged, stale or corrupt; answer those with
4xx. In FastAPI the same body works inside ``@app.post("/webhook")`` taking
``request: Request``.

Run it::

    LK_SERVICE_ID=... LK_SERVICE_KEY_FILE=service.pem LK_URL=http://127.0.0.1:8443 \
        uvicorn --app-dir docs/webhooks starlette_app:app --port 8000
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lk_core import AdvancedAuthorizationResponse, LaunchKeyError, SessionEndRequest
from lk_io import AsyncServiceClient, ServiceFactory

log = logging.getLogger(__name__)


def create_app(
    service_client: AsyncServiceClient,
    on_answer: Callable[[AdvancedAuthorizationResponse], None],
    on_logout: Callable[[SessionEndRequest], None],
) -> Starlette:
    """A Starlette app with one route, ``POST /webhook``, feeding the two callbacks."""

    async def launchkey_webhook(request: Request) -> Response:
        try:
            event = await service_client.handle_webhook(
                await request.body(), request.headers, request.method, request.url.path
            )
        except LaunchKeyError as exc:
            log.warning("refused a webhook: %s", exc.code)
            return Response(status_code=400)
        if isinstance(event, AdvancedAuthorizationResponse):
            on_answer(event)
        else:
            on_logout(event)
        return Response(status_code=204)

    return Starlette(routes=[Route("/webhook", launchkey_webhook, methods=["POST"])])


if "LK_SERVICE_ID" in os.environ:
    _factory = ServiceFactory(
        os.environ["LK_SERVICE_ID"],
        Path(os.environ["LK_SERVICE_KEY_FILE"]).read_text(),
        url=os.environ.get("LK_URL", "https://api.launchkey.com"),
    )
    app = create_app(
        _factory.make_async_service_client(),
        on_answer=lambda e: log.info("authorized=%s", e.authorized),
        on_logout=lambda e: log.info("logout at %s", e.logout_requested),
    )
