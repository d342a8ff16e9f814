"""The Paillier public key (g = n + 1): encryption with DJN randomness and the key's pool.

:class:`PublicKey` wraps a validated modulus (see
:mod:`hecrypt.paillier.key_policy`) and encrypts numbers, batches, tensors
and packed records with DJN short-exponent randomness (see
:mod:`hecrypt.paillier.randomness`). ``_pools`` holds each key's pool of
precomputed n-th residues, drawn first by every encryption under the key,
by the owner's as well (:mod:`hecrypt.paillier.private_key`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.encoding import fixedpoint
from hecrypt.exceptions import ValueBoundError
from hecrypt.paillier import parallel, randomness
from hecrypt.paillier.key_policy import _as_int, _check_modulus, _check_size
from hecrypt.paillier.number import EncryptedNumber, public_bound
from hecrypt.paillier.packed import DEFAULT_PACKED_FRAC_BITS, DEFAULT_WEIGHT_BOUND

if TYPE_CHECKING:
    from hecrypt.paillier.packed import PackedTensor
    from hecrypt.paillier.tensor import EncryptedTensor

_pools = randomness.PoolRegistry()


def _flatten(values: Any) -> list[Any]:
    """A list of Python scalars from a sequence or numpy array."""
    tolist = getattr(values, "tolist", None)
    if tolist is not None and hasattr(values, "ndim"):
        out = tolist()
        if getattr(values, "ndim", 1) != 1:
            raise ValueError("batch functions take a 1-D sequence; reshape or use a tensor")
        return list(out)
    return list(values)


class PublicKey:
    """A Paillier public key: the modulus ``n`` (generator ``g = n + 1``).

    Immutable; equal and hashed by ``n``. The :attr:`fingerprint` (16 hex
    digits of SHA-256 of ``n``) names the key in messages and files.
    """

    __slots__ = ("__weakref__", "_fingerprint", "_max_int", "_n", "_nsq")

    _n: Any
    _nsq: Any
    _max_int: int
    _fingerprint: str

    def __init__(self, n: int, *, insecure_small_keys: bool = False) -> None:
        """Validate and wrap a modulus from outside.

        Raises:
            InvalidKey: not an integer, even, or outside the size policy.
        """
        n = _as_int(n, "n")
        _check_size(n.bit_length(), insecure_small_keys)
        _check_modulus(n)
        object.__setattr__(self, "_n", n)
        object.__setattr__(self, "_nsq", n * n)
        object.__setattr__(self, "_max_int", int(n // 3))
        digest = hashlib.sha256(int(n).to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()
        object.__setattr__(self, "_fingerprint", digest[:16])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("PublicKey is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("PublicKey is immutable")

    # ------------------------------------------------------------ attributes
    @property
    def n(self) -> int:
        """The modulus."""
        return int(self._n)

    @property
    def nsquare(self) -> int:
        """``n^2``, the ciphertext modulus."""
        return int(self._nsq)

    @property
    def g(self) -> int:
        """The generator ``n + 1``."""
        return int(self._n) + 1

    @property
    def n_bits(self) -> int:
        """Bit length of ``n``."""
        return int(self._n.bit_length())

    @property
    def max_int(self) -> int:
        """Largest plaintext magnitude (``n // 3``); beyond it values overflow."""
        return self._max_int

    @property
    def fingerprint(self) -> str:
        """Short public identifier of the key (16 hex digits)."""
        return self._fingerprint

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._n == self._n

    def __hash__(self) -> int:
        return hash(("hecrypt.PublicKey", int(self._n)))

    def __repr__(self) -> str:
        return f"<PublicKey {self.n_bits}-bit {self._fingerprint}>"

    def __reduce__(self) -> Any:
        return (_load_public, (int(self._n),))

    # ------------------------------------------------------------ encryption
    def _residue(self, value: Any, frac_bits: int | None) -> tuple[Any, int]:
        m, scale = fixedpoint.encode(value, self._max_int, frac_bits)
        return mpz(m) % self._n, scale

    def _encode_number(
        self, value: Any, frac_bits: int | None, value_bound: float | None = None
    ) -> tuple[Any, int, int]:
        """``(residue, scale, public bound)`` of one number."""
        m, scale = fixedpoint.encode(value, self._max_int, frac_bits)
        if value_bound is None:
            bound = public_bound(m, scale, self._max_int)
        else:
            from hecrypt.encoding import bounds as _bounds

            bound = _bounds.declared_bound(value_bound, scale)
            _bounds._need(bound, self._max_int, "the declared value_bound")
            if abs(m) > bound:
                raise ValueBoundError(
                    f"the value exceeds the declared value_bound {value_bound!r} at scale 2^{scale}"
                )
        return mpz(m) % self._n, scale, bound

    def _take_randomness(self, count: int) -> list[Any]:
        out = _pools.take(self._n, count)
        if len(out) < count:
            out.extend(randomness.djn_sampler(self._n).sample_many(count - len(out)))
        return out

    def raw_encrypt(self, m: int, r: int | None = None) -> int:
        """Low-level: ciphertext of the residue ``m`` (``0 <= m < n``).

        With ``r`` given, returns ``(1 + m*n) * r^n mod n^2`` (deterministic:
        for test vectors and interop only); otherwise DJN randomness.
        """
        m = mpz(m)
        if not 0 <= m < self._n:
            raise ValueError("raw plaintext must satisfy 0 <= m < n")
        if r is None:
            rn = self._take_randomness(1)[0]
        else:
            r = mpz(r)
            if not 0 < r < self._n or _gmp.gcd(r, self._n) != 1:
                raise ValueError("r must be a unit modulo n")
            rn = _gmp.powmod(r, self._n, self._nsq)
        return int(parallel._finish(self._n, self._nsq, [m], [rn])[0])

    @overload
    def encrypt(
        self,
        value: np.ndarray,
        *,
        frac_bits: int | None = None,
        value_bound: float | None = None,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> EncryptedTensor: ...

    @overload
    def encrypt(
        self,
        value: float,
        *,
        frac_bits: int | None = None,
        value_bound: float | None = None,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> EncryptedNumber: ...

    def encrypt(
        self,
        value: Any,
        *,
        frac_bits: int | None = None,
        value_bound: float | None = None,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> EncryptedNumber | EncryptedTensor:
        """Encrypt one int or float, or a numpy array, with DJN randomness (public key only).

        Args:
            value: int (scale 0) or float (scale ``frac_bits``, default 32); a
                ``numpy.ndarray`` gives an :class:`~hecrypt.paillier.tensor.EncryptedTensor`
                with one scale for all elements.
            frac_bits: fixed-point scale for floats.
            value_bound: a public bound on ``|value|``. Otherwise a tensor's
                bound reveals its largest magnitude, and a number's bound is
                :func:`~hecrypt.paillier.number.public_bound` (it reveals
                only whether ``|value| >= 2^64``, then its bit length).
            executor: arrays only: where to run (see :mod:`.parallel`).
            progress: arrays only: ``progress(done, total)`` callback.

        Raises:
            ValueBoundError: (a ``ValueError``) the encoded value exceeds the
                declared bound ``ceil(value_bound * 2**scale)``.
            EncodingOverflowError: the value or the declared bound does not fit
                the plaintext band ``max_int``.

        Security: DJN short-exponent randomness; see
        :mod:`hecrypt.paillier.randomness` for the assumption.
        """
        if isinstance(value, np.ndarray):
            from hecrypt.paillier import tensor

            return tensor.encrypt_public(
                self, value, frac_bits=frac_bits, value_bound=value_bound,
                executor=executor, progress=progress,
            )
        m, scale, bound = self._encode_number(value, frac_bits, value_bound)
        rn = self._take_randomness(1)[0]
        c = parallel._finish(self._n, self._nsq, [m], [rn])[0]
        return EncryptedNumber._make(self, c, scale, True, bound)

    def encrypt_packed(
        self,
        values: Any,
        *,
        slots: int | None = None,
        frac_bits: int | None = None,
        value_bound: float | None = None,
        weight_bound: float = DEFAULT_WEIGHT_BOUND,
        weight_frac_bits: int = DEFAULT_PACKED_FRAC_BITS,
        terms: int | None = None,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> PackedTensor:
        """Encrypt records slot-wise for batch scoring (DJN randomness, public key only).

        Ciphertext ``(c, j)`` packs feature ``j`` of ``slots`` consecutive
        records, so ``packed @ w`` costs one scalar multiplication per feature
        for all of them (see :mod:`hecrypt.paillier.packed`).

        Args:
            values: 2-D array, records x features (floats or ints).
            slots: records per ciphertext; default: as many as the bounds allow.
            frac_bits: fractional bits of the data (default 20 for floats, 0 for ints).
            value_bound: public bound on ``|x|``; without it the largest ``|x|``
                sizes the layout and is revealed by it.
            weight_bound: bound on ``|w|`` of the weights to be applied.
            weight_frac_bits: fractional bits of float weights.
            terms: accumulated products the slots must hold (default: features).
            executor: where to run (see :mod:`.parallel`).
            progress: ``progress(done, total)`` callback.

        Raises:
            EncodingOverflowError: the computation does not fit the key (or
                ``slots`` slots).

        Leaks: records, features, layout, scale and bound. Security: DJN
        short-exponent randomness (see :mod:`hecrypt.paillier.randomness`).
        """
        from hecrypt.paillier import packed

        return packed.encrypt_public(
            self, values, slots=slots, frac_bits=frac_bits, value_bound=value_bound,
            weight_bound=weight_bound, weight_frac_bits=weight_frac_bits, terms=terms,
            executor=executor, progress=progress,
        )

    def encrypt_batch(
        self,
        values: Any,
        *,
        frac_bits: int | None = None,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
        djn_exponent_bits: int | None = None,
    ) -> list[EncryptedNumber]:
        """Encrypt a 1-D sequence or array; spread over cores (see :mod:`.parallel`).

        Args:
            values: ints and floats, as a sequence or a 1-D numpy array.
            frac_bits: fixed-point scale for floats (default 32).
            executor: where to run (default: local process pool for large batches).
            progress: ``progress(done, total)`` callback.
            djn_exponent_bits: opt-in to DJN exponents shorter than the default
                ``ceil(|n|/2)`` bits. Faster, under a *stronger* assumption: that
                ``hs^alpha`` with an exponent of this length is indistinguishable
                from a uniform n-th residue (see docs/security.md). The pool is
                not used when this is set. Refused below ``2 * lambda`` bits
                (224 for a 2048-bit key, see
                :func:`~hecrypt.paillier.randomness.min_djn_exponent_bits`).

        Raises:
            ParameterError: ``djn_exponent_bits`` below the floor.
        """
        items = _flatten(values)
        encoded = [self._encode_number(v, frac_bits) for v in items]
        ms = [m for m, _, _ in encoded]
        cs = self._encrypt_residues(ms, executor, progress, djn_exponent_bits)
        return [EncryptedNumber._make(self, c, s, True, b) for c, (_, s, b) in zip(cs, encoded)]

    def _encrypt_residues(
        self,
        ms: Sequence[Any],
        executor: Executor | None,
        progress: parallel.ProgressCallback | None,
        exp_bits: int | None = None,
    ) -> list[Any]:
        if exp_bits is not None:
            exp_bits = randomness.check_djn_exponent_bits(exp_bits, self.n_bits)
        pooled = _pools.take(self._n, len(ms)) if exp_bits is None else []
        head = parallel._finish(self._n, self._nsq, ms[: len(pooled)], pooled)
        done, total = len(head), len(ms)
        inner: parallel.ProgressCallback | None = None
        if progress is not None:
            # Report against the whole batch, counting the pooled part as done.
            def inner(k: int, _: int) -> None:
                progress(done + k, total)

            if done == total and total:
                progress(total, total)
        rest = parallel.map_chunks(
            parallel.djn_encrypt_chunk,
            (self._n, exp_bits),
            ms[len(pooled) :],
            executor=executor,
            progress=inner,
        )
        return head + rest

    def precompute(self, count: int, *, executor: Executor | None = None) -> int:
        """Fill this key's randomness pool with ``count`` DJN values (offline phase).

        Encryption and re-randomization under this key draw from the pool
        first. Returns the pool size.
        """
        pool = _pool_for(self._n)
        pool.add(parallel.map_chunks(parallel.djn_sample_chunk, (self._n, None), [1] * count,
                                     executor=executor))
        return len(pool)

    @property
    def pool_size(self) -> int:
        """Values waiting in this key's randomness pool."""
        pool = _pools.get(self._n)
        return len(pool) if pool is not None else 0

    # ------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        """Compact binary form."""
        from hecrypt.paillier import serialization

        return serialization.public_key_to_bytes(self)

    @classmethod
    def from_bytes(cls, data: bytes, *, insecure_small_keys: bool = False) -> PublicKey:
        """Load and validate a key written by :meth:`to_bytes`."""
        from hecrypt.paillier import serialization

        return serialization.public_key_from_bytes(data, insecure_small_keys=insecure_small_keys)

    def to_json(self) -> str:
        """JSON form."""
        from hecrypt.paillier import serialization

        return serialization.public_key_to_json(self)

    @classmethod
    def from_json(cls, text: str | bytes, *, insecure_small_keys: bool = False) -> PublicKey:
        """Load and validate a key written by :meth:`to_json`."""
        from hecrypt.paillier import serialization

        return serialization.public_key_from_json(text, insecure_small_keys=insecure_small_keys)

    @classmethod
    def from_phe(cls, pk: Any, *, insecure_small_keys: bool = False) -> PublicKey:
        """Convert a ``phe.paillier.PaillierPublicKey``."""
        from hecrypt.paillier import interop

        return interop.public_key_from_phe(pk, insecure_small_keys=insecure_small_keys)

    def to_phe(self) -> Any:
        """Convert to a ``phe.paillier.PaillierPublicKey`` (needs the phe package)."""
        from hecrypt.paillier import interop

        return interop.public_key_to_phe(self)

    # ------------------------------------------------------------ key files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key to ``path``: JSON for a ``.json`` path, else binary.

        Read it back with :func:`hecrypt.load_key` (see
        :mod:`hecrypt.paillier.keyfiles`).
        """
        from hecrypt.paillier import keyfiles

        keyfiles.save_key(self, path)


def _load_public(n: int) -> PublicKey:
    pk = object.__new__(PublicKey)
    PublicKey.__init__(pk, n, insecure_small_keys=True)
    return pk


def _pool_for(n: Any) -> randomness.RandomnessPool:
    return _pools.pool_for(n, lambda k: randomness.djn_sampler(n).sample_many(k))


# Users import the key classes from hecrypt.paillier.keys (or hecrypt): reprs,
# error messages and pickles name that path, as before the classes had modules
# of their own (the compat and tensor parts follow the same rule).
PublicKey.__module__ = _load_public.__module__ = "hecrypt.paillier.keys"
