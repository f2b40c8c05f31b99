"""Receive LaunchKey service webhooks in Flask.

Point the Service's callback URL at ``https://<your host>/webhook``. The platform POSTs
two kinds of event there: the user's answer to an authorization request, and the end of
a session the user closed from their device. ``handle_webhook`` verifies the signature,
the method, the path and the body hash before it decodes anything, and raises a
``LaunchKeyError`` for anything forged, stale or corrupt; answer those with 4xx.

Run it (the service id and key come from the Admin Center or the emulator)::

    LK_SERVICE_ID=... LK_SERVICE_KEY_FILE=service.pem LK_URL=http://127.0.0.1:8443 \
        flask --app docs/webhooks/flask_app.py run --port 5000
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from flask import Flask, request

from lk_core import (
    AdvancedAuthorizationResponse,
    LaunchKeyError,
    SessionEndRequest,
)
from lk_io import ServiceClient, ServiceFactory

log = logging.getLogger(__name__)


def create_app(
    service_client: ServiceClient,
    on_answer: Callable[[AdvancedAuthorizationResponse], None],
    on_logout: Callable[[SessionEndRequest], None],
) -> Flask:
    """A Flask app with one route, ``POST /webhook``, feeding the two callbacks."""
    app = Flask(__name__)

    @app.post("/webhook")
    def launchkey_webhook() -> tuple[str, int]:
        try:
            event = service_client.handle_webhook(
                request.get_data(), request.headers, request.method, request.path
            )
        except LaunchKeyError as exc:
            log.warning("refused a webhook: %s", exc.code)
            return "", 400
        if isinstance(event, AdvancedAuthorizationResponse):
            on_answer(
                event
            )  # e.g. finish the login waiting on event.authorization_request_id
        else:
            on_logout(event)  # e.g. end the sessions of event.service_user_hash
        return "", 204

    return app


def _from_environment() -> Flask:
    factory = ServiceFactory(
        os.environ["LK_SERVICE_ID"],
        Path(os.environ["LK_SERVICE_KEY_FILE"]).read_text(),
        url=os.environ.get("LK_URL", "https://api.launchkey.com"),
    )
    return create_app(
        factory.make_service_client(),
        on_answer=lambda e: log.info("authorized=%s", e.authorized),
        on_logout=lambda e: log.info("logout at %s", e.logout_requested),
    )


if "LK_SERVICE_ID" in os.environ:
    app = _from_environment()
