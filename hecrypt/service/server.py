"""The scoring service: an ASGI app (FastAPI) serving plaintext models.

The server holds models and never a private key. A client sends its public
key and its encrypted records; the server computes ``X @ coef.T +
intercept`` on the ciphertexts, re-randomizes the scores and sends them back.

Endpoints:

``GET /health``
    ``{"status": "ok", "models": <count>}``.
``GET /models``
    Every model's public description (:class:`~hecrypt.models.ModelInfo`) with
    its name and score URL.
``GET /models/{name}``
    One model's description.
``POST /models/{name}/score``
    Score a batch: binary (``application/octet-stream``) or JSON
    (``application/json``) request, same form in the response; see
    :mod:`hecrypt.service.wire`.

Errors are JSON ``{"detail": "<the rule that was broken>"}`` with status 400
(malformed request, bad ciphertext, key outside the size policy, wrong key),
404 (unknown model), 413 (body over the limit, enforced while reading; JSON
bodies have a lower limit than binary ones), 415 (unsupported content type)
or 422 (wrong number of features, overflow). Nothing a client sends makes a
500. The server keeps serving after any of them.

Scores are re-randomized for the key holder (uniform ``r^n``, statistically
hiding the computation whatever key the client chose) and their public bound
is rounded up to a power of two; no fixed-base table is ever built for a
client's key, so the work of a request is bounded by its body size and the
key-size limit.

What the server learns: the key's size and fingerprint, the number of records
and features, the packing layout and public bounds; nothing of the values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Literal

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.concurrency import run_in_threadpool
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'the scoring service needs FastAPI and uvicorn: pip install "hecrypt[server]"'
    ) from exc

from hecrypt.exceptions import (
    EncodingOverflowError,
    HecryptError,
    InvalidFeatures,
)
from hecrypt.models.linear import LinearModel, ModelInfo
from hecrypt.paillier import parallel
from hecrypt.service import wire

__all__ = [
    "create_app",
    "model_kind",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_JSON_BODY_BYTES",
    "DEFAULT_MAX_KEY_BITS",
    "DEFAULT_MAX_CONCURRENT",
    "LOGGER_NAME",
]

#: Default limit on a binary request body (64 MiB: ~130,000 packed 2048-bit ciphertexts).
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
#: Default limit on a JSON request body (base64 carries the same bytes in 4/3 of the
#: space, and parsing holds the text and the decoded strings at once).
DEFAULT_MAX_JSON_BODY_BYTES = 8 * 1024 * 1024
#: Score requests read and scored at once by default (others wait before their body is read).
DEFAULT_MAX_CONCURRENT = 8
#: Largest client key accepted by default (bits of n).
DEFAULT_MAX_KEY_BITS = wire.DEFAULT_MAX_KEY_BITS
#: Logger of the one-line-per-request log (method, path, status, sizes, time).
LOGGER_NAME = "hecrypt.service"

_BINARY = "application/octet-stream"
_JSON = "application/json"


class ErrorDetail(BaseModel):
    """Body of every 4xx answer (OpenAPI description only)."""

    detail: str = Field(description="the rule the request broke")


class Health(BaseModel):
    """Body of ``GET /health`` (OpenAPI description only)."""

    status: Literal["ok"]
    models: int = Field(description="number of models served")


class ClassLabels(BaseModel):
    """Class labels of a classifier, in the order of its scores."""

    dtype: Literal["int", "float", "str", "bool"]
    values: list[Any]


class ModelDescription(BaseModel):
    """A model's public description: everything a client needs, no weights.

    OpenAPI description only; the fields are those of ``ModelInfo.to_dict()``
    plus ``name``, ``kind``, ``score_url`` and ``formats``.
    """

    model_config = ConfigDict(extra="allow")

    name: str
    kind: Literal["regression", "binary", "multiclass"]
    task: Literal["regression", "classification"]
    n_features: int = Field(description="features per record the score endpoint expects")
    n_outputs: int = Field(description="scores per record")
    classes: ClassLabels | None = None
    proba: str | None = Field(None, description="how probabilities follow from the scores")
    single_output: bool
    feature_names: list[str] | None = None
    weight_l1_bound: float | None = Field(
        None, description="power-of-two bound on the weights' L1 norm (sizes packing slots)"
    )
    score_url: str
    formats: list[str] = Field(description="request content types the score endpoint accepts")
    max_body_bytes: int = Field(description="largest binary score request body (bytes)")
    max_json_body_bytes: int = Field(description="largest JSON score request body (bytes)")
    max_key_bits: int = Field(description="largest client key accepted (bits of n)")


class ModelList(BaseModel):
    """Body of ``GET /models`` (OpenAPI description only)."""

    models: list[ModelDescription]


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _status_for(exc: HecryptError) -> int:
    if isinstance(exc, (InvalidFeatures, EncodingOverflowError)):
        return 422
    return 400


def _score(
    model: LinearModel, content_type: str, body: bytes, policy: _KeyPolicy
) -> tuple[bytes, str]:
    """Decode, score, hide and encode (runs in a worker thread).

    Every failure caused by the request becomes a 4xx stating the rule: the
    decoders raise HecryptError subclasses, and anything else they raise on
    bytes no rule foresaw (``ValueError``, ``TypeError``, ``OverflowError``)
    is still the request's fault, so it is a 400, never a 500.
    """
    try:
        if content_type == _JSON:
            _, batch = wire.decode_request_json(
                body, insecure_small_keys=policy.insecure, max_key_bits=policy.max_bits
            )
        else:
            _, batch = wire.decode_request(
                body, insecure_small_keys=policy.insecure, max_key_bits=policy.max_bits
            )
    except HecryptError as exc:
        raise _HTTPError(_status_for(exc), str(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise _HTTPError(400, f"malformed request: {exc}") from None
    try:
        scores = model.score_for_client(batch)
        if content_type == _JSON:
            import json

            return json.dumps(wire.encode_scores_json(scores)).encode(), _JSON
        return scores.to_bytes(rerandomize=False), _BINARY
    except HecryptError as exc:
        raise _HTTPError(_status_for(exc), str(exc)) from None
    except (ValueError, OverflowError) as exc:  # e.g. a result beyond the format's limits
        raise _HTTPError(422, f"the scores cannot be returned: {exc}") from None


class _KeyPolicy:
    """Which client keys the service accepts."""

    def __init__(self, insecure: bool, max_bits: int) -> None:
        self.insecure = insecure
        self.max_bits = max_bits


class _RequestLog:
    """ASGI middleware: one log line per HTTP request, after its response.

    The line holds the method, the path (no query string), the status, the
    request and response body sizes and the time; never headers or bodies.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log = logging.getLogger(LOGGER_NAME)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        seen = {"in": 0, "out": 0, "status": 500}

        async def counting_receive() -> Any:
            message = await receive()
            if message.get("type") == "http.request":
                seen["in"] += len(message.get("body", b""))
            return message

        async def counting_send(message: Any) -> None:
            if message.get("type") == "http.response.start":
                seen["status"] = int(message.get("status", 500))
            elif message.get("type") == "http.response.body":
                seen["out"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            self.log.info(
                "%s %s %d in=%dB out=%dB %.1fms",
                scope.get("method", "?"),
                _printable(scope.get("path", "")),
                seen["status"],
                seen["in"],
                seen["out"],
                (time.perf_counter() - t0) * 1000,
            )


def _printable(path: str, limit: int = 200) -> str:
    """A path safe for one log line: no control characters, at most ``limit`` characters."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in path[:limit])
    return clean + ("..." if len(path) > limit else "")


def model_kind(info: ModelInfo) -> str:
    """``"regression"``, ``"binary"`` or ``"multiclass"``: what a model's scores are."""
    if not info.is_classifier:
        return "regression"
    return "binary" if len(info.classes or ()) == 2 else "multiclass"


def _load_models(
    models: Mapping[str, LinearModel | str | os.PathLike[str]]
    | list[str | os.PathLike[str]]
    | tuple[str | os.PathLike[str], ...],
) -> dict[str, LinearModel]:
    """Name -> model from a mapping (models or files) or a list of files (named by stem)."""
    from hecrypt import models as model_files

    if isinstance(models, Mapping):
        named = list(models.items())
    elif isinstance(models, (list, tuple)):
        named = [(Path(p).stem, p) for p in models]
    else:
        raise TypeError("models must be a mapping name -> model (or file) or a list of files")
    table: dict[str, LinearModel] = {}
    for name, model in named:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"model name {name!r} must be a non-empty string without '/'")
        if name in table:
            raise ValueError(f"two models named {name!r}; rename one file")
        if isinstance(model, (str, os.PathLike)):
            model = model_files.load(model)
        if not isinstance(model, LinearModel):
            raise TypeError(f"model {name!r} is not a hecrypt LinearModel")
        table[name] = model
    return table


def create_app(
    models: Mapping[str, LinearModel | str | os.PathLike[str]]
    | list[str | os.PathLike[str]]
    | tuple[str | os.PathLike[str], ...],
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    insecure_small_keys: bool = False,
    max_key_bits: int = DEFAULT_MAX_KEY_BITS,
    max_json_body_bytes: int | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> Any:
    """Build the FastAPI application serving ``models`` by name.

    Args:
        models: name -> model (plaintext; no private key anywhere) or name ->
            model file, or a list of model files each served under its stem.
        max_body_bytes: largest binary request body accepted (413 above).
        insecure_small_keys: accept client keys below 2048 bits (tests only).
        max_key_bits: largest client key accepted (400 above; default 4096).
            The work per ciphertext grows with the cube of the key size, so
            this bounds what one byte of request can cost.
        max_json_body_bytes: largest JSON request body accepted (413 above);
            default: the smaller of ``max_body_bytes`` and 8 MiB.
        max_concurrent: score requests whose bodies are read and scored at
            once; later ones wait before their body is read. Memory held by
            scoring stays below about ``max_concurrent * 3.5 * max_body_bytes``
            (binary; JSON: ``4 * max_json_body_bytes`` each), see docs/scoring.md.

    Every request is logged in one line on the :data:`LOGGER_NAME` logger at
    INFO: method, path, status, bytes in and out, milliseconds. Never a key,
    a ciphertext or a header.

    Raises:
        ValueError: no models, two models of one name, or a non-positive limit.
        TypeError: something that is not a model or a model file.
        ModelFormatError, OSError: a model file that cannot be loaded.
    """
    if max_body_bytes < 1:
        raise ValueError("max_body_bytes must be positive")
    if max_json_body_bytes is None:
        max_json_body_bytes = min(max_body_bytes, DEFAULT_MAX_JSON_BODY_BYTES)
    if max_json_body_bytes < 1:
        raise ValueError("max_json_body_bytes must be positive")
    if isinstance(max_key_bits, bool) or not isinstance(max_key_bits, int) or max_key_bits < 1:
        raise ValueError("max_key_bits must be a positive integer")
    if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or (
        max_concurrent < 1
    ):
        raise ValueError("max_concurrent must be a positive integer")
    policy = _KeyPolicy(bool(insecure_small_keys), max_key_bits)
    gate: dict[str, Any] = {}
    limits = {_BINARY: max_body_bytes, _JSON: max_json_body_bytes}
    table = _load_models(models)
    if not table:
        raise ValueError("the service needs at least one model")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        # Stop the process pool that large batches are scored on while the server
        # still shuts down cleanly: uvicorn ends the process with the signal that
        # stopped it, which skips interpreter exit handlers, and orphaned pool
        # workers would outlive the server.
        await run_in_threadpool(parallel.shutdown_default_executor)

    app = FastAPI(
        lifespan=lifespan,
        title="hecrypt scoring service",
        description=(
            "Scores encrypted records with plaintext models. The server never holds a "
            "private key; it learns the number of records and features, not their values."
        ),
        version="1",
    )
    app.add_middleware(_RequestLog)

    @app.exception_handler(_HTTPError)
    async def _http_error(request: Request, exc: _HTTPError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    def describe(name: str) -> dict[str, Any]:
        model_info = table[name].info
        info = model_info.to_dict()
        info.update(
            name=name,
            kind=model_kind(model_info),
            score_url=f"/models/{name}/score",
            formats=[_BINARY, _JSON],
            max_body_bytes=max_body_bytes,
            max_json_body_bytes=max_json_body_bytes,
            max_key_bits=max_key_bits,
        )
        return info

    def lookup(name: str) -> LinearModel:
        model = table.get(name)
        if model is None:
            raise _HTTPError(404, f"no model named {name!r}; GET /models lists them")
        return model

    @app.get("/health", summary="Liveness check", response_model=None,
             responses={200: {"model": Health}})
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": len(table)}

    @app.get("/models", summary="Models and their input schema", response_model=None,
             responses={200: {"model": ModelList}})
    async def list_models() -> dict[str, Any]:
        return {"models": [describe(name) for name in sorted(table)]}

    @app.get("/models/{name}", summary="One model's input schema", response_model=None,
             responses={200: {"model": ModelDescription},
                        404: {"model": ErrorDetail, "description": "unknown model"}})
    async def get_model(name: str) -> dict[str, Any]:
        lookup(name)
        return describe(name)

    binary_schema = {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": (
                'request: "HSRQ" | version u8 (1) | key length u32 BE | public key bytes | '
                "encrypted tensor or packed tensor bytes; response: the encrypted scores in "
                "the batch's form (docs/formats.md)"
            ),
        }
    }
    json_request = {
        "schema": {
            "type": "object",
            "required": ["public_key", "batch"],
            "properties": {
                "public_key": {"type": "string", "format": "byte"},
                "batch": {"type": "string", "format": "byte"},
            },
        }
    }
    json_response = {
        "schema": {
            "type": "object",
            "properties": {
                "scores": {"type": "string", "format": "byte"},
                "kind": {"type": "string", "enum": ["tensor", "packed"]},
            },
        }
    }

    @app.post(
        "/models/{name}/score",
        summary="Score an encrypted batch",
        description=(
            "Public key and encrypted features in (binary frame or JSON with base64 fields, "
            "see docs/formats.md), re-randomized encrypted scores out in the same form."
        ),
        response_class=Response,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {_BINARY: binary_schema, _JSON: json_request},
            }
        },
        responses={
            200: {"content": {_BINARY: binary_schema, _JSON: json_response}},
            400: {"model": ErrorDetail, "description": "malformed request, bad ciphertext or key"},
            404: {"model": ErrorDetail, "description": "unknown model"},
            413: {"model": ErrorDetail, "description": "body over the size limit"},
            415: {"model": ErrorDetail, "description": "unsupported content type"},
            422: {"model": ErrorDetail, "description": "wrong number of features or overflow"},
        },
    )
    async def score(name: str, request: Request) -> Response:
        model = lookup(name)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (_BINARY, _JSON):
            raise _HTTPError(415, f"send {_BINARY} or {_JSON}, not {content_type or 'nothing'}")
        limit = limits[content_type]
        kind = "JSON" if content_type == _JSON else "binary"
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _HTTPError(400, "invalid Content-Length")
            if int(declared) > limit:
                raise _HTTPError(
                    413, f"{kind} body of {declared} bytes is over the {limit}-byte limit"
                )
        if "semaphore" not in gate:  # created in the serving event loop
            gate["semaphore"] = asyncio.Semaphore(max_concurrent)
        async with gate["semaphore"]:
            return await _read_and_score(request, model, content_type, limit, kind)

    async def _read_and_score(
        request: Request, model: LinearModel, content_type: str, limit: int, kind: str
    ) -> Response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _HTTPError(413, f"{kind} body is over the {limit}-byte limit")
            chunks.append(chunk)
        body = b"".join(chunks)
        del chunks
        payload, media = await run_in_threadpool(_score, model, content_type, body, policy)
        return Response(content=payload, media_type=media)

    return app
