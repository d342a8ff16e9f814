"""Paillier keys (g = n + 1), key generation, encryption and CRT decryption."""

from __future__ import annotations

import hashlib
import numbers
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from hecrypt import _gmp
from hecrypt._gmp import mpz
from hecrypt.encoding import fixedpoint
from hecrypt.exceptions import InvalidKey, KeyMismatchError, ValueBoundError
from hecrypt.paillier import parallel, randomness
from hecrypt.paillier.number import EncryptedNumber, public_bound, validate_ciphertext
from hecrypt.paillier.packed import DEFAULT_PACKED_FRAC_BITS, DEFAULT_WEIGHT_BOUND

if TYPE_CHECKING:
    from hecrypt.paillier.packed import PackedTensor
    from hecrypt.paillier.tensor import EncryptedTensor

__all__ = [
    "PublicKey",
    "PrivateKey",
    "generate_keypair",
    "DEFAULT_KEY_BITS",
    "MIN_KEY_BITS",
    "MIN_INSECURE_KEY_BITS",
]

#: Key size of :func:`generate_keypair` unless told otherwise.
DEFAULT_KEY_BITS = 2048
#: Smallest modulus accepted without the explicit insecure option.
MIN_KEY_BITS = 2048
#: Smallest modulus accepted at all (tests use 1024-bit keys for speed).
MIN_INSECURE_KEY_BITS = 1024
#: Largest modulus accepted when loading keys (bounds work on hostile input).
MAX_KEY_BITS = 16384

_pools = randomness.PoolRegistry()


def _check_size(bits: int, insecure_small_keys: bool) -> None:
    if bits > MAX_KEY_BITS:
        raise InvalidKey(f"a {bits}-bit modulus is above the {MAX_KEY_BITS}-bit limit")
    if bits < MIN_INSECURE_KEY_BITS:
        raise InvalidKey(
            f"a {bits}-bit modulus is refused: keys below {MIN_INSECURE_KEY_BITS} bits are "
            "never accepted"
        )
    if bits < MIN_KEY_BITS and not insecure_small_keys:
        raise InvalidKey(
            f"a {bits}-bit modulus is below the {MIN_KEY_BITS}-bit policy: use a key of "
            f"at least {MIN_KEY_BITS} bits"
        )


def _check_modulus(n: Any) -> None:
    """Cheap structural checks of a modulus from outside (no factoring)."""
    if n % 2 == 0:
        raise InvalidKey("n must be an odd product of two distinct primes, not even")
    small = _gmp.small_prime_factor(n)
    if small is not None:
        raise InvalidKey(
            f"n has the small prime factor {small}: a Paillier modulus is the product of "
            "two large primes"
        )
    if _gmp.is_probable_prime(n) or _gmp.isqrt(n) ** 2 == n:
        raise InvalidKey("n must be a product of two distinct primes, not a prime or a square")


#: Below this, ``|p - q|`` lets Fermat's method factor ``n`` (FIPS 186-5 asks
#: ``|p - q| > 2^(|n|/2 - 100)``).
_PQ_DISTANCE_SLACK = 100


def _check_factors(n: Any, p: Any, q: Any) -> None:
    """Validate the primes of a private key, cheapest checks first.

    Order: product, distance, ``gcd(n, phi(n)) = 1``, a base-2 Fermat test
    of both primes (rejects a composite in one exponentiation), then BPSW
    with Miller-Rabin rounds. A crafted key is refused in milliseconds up to
    a few exponentiations; a valid 16,384-bit key costs a few seconds.
    """
    if p == q:
        raise InvalidKey("p and q must be distinct primes")
    if p * q != n:
        raise InvalidKey("p * q does not equal the public modulus n")
    if (q - p).bit_length() <= n.bit_length() // 2 - _PQ_DISTANCE_SLACK:
        raise InvalidKey(
            f"|p - q| must exceed 2^({n.bit_length()} / 2 - {_PQ_DISTANCE_SLACK}): closer "
            "primes let Fermat's method factor n"
        )
    if _gmp.gcd(n, (p - 1) * (q - 1)) != 1:
        raise InvalidKey("gcd(n, (p - 1)(q - 1)) must be 1 (p must not divide q - 1, nor q p - 1)")
    for x in (p, q):
        if x < 3 or _gmp.powmod(2, x - 1, x) != 1:
            raise InvalidKey("p and q must be prime")
    if not (_gmp.is_prime(p, _KEY_CHECK_ROUNDS) and _gmp.is_prime(q, _KEY_CHECK_ROUNDS)):
        raise InvalidKey("p and q must be prime")


#: GMP's test for loaded keys: BPSW plus 8 Miller-Rabin rounds (no BPSW
#: pseudoprime is known; the 64 of key generation would cost 4 s per
#: 8,192-bit prime).
_KEY_CHECK_ROUNDS = 32


def _as_int(x: Any, what: str) -> Any:
    if isinstance(x, bool) or not isinstance(x, (numbers.Integral, _gmp.MPZ)):
        raise InvalidKey(f"{what} must be an integer, not {type(x).__name__}")
    return mpz(x)


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

            _, enc = _bounds.encode_array(
                np.array([0]), scale, self._max_int, value_bound=value_bound
            )
            bound = enc.bound
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


def generate_keypair(
    n_bits: int = DEFAULT_KEY_BITS,
    *,
    insecure_small_keys: bool = False,
    owner_window: int | None = None,
) -> tuple[PublicKey, PrivateKey]:
    """Generate a Paillier key pair with a modulus of exactly ``n_bits`` bits.

    Primes come from :mod:`secrets`; each is ``2*k*s + 1`` with ``s`` prime
    and ``k < 2^16`` so that the key owner's fast encryption can certify its
    generators (see :mod:`hecrypt.paillier.randomness`).

    Args:
        n_bits: 2048 (default), 3072 or 4096; any size from 2048 up works.
        insecure_small_keys: allow 1024 <= n_bits < 2048 (tests only).
        owner_window: window (bits) of the private key's owner encryption
            tables, see :class:`PrivateKey` (8: the lower-memory setting).

    Raises:
        InvalidKey: ``n_bits`` outside the policy.
        ParameterError: ``owner_window`` is not an integer from 4 to 16.
    """
    if isinstance(n_bits, bool) or not isinstance(n_bits, numbers.Integral):
        raise InvalidKey("n_bits must be an integer")
    _check_size(int(n_bits), insecure_small_keys)
    if owner_window is not None:
        randomness.check_owner_window(owner_window)
    bits_p = int(n_bits) // 2
    bits_q = int(n_bits) - bits_p
    while True:
        p, _ = _gmp.structured_prime(bits_p)
        q, _ = _gmp.structured_prime(bits_q)
        n = p * q
        if (
            p != q
            and n.bit_length() == n_bits
            and _gmp.gcd(n, (p - 1) * (q - 1)) == 1
            and abs(q - p).bit_length() > n_bits // 2 - _PQ_DISTANCE_SLACK
        ):
            break
    pk = _load_public(int(n))
    return pk, PrivateKey(pk, p, q, owner_window=owner_window)

