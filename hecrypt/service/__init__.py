"""The scoring service: HTTP server (FastAPI/uvicorn, optional) and its client.

* :mod:`hecrypt.service.wire` -- the request and response formats.
* :mod:`hecrypt.service.server` -- :func:`create_app` (needs ``hecrypt[server]``).
* :mod:`hecrypt.service.client` -- :class:`HTTPScorer`, stdlib only.

Importing this package does not import FastAPI.
"""

from __future__ import annotations
