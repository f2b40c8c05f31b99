"""Receive LaunchKey service webhooks in Django (a one-file project).

In a real project only the view matters: add ``launchkey_webhook`` to your urls, keep it
``csrf_exempt`` (the platform cannot send a CSRF token; the signed JWT protects it), and
pass ``request.body``, ``request.headers``, ``request.method`` and ``request.path`` to
``handle_webhook``. It raises a ``LaunchKeyError`` for anything forged, stale or
corrupt.

Run it::

    LK_SERVICE_ID=... LK_SERVICE_KEY_FILE=service.pem LK_URL=http://127.0.0.1:8443 \
        python docs/webhooks/django_app.py
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lk_core import AdvancedAuthorizationResponse, LaunchKeyError, SessionEndRequest
from lk_io import ServiceClient, ServiceFactory

log = logging.getLogger(__name__)

# Filled in by create_application; a real project would build the client in settings.
HANDLERS: dict[str, Any] = {}


@csrf_exempt
@require_POST
def launchkey_webhook(request: HttpRequest) -> HttpResponse:
    client: ServiceClient = HANDLERS["client"]
    try:
        event = client.handle_webhook(
            request.body, request.headers, request.method, request.path
        )
    except LaunchKeyError as exc:
        log.warning("refused a webhook: %s", exc.code)
        return HttpResponse(status=400)
    if isinstance(event, AdvancedAuthorizationResponse):
        HANDLERS["on_answer"](event)
    else:
        HANDLERS["on_logout"](event)
    return HttpResponse(status=204)


urlpatterns = [path("webhook", launchkey_webhook)]


def create_application(
    service_client: ServiceClient,
    on_answer: Callable[[AdvancedAuthorizationResponse], None],
    on_logout: Callable[[SessionEndRequest], None],
) -> Any:
    """Configure Django for this module and return its WSGI application."""
    HANDLERS.update(client=service_client, on_answer=on_answer, on_logout=on_logout)
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY=secrets.token_urlsafe(32),
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
        django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    factory = ServiceFactory(
        os.environ["LK_SERVICE_ID"],
        Path(os.environ["LK_SERVICE_KEY_FILE"]).read_text(),
        url=os.environ.get("LK_URL", "https://api.launchkey.com"),
    )
    application = create_application(
        factory.make_service_client(),
        on_answer=lambda e: print("authorized:", e.authorized),
        on_logout=lambda e: print("logout:", e.service_user_hash),
    )
    make_server("127.0.0.1", 8000, application).serve_forever()
