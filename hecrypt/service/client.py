"""The network scorer: the client side of the scoring service, on the stdlib.

:class:`HTTPScorer` is a *scorer* (see :mod:`hecrypt.scoring`) that reaches a
model over HTTP, so ``hecrypt.ScoringClient("http://host:8000/models/NAME")``
encrypts locally, sends ciphertexts, and decrypts locally. It uses only
:mod:`urllib.request`: clients need no web framework.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from hecrypt.exceptions import ProtocolError
from hecrypt.models.linear import ModelInfo
from hecrypt.paillier.keys import PublicKey
from hecrypt.service import wire

__all__ = ["HTTPScorer", "ServiceError"]


class ServiceError(ProtocolError):
    """The service refused a request; :attr:`status` is the HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the scoring service answered {status}: {detail}")
        self.status = status
        self.detail = detail


def _traffic() -> Any:
    from hecrypt.scoring import Traffic

    return Traffic()


class HTTPScorer:
    """Score through a hecrypt scoring service.

    Args:
        url: ``http(s)://host:port/models/NAME``, or the service root when it
            serves exactly one model.
        timeout: seconds per request.
        format: ``"binary"`` (compact, default) or ``"json"``.

    Raises:
        ServiceError: the service refused (status and message attached).
        ProtocolError: the service could not be reached or answered nonsense.
    """

    def __init__(self, url: str, *, timeout: float = 300.0, format: str = "binary") -> None:
        if format not in ("binary", "json"):
            raise ValueError('format must be "binary" or "json"')
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._root = f"{parts.scheme}://{parts.netloc}"
        self._timeout = timeout
        self._format = format
        self._keys_seen: set[str] = set()
        self.traffic = _traffic()
        path = parts.path.rstrip("/")
        described: Any = None
        if path.startswith("/models/") and path.count("/") == 2:
            self._name = urllib.parse.unquote(path.split("/")[2])
            described = self._get(path)
            self._info = ModelInfo.from_dict(self._public_info(described))
        elif path in ("", "/models"):
            listed = self._get("/models").get("models")
            if not isinstance(listed, list) or len(listed) != 1:
                names = [m.get("name") for m in listed or [] if isinstance(m, dict)]
                raise ValueError(
                    f"the service at {self._root} serves {len(names)} models {names}; "
                    "name one: .../models/NAME"
                )
            self._name = str(listed[0]["name"])
            described = listed[0]
            self._info = ModelInfo.from_dict(self._public_info(described))
        else:
            raise ValueError(f"expected a service root or .../models/NAME URL, not {url!r}")
        limit = described.get("max_json_body_bytes" if format == "json" else "max_body_bytes")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            limit = None
        elif format == "json":  # base64 carries 3 bytes in 4 characters, plus the field names
            limit = max(limit * 3 // 4 - 64, 1)
        #: Largest binary request the service accepts in this client's format, in bytes
        #: of the binary form (None: not published). ScoringClient splits batches to fit.
        self.max_request_bytes: int | None = limit

    @staticmethod
    def _public_info(described: Any) -> dict[str, Any]:
        if not isinstance(described, dict):
            raise ProtocolError("the service described its model with something not an object")
        return {k: v for k, v in described.items() if k not in wire.SERVICE_FIELDS}

    def __repr__(self) -> str:
        return f"<HTTPScorer {self._root}/models/{self._name}>"

    @property
    def info(self) -> ModelInfo:
        """The model's public description, as the service published it."""
        return self._info

    @property
    def name(self) -> str:
        """The model's name on the service."""
        return self._name

    def _request(self, path: str, data: bytes | None, content_type: str | None) -> bytes:
        req = urllib.request.Request(self._root + path, data=data, method="POST" if data else "GET")
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                detail = str(json.loads(body)["detail"])
            except (ValueError, KeyError, TypeError):
                detail = body[:200].decode("utf-8", "replace")
            raise ServiceError(exc.code, detail) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ProtocolError(
                f"cannot reach the scoring service at {self._root}: {exc}"
            ) from None

    def _get(self, path: str) -> Any:
        try:
            return json.loads(self._request(path, None, None))
        except ValueError:
            raise ProtocolError(f"the service answered {path} with something not JSON") from None

    def score(self, public_key: PublicKey, encrypted_batch: Any) -> Any:
        """Send the batch, return the encrypted scores (validated, under ``public_key``)."""
        if not isinstance(public_key, PublicKey):
            raise TypeError(f"expected a hecrypt PublicKey, not {type(public_key).__name__}")
        path = f"/models/{urllib.parse.quote(self._name)}/score"
        if self._format == "json":
            body = wire.encode_request_json(public_key, encrypted_batch).encode()
            answer = self._request(path, body, "application/json")
            scores = wire.decode_scores_json(answer, public_key)
        else:
            body = wire.encode_request(public_key, encrypted_batch)
            answer = self._request(path, body, "application/octet-stream")
            scores = wire.decode_batch(answer, public_key)
        self.traffic.requests += 1
        self.traffic.bytes_sent += len(body)
        self.traffic.bytes_received += len(answer)
        return scores
