"""The Paillier private key: the primes, the owner's fast encryption and CRT decryption.

:class:`PrivateKey` validates its primes (see
:mod:`hecrypt.paillier.key_policy`), encrypts with the key owner's exact CRT
randomness and fixed-base tables (see :mod:`hecrypt.paillier.randomness`),
drawing the key's precompute pool first, and decrypts numbers, batches,
tensors and packed records. It is secret: ``repr`` never shows the primes,
and its serialized forms are marked secret.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from hecrypt import _gmp
from hecrypt.encoding import fixedpoint
from hecrypt.exceptions import InvalidKey, KeyMismatchError
from hecrypt.paillier import parallel, randomness
from hecrypt.paillier.key_policy import _as_int, _check_factors
from hecrypt.paillier.number import EncryptedNumber, validate_ciphertext
from hecrypt.paillier.packed import DEFAULT_PACKED_FRAC_BITS, DEFAULT_WEIGHT_BOUND
from hecrypt.paillier.public_key import PublicKey, _flatten, _load_public, _pool_for, _pools

if TYPE_CHECKING:
    from hecrypt.paillier.packed import PackedTensor
    from hecrypt.paillier.tensor import EncryptedTensor


class PrivateKey:
    """A Paillier private key: the primes ``p < q`` and CRT constants.

    Immutable; equal and hashed by its primes. ``repr`` never shows them.

    Memory: once a process has encrypted more than
    ``randomness.OWNER_TABLES_AFTER`` values with the key owner's path, it
    holds two fixed-base tables for the key: about 204 MiB at 2048 bits with
    the default window of 12 bits, in the calling process and in each worker
    process of the default pool. ``owner_window=8``
    (:data:`~hecrypt.paillier.randomness.LOW_MEMORY_OWNER_WINDOW`, or
    :meth:`with_owner_window`) is the lower-memory setting: about 19 MiB per
    process, at the speed given in docs/performance.md.
    """

    __slots__ = ("_hp", "_hq", "_p", "_p_inv_q", "_pk", "_psq", "_q", "_qsq", "_window")

    _pk: PublicKey
    _p: Any
    _q: Any
    _psq: Any
    _qsq: Any
    _hp: Any
    _hq: Any
    _p_inv_q: Any
    _window: int | None

    def __init__(
        self, public_key: PublicKey, p: int, q: int, *, owner_window: int | None = None
    ) -> None:
        """Validate and build a private key from its primes.

        Args:
            public_key: the matching public key.
            p, q: the prime factors of ``n`` (either order).
            owner_window: window (bits, 4 to 16) of this key's owner
                encryption tables; None (default) means
                ``randomness.OWNER_WINDOW`` (12 unless ``HECRYPT_OWNER_WINDOW``
                says otherwise). 8 is the lower-memory setting (about 19 MiB
                per process at 2048 bits instead of about 204 MiB). A local
                setting: not part of the key's files or its equality.

        Raises:
            InvalidKey: ``p * q != n``, equal or close factors (``|p - q|`` at
                most ``2^(|n|/2 - 100)``), ``gcd(n, phi(n)) != 1``, or a factor
                is not prime.
            ParameterError: ``owner_window`` is not an integer from 4 to 16.
        """
        if not isinstance(public_key, PublicKey):
            raise InvalidKey("public_key must be a hecrypt PublicKey")
        if owner_window is not None:
            randomness.check_owner_window(owner_window)
        p, q = _as_int(p, "p"), _as_int(q, "q")
        if p > q:
            p, q = q, p
        _check_factors(public_key._n, p, q)
        set_ = object.__setattr__
        set_(self, "_pk", public_key)
        set_(self, "_p", p)
        set_(self, "_q", q)
        set_(self, "_psq", p * p)
        set_(self, "_qsq", q * q)
        set_(self, "_hp", parallel._h(p, public_key._n))
        set_(self, "_hq", parallel._h(q, public_key._n))
        set_(self, "_p_inv_q", _gmp.invert(p, q))
        set_(self, "_window", owner_window)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("PrivateKey is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("PrivateKey is immutable")

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return self._pk

    @property
    def p(self) -> int:
        """The smaller prime factor of n (secret)."""
        return int(self._p)

    @property
    def q(self) -> int:
        """The larger prime factor of n (secret)."""
        return int(self._q)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and other._p == self._p and other._q == self._q

    def __hash__(self) -> int:
        return hash(("hecrypt.PrivateKey", int(self._p), int(self._q)))

    def __repr__(self) -> str:
        return f"<PrivateKey for {self._pk.n_bits}-bit {self._pk.fingerprint}>"

    def __reduce__(self) -> Any:
        return (_load_private, (int(self._pk._n), int(self._p), int(self._q), self._window))

    # ------------------------------------------------------------ owner tables
    @property
    def owner_window(self) -> int:
        """Window (bits) of this key's owner encryption tables in this process."""
        return randomness.OWNER_WINDOW if self._window is None else self._window

    def with_owner_window(self, window: int | None) -> PrivateKey:
        """The same key with owner encryption tables of ``window`` bits.

        ``key.with_owner_window(8)`` is the lower-memory setting: the two
        tables take about 19 MiB per process at 2048 bits instead of about
        204 MiB (window 12, the default), at the speed measured in
        docs/performance.md; 4 to 16 are accepted, None restores the default.
        Only speed and memory change: the randomness has the same
        distribution with every window.

        Raises:
            ParameterError: ``window`` is not None or an integer from 4 to 16.
        """
        if window is not None:
            randomness.check_owner_window(window)
        other = object.__new__(PrivateKey)
        for name in PrivateKey.__slots__:
            object.__setattr__(other, name, getattr(self, name))
        object.__setattr__(other, "_window", window)
        return other

    # ------------------------------------------------------------ encryption
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
        """Encrypt with the key owner's exact CRT randomness (fast, no extra assumption).

        A ``numpy.ndarray`` gives an :class:`~hecrypt.paillier.tensor.EncryptedTensor`
        (``value_bound``, ``executor``, ``progress`` as :meth:`PublicKey.encrypt`;
        the default executor receives ``p`` and ``q``).
        """
        if isinstance(value, np.ndarray):
            from hecrypt.paillier import tensor

            return tensor.encrypt_owner(
                self, value, frac_bits=frac_bits, value_bound=value_bound,
                executor=executor, progress=progress,
            )
        pk = self._pk
        m, scale, bound = pk._encode_number(value, frac_bits, value_bound)
        c = self._encrypt_residues([m], None, None)[0]
        return EncryptedNumber._make(pk, c, scale, True, bound)

    def _encrypt_residues(
        self,
        ms: Sequence[Any],
        executor: Executor | None,
        progress: parallel.ProgressCallback | None,
    ) -> list[Any]:
        """Ciphertexts of residues: pooled randomness first, then the owner's sampler."""
        pk = self._pk
        pooled = _pools.take(pk._n, len(ms))
        head = parallel._finish(pk._n, pk._nsq, ms[: len(pooled)], pooled)
        done, total = len(head), len(ms)
        if done == total:
            if progress is not None and total:
                progress(total, total)
            return head
        inner: parallel.ProgressCallback | None = None
        if progress is not None:
            def inner(k: int, _: int) -> None:
                progress(done + k, total)

        rest = parallel.map_chunks(
            parallel.owner_window_encrypt_chunk, (self._p, self._q, self._window), ms[done:],
            executor=executor, progress=inner,
        )
        return head + rest

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
        """:meth:`PublicKey.encrypt_packed` with the key owner's exact CRT randomness.

        The default executor is a local process pool that receives ``p`` and ``q``.
        """
        from hecrypt.paillier import packed

        return packed.encrypt_owner(
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
    ) -> list[EncryptedNumber]:
        """Encrypt a 1-D sequence or array with the key owner's fast path, over cores.

        Randomness comes from the key's pool first (:meth:`precompute`),
        then from the key owner's sampler (see
        :mod:`hecrypt.paillier.randomness`): fixed-base tables mod ``p^2`` and
        ``q^2``, built in each process once it has drawn
        ``OWNER_TABLES_AFTER`` values, about 214 MB per 2048-bit key and per
        process (worker processes included); ``with_owner_window(8)`` is the
        lower-memory setting, about 19 MiB (speed in docs/performance.md).

        The default executor is a local process pool that receives ``p`` and
        ``q``; pass another executor only if you trust it with the key.
        """
        pk = self._pk
        items = _flatten(values)
        encoded = [pk._encode_number(v, frac_bits) for v in items]
        cs = self._encrypt_residues([m for m, _, _ in encoded], executor, progress)
        return [EncryptedNumber._make(pk, c, s, True, b) for c, (_, s, b) in zip(cs, encoded)]

    def precompute(self, count: int, *, executor: Executor | None = None) -> int:
        """Fill the key's randomness pool with the owner's n-th residues (offline phase).

        Encryption (owner or public) and re-randomization under this key
        draw from the pool first. Returns the pool size.
        """
        pool = _pool_for(self._pk._n)
        pool.add(parallel.map_chunks(parallel.owner_window_sample_chunk,
                                     (self._p, self._q, self._window),
                                     [1] * count, executor=executor))
        return len(pool)

    # ------------------------------------------------------------ decryption
    def raw_decrypt(self, c: int) -> int:
        """Low-level: the residue in ``[0, n)`` of a raw ciphertext (validated)."""
        c = validate_ciphertext(self._pk, c)
        return int(self._crt_decrypt(c))

    def _crt_decrypt(self, c: Any) -> Any:
        p, q = self._p, self._q
        xp = _gmp.powmod(c, p - 1, self._psq)
        xq = _gmp.powmod(c, q - 1, self._qsq)
        mp = (xp - 1) // p * self._hp % p
        mq = (xq - 1) // q * self._hq % q
        return mp + p * ((mq - mp) * self._p_inv_q % q)

    def _check(self, x: Any) -> EncryptedNumber:
        if not isinstance(x, EncryptedNumber):
            raise TypeError(_not_encrypted_message(x))
        if x._pk is not self._pk and x._pk != self._pk:
            raise KeyMismatchError(
                f"number encrypted under key {x._pk.fingerprint}, not {self._pk.fingerprint}"
            )
        return x

    @overload
    def decrypt(
        self,
        x: EncryptedTensor,
        *,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> np.ndarray: ...

    @overload
    def decrypt(
        self,
        x: PackedTensor,
        *,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> np.ndarray: ...

    @overload
    def decrypt(
        self,
        x: EncryptedNumber,
        *,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> int | float: ...

    def decrypt(
        self,
        x: EncryptedNumber | EncryptedTensor | PackedTensor,
        *,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> int | float | np.ndarray:
        """Decrypt to an int (scale 0) or float; a tensor to an ndarray of its shape.

        Tensors decode through :func:`hecrypt.encoding.bounds.decode_array`
        (float64 for scale > 0, int64 or exact Python ints for scale 0) with
        the CRT kernel spread over ``executor`` (the default receives ``p``
        and ``q``). A :class:`~hecrypt.paillier.packed.PackedTensor` decrypts
        to an ndarray of its logical shape (records first), padding dropped.

        Raises:
            KeyMismatchError: ``x`` is under another key.
            EncodingOverflowError: the value overflowed the plaintext space (or
                a tensor element exceeds its tracked bound).
        """
        from hecrypt.paillier import packed, tensor

        if isinstance(x, tensor.EncryptedTensor):
            return tensor.decrypt_owner(self, x, executor=executor, progress=progress)
        if isinstance(x, packed.PackedTensor):
            return packed.decrypt_owner(self, x, executor=executor, progress=progress)
        x = self._check(x)
        pk = self._pk
        return fixedpoint.decode(
            int(self._crt_decrypt(x._c)), pk.n, pk._max_int, x._scale, x._bound
        )

    def decrypt_batch(
        self,
        xs: Sequence[EncryptedNumber],
        *,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> list[int | float]:
        """Decrypt many numbers, spread over cores."""
        xs = [self._check(x) for x in xs]
        ms = parallel.map_chunks(
            parallel.decrypt_chunk,
            (self._p, self._q),
            [x._c for x in xs],
            executor=executor,
            progress=progress,
        )
        pk = self._pk
        n, mi = pk.n, pk._max_int
        return [fixedpoint.decode(int(m), n, mi, x._scale, x._bound) for m, x in zip(ms, xs)]

    # ------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        """Compact binary form, marked secret."""
        from hecrypt.paillier import serialization

        return serialization.private_key_to_bytes(self)

    @classmethod
    def from_bytes(cls, data: bytes, *, insecure_small_keys: bool = False) -> PrivateKey:
        """Load and validate a key written by :meth:`to_bytes`."""
        from hecrypt.paillier import serialization

        return serialization.private_key_from_bytes(data, insecure_small_keys=insecure_small_keys)

    def to_json(self) -> str:
        """JSON form, marked secret."""
        from hecrypt.paillier import serialization

        return serialization.private_key_to_json(self)

    @classmethod
    def from_json(cls, text: str | bytes, *, insecure_small_keys: bool = False) -> PrivateKey:
        """Load and validate a key written by :meth:`to_json`."""
        from hecrypt.paillier import serialization

        return serialization.private_key_from_json(text, insecure_small_keys=insecure_small_keys)

    @classmethod
    def from_phe(cls, sk: Any, *, insecure_small_keys: bool = False) -> PrivateKey:
        """Convert a ``phe.paillier.PaillierPrivateKey``."""
        from hecrypt.paillier import interop

        return interop.private_key_from_phe(sk, insecure_small_keys=insecure_small_keys)

    def to_phe(self) -> Any:
        """Convert to a ``phe.paillier.PaillierPrivateKey`` (needs the phe package)."""
        from hecrypt.paillier import interop

        return interop.private_key_to_phe(self)

    # ------------------------------------------------------------ key files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key to ``path`` readable by its owner only (mode 0600).

        JSON for a ``.json`` path, else binary; written whole or not at all.
        Read it back with :func:`hecrypt.load_key` (see
        :mod:`hecrypt.paillier.keyfiles`).
        """
        from hecrypt.paillier import keyfiles

        keyfiles.save_key(self, path)


def _not_encrypted_message(x: Any) -> str:
    """Why ``x`` cannot be decrypted by a hecrypt private key, and what to call instead."""
    name = type(x).__name__
    module = type(x).__module__
    if module.split(".")[0] == "phe":
        return (
            f"a phe {name} is not a hecrypt EncryptedNumber: convert it with "
            "hecrypt.EncryptedNumber.from_phe(x), or decrypt it with its phe private key"
        )
    if module.startswith("hecrypt.compat"):
        return (
            f"a phe-compatible {name} from {module} is not a hecrypt EncryptedNumber: "
            "decrypt it with the private key of that module"
        )
    if isinstance(x, (list, tuple)):
        return (
            f"decrypt takes one EncryptedNumber, EncryptedTensor or PackedTensor, not a "
            f"{name}: use decrypt_batch(numbers) for a sequence of numbers"
        )
    return (
        f"expected a hecrypt EncryptedNumber, EncryptedTensor or PackedTensor, not {name}"
    )


def _load_private(n: int, p: int, q: int, owner_window: int | None = None) -> PrivateKey:
    return PrivateKey(_load_public(n), p, q, owner_window=owner_window)


# The public path of the class (see the end of public_key.py).
PrivateKey.__module__ = _load_private.__module__ = "hecrypt.paillier.keys"
