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
(malformed request, bad ciphertext, key below the size policy, wrong key),
404 (unknown model), 413 (body over the limit, enforced while reading), 415
(unsupported content type) or 422 (wrong number of features, overflow). The
server keeps serving after any of them.

What the server learns: the key's size and fingerprint, the number of records
and features, the packing layout and public bounds; nothing of the values.
"""

from __future__ import annotations

import contextlib
import os
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

__all__ = ["create_app", "model_kind", "DEFAULT_MAX_BODY_BYTES"]

#: Default limit on a request body (64 MiB: ~130,000 packed 2048-bit ciphertexts).
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

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


def _score(model: LinearModel, content_type: str, body: bytes, insecure: bool) -> tuple[bytes, str]:
    """Decode, score, re-randomize and encode (runs in a worker thread)."""
    try:
        if content_type == _JSON:
            _, batch = wire.decode_request_json(body, insecure_small_keys=insecure)
        else:
            _, batch = wire.decode_request(body, insecure_small_keys=insecure)
        scores = model.score_encrypted(batch).rerandomized()
    except HecryptError as exc:
        raise _HTTPError(_status_for(exc), str(exc)) from None
    except TypeError as exc:
        raise _HTTPError(400, str(exc)) from None
    if content_type == _JSON:
        import json

        return json.dumps(wire.encode_scores_json(scores)).encode(), _JSON
    return scores.to_bytes(rerandomize=False), _BINARY


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
) -> Any:
    """Build the FastAPI application serving ``models`` by name.

    Args:
        models: name -> model (plaintext; no private key anywhere) or name ->
            model file, or a list of model files each served under its stem.
        max_body_bytes: largest request body accepted (413 above).
        insecure_small_keys: accept client keys below 2048 bits (tests only).

    Raises:
        ValueError: no models, two models of one name, or a non-positive body limit.
        TypeError: something that is not a model or a model file.
        ModelFormatError, OSError: a model file that cannot be loaded.
    """
    if max_body_bytes < 1:
        raise ValueError("max_body_bytes must be positive")
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
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _HTTPError(400, "invalid Content-Length")
            if int(declared) > max_body_bytes:
                raise _HTTPError(
                    413, f"body of {declared} bytes is over the {max_body_bytes}-byte limit"
                )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise _HTTPError(413, f"body is over the {max_body_bytes}-byte limit")
            chunks.append(chunk)
        body = b"".join(chunks)
        payload, media = await run_in_threadpool(
            _score, model, content_type, body, insecure_small_keys
        )
        return Response(content=payload, media_type=media)

    return app
