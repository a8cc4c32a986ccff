"""What the AkoolProvider tests share: providers for the fake (by key or by client
credentials) with short timeouts, a session request, and a port nobody listens on."""

from __future__ import annotations

import socket
from typing import Any

from sessions.providers.akool import AkoolProvider
from sessions.providers.base import SessionRequest
from tests.support.fakes.akool_server import FakeAkool

# Small timeouts and backoff keep the failure tests fast; 0.3 s is still far above what a
# loopback answer takes, so the success tests do not flake on a busy machine. Connecting
# may take longer there (the fake's accept loop, after a run of dropped connections, once
# missed 0.3 s in make test): no test waits on a connect timeout, so it is generous.
# A wrong credential is a credential too: it must not leak either.
WRONG = "wrong-DO-NOT-LEAK"
FAST = {"connect_timeout": 2.0, "read_timeout": 0.3, "retries": 2, "backoff": 0.01}


def key_provider(fake: FakeAkool, **options: Any) -> AkoolProvider:
    return AkoolProvider(**{"base_url": fake.base_url, "api_key": fake.api_key, **FAST, **options})


def token_provider(fake: FakeAkool, **options: Any) -> AkoolProvider:
    return AkoolProvider(
        **{
            "base_url": fake.base_url,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            **FAST,
            **options,
        }
    )


def request(**fields: Any) -> SessionRequest:
    return SessionRequest(**{"avatar_id": "fake_avatar_001", "duration": 600, **fields})


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
