"""API keys of the router service: client keys (``server.api_keys``) and admin keys
(``server.admin_keys``, for adding and removing experts and sending feedback), sent as
``Authorization: Bearer <key>`` or ``X-API-Key``, compared in constant time. An admin key is
accepted wherever a client key is; without any admin key the admin API is off."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from largeforge_router.api_errors import APIError


def supplied(authorization: str, api_key: str) -> bytes:
    """The key a request sends: its bearer token, else its ``X-API-Key``."""
    given = authorization[7:].strip() if authorization.lower().startswith("bearer ") else api_key
    return given.encode()


def matches(given: bytes, candidates: list[bytes]) -> bool:
    """Whether ``given`` is one of ``candidates``, comparing with each in constant time."""
    matched = False
    for key in candidates:
        matched |= hmac.compare_digest(given, key)
    return matched


class APIKeys:
    """The client and admin keys of one app."""

    def __init__(self, clients: list[str], admins: list[str]) -> None:
        self.clients = [k.encode() for k in clients]
        self.admins = [k.encode() for k in admins]

    @property
    def required(self) -> bool:
        """Whether client requests need a key."""
        return bool(self.clients)

    def accepts(self, headers: Mapping[str, str]) -> bool:
        """Whether ``headers`` carry a client or admin key (always, when no key is set)."""
        if not (self.clients or self.admins):
            return True
        given = supplied(headers.get("authorization", ""), headers.get("x-api-key", ""))
        return matches(given, self.clients + self.admins)

    def check_client(self, authorization: str, api_key: str) -> None:
        """401 unless a client or admin key is sent."""
        if not matches(supplied(authorization, api_key), self.clients + self.admins):
            raise APIError(
                401,
                "invalid or missing API key (send 'Authorization: Bearer <key>')",
                type_="authentication_error",
                code="invalid_api_key",
            )

    def check_admin(self, headers: Mapping[str, str]) -> None:
        """403 while the admin API is off, 401 unless an admin key is sent."""
        if not self.admins:
            raise APIError(
                403,
                "the admin API is off: set server.admin_keys in the router config to add or remove experts at run time",
                type_="permission_error",
                code="admin_api_disabled",
            )
        given = supplied(headers.get("authorization", ""), headers.get("x-api-key", ""))
        if not matches(given, self.admins):
            raise APIError(
                401,
                "adding or removing experts needs an admin key (server.admin_keys): send "
                "'Authorization: Bearer <admin key>'",
                type_="authentication_error",
                code="invalid_admin_key",
            )
