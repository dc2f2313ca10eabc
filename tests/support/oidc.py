"""A real OpenID provider for tests: `oidc-provider-mock` (PyPI) in a process of its own on 127.0.0.1.

Its users are set with `set_user(sub, claims)`; the provider copies their claims into the ID token after its
own (`authlib.oidc.core.grants.util.generate_id_token` updates the payload with the user's claims), so a user
with `"aud": "another-app"` gets an ID token for another audience and one with `"exp": 1000000000` an
expired one: real tokens, signed with the provider's real key, wrong in exactly one claim.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from ops.processes import BIN, free_port, stop_process


class OidcProvider:
    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(BIN / "oidc-provider-mock"), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30  # a start-up guard, not a timing assertion
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"oidc-provider-mock did not start: {log.read_text()[-2000:]}")

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        r = httpx.put(f"{self.issuer}/users/{quote(sub, safe='')}", json=claims, timeout=10)
        assert r.status_code == 204, r.text

    def authorize(self, authorization_url: str, sub: str) -> str:
        """What the provider's form does when `sub` clicks Authorize: the redirect back (with code and state)."""
        r = httpx.post(authorization_url, data={"sub": sub}, timeout=10)
        assert r.status_code in (302, 303), r.text
        return r.headers["location"]

    def stop(self) -> None:
        stop_process(self.proc)
