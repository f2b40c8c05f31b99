"""ServiceFactory: the seed's way to get a Service Client from credentials."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from lk_core import Entity, PrivateKey
from lk_io._client import KeyInput, ServiceClient, as_private_key
from lk_io._transport import (
    DEFAULT_URL,
    AsyncTransport,
    Transport,
    check_transport_options,
)

if TYPE_CHECKING:
    # Loaded on first use (see make_async_service_client): it brings in asyncio.
    from lk_io._async import AsyncServiceClient

__all__ = ["ServiceFactory"]


# Keyword options the clients take themselves (the rest go to their transport).
# (Extra decryption keys go through add_encryption_private_key.)
_CLIENT_OPTIONS = frozenset({"retries", "backoff", "clock", "issuer"})


class ServiceFactory:
    """Holds a Service's credentials and makes clients for it.

    ``service_id`` is the Service UUID, ``private_key`` its RSA key (PEM text or
    :class:`PrivateKey`), ``url`` the platform base URL (production by default). Other
    keyword arguments go to the client (``retries``, ``backoff``) or its transport
    (timeouts, ``proxy_url``, ``ca_certs``, ``ssl_context``, ``maxsize``). Raises
    InvalidEntityID or InvalidPrivateKey at once rather than on the first call.
    """

    def __init__(
        self,
        service_id: str | uuid.UUID,
        private_key: KeyInput,
        url: str = DEFAULT_URL,
        **options: Any,
    ) -> None:
        self.service_id = Entity.service(service_id).id
        self._key = as_private_key(private_key)
        check_transport_options(url, also=_CLIENT_OPTIONS, **options)
        self._extra: list[PrivateKey] = []
        self.url = url
        self._options = options

    def add_encryption_private_key(self, private_key: KeyInput) -> None:
        """Also decrypt with this key (rotation, or a separate encryption key)."""
        self._extra.append(as_private_key(private_key))

    add_additional_private_key = add_encryption_private_key

    def make_service_client(self, transport: Transport | None = None) -> ServiceClient:
        """A blocking client over urllib3 (or ``transport``)."""
        return ServiceClient(
            self.service_id,
            self._key,
            url=self.url,
            transport=transport,
            decryption_keys=self._extra,
            **self._options,
        )

    def make_async_service_client(
        self, transport: AsyncTransport | None = None
    ) -> AsyncServiceClient:
        """An asyncio client (or one over any :class:`AsyncTransport`)."""
        from lk_io._async import AsyncServiceClient

        return AsyncServiceClient(
            self.service_id,
            self._key,
            url=self.url,
            transport=transport,
            decryption_keys=self._extra,
            **self._options,
        )
