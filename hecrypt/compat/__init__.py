"""Compatibility layers for code written against other Paillier libraries.

:mod:`hecrypt.compat.phe` is a drop-in replacement for python-paillier's
``phe.paillier`` and ``phe.encoding`` modules, running on hecrypt's fast
paths. It does not import the ``phe`` package.
"""

from __future__ import annotations
