"""The packed tensor: one ciphertext holds the same feature of k records.

Part of :mod:`hecrypt.paillier.packed` (its public path; the layout, the
precision and what leaks are documented there): the :class:`PackedTensor`
class with its scoring (``@``), additions and re-randomization, and the
chunk kernel :func:`dot_chunk` that scoring spreads over an executor.
:func:`dot_chunk` is looked up through the public module when scoring runs,
so the kernel shipped to workers is the one ``hecrypt.paillier.packed``
names.

Leaks: the number of records and of columns, the layout, the scale, the
per-slot bound and the weight scale; nothing about the values.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from hecrypt import _gmp
from hecrypt.encoding import bounds
from hecrypt.encoding.packing import PackedSpec, PackingLayout, dot_spec
from hecrypt.exceptions import KeyMismatchError
from hecrypt.paillier import parallel
from hecrypt.paillier.number import EncryptedNumber

if TYPE_CHECKING:
    from hecrypt.paillier.keys import PublicKey

#: Work (multiplied terms) below which ``@`` runs in-process by default.
MIN_PARALLEL_TERMS = 4096


# ---------------------------------------------------------------- kernels
def dot_chunk(
    nsq: Any, columns: Sequence[Sequence[int]], rows: Sequence[Sequence[Any]]
) -> list[Any]:
    """Low-level kernel: for each row of ciphertexts, one multi-exponentiation per column.

    Module-level (and on plain integers) so that any executor can pickle it.
    Returns one list of ``len(columns)`` ciphertexts per row.
    """
    m = _gmp.mpz(nsq)
    return [[_gmp.multi_powmod(row, col, m) for col in columns] for row in rows]


def _auto_executor(rows: int, work: int) -> Executor:
    if rows >= 2 and work >= MIN_PARALLEL_TERMS and parallel._workers() >= 2:
        return parallel.default_executor()
    return parallel.SerialExecutor()


def _frozen(cs: np.ndarray) -> np.ndarray:
    cs.flags.writeable = False
    return cs


def _obj2d(rows: Sequence[Sequence[Any]], cols: int) -> np.ndarray:
    out = np.empty((len(rows), cols), dtype=object)
    for i, row in enumerate(rows):
        for j, c in enumerate(row):
            out[i, j] = c
    return out


def _is_int_weights(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "iu":
        return True
    return arr.dtype.kind == "O" and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool)
        for v in arr.reshape(-1).tolist()
    )


# ---------------------------------------------------------------- the tensor
class PackedTensor:
    """Encrypted records packed slot-wise: ciphertext ``(c, j)`` holds column ``j`` of
    records ``c*k .. c*k+k-1``.

    Build one with ``public_key.encrypt_packed(X)`` or
    ``private_key.encrypt_packed(X)`` (``X`` of shape records x features);
    score with ``packed @ w`` (``w`` of shape features, or features x outputs)
    and ``+ b``; decrypt with ``private_key.decrypt(result)``, which returns an
    ndarray of shape ``(records,)`` or ``(records, outputs)``.

    Every slot value ``v`` stands for ``v / 2**scale`` and satisfies
    ``|v| <= spec.bound <= layout.slot_limit``.

    Leaks: the number of records and of columns, the layout, the scale, the
    per-slot bound and the weight scale (see :mod:`.packed`). Nothing about
    the values.
    """

    __slots__ = ("_c", "_fresh", "_pk", "_records", "_scale", "_spec", "_vector", "_wfrac")

    _pk: PublicKey
    _c: np.ndarray
    _spec: PackedSpec
    _records: int
    _scale: int
    _wfrac: int
    _vector: bool
    _fresh: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "build a PackedTensor with public_key.encrypt_packed(X) or "
            "PackedTensor.from_bytes(...)"
        )

    @classmethod
    def _make(
        cls,
        pk: PublicKey,
        cs: np.ndarray,
        spec: PackedSpec,
        records: int,
        scale: int,
        weight_frac_bits: int,
        vector: bool,
        fresh: bool,
    ) -> PackedTensor:
        obj = object.__new__(cls)
        set_ = object.__setattr__
        set_(obj, "_pk", pk)
        set_(obj, "_c", _frozen(cs))
        set_(obj, "_spec", spec)
        set_(obj, "_records", int(records))
        set_(obj, "_scale", int(scale))
        set_(obj, "_wfrac", int(weight_frac_bits))
        set_(obj, "_vector", bool(vector))
        set_(obj, "_fresh", bool(fresh))
        return obj

    def _like(self, cs: np.ndarray, spec: PackedSpec | None = None, *, scale: int | None = None,
              vector: bool | None = None, fresh: bool = False) -> PackedTensor:
        return PackedTensor._make(
            self._pk, cs, self._spec if spec is None else spec, self._records,
            self._scale if scale is None else scale, self._wfrac,
            self._vector if vector is None else vector, fresh,
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("PackedTensor is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("PackedTensor is immutable")

    # ------------------------------------------------------------ properties
    @property
    def public_key(self) -> PublicKey:
        """The key every ciphertext is encrypted under."""
        return self._pk

    @property
    def layout(self) -> PackingLayout:
        """Slot width and count (public)."""
        return self._spec.layout

    @property
    def spec(self) -> PackedSpec:
        """Layout, slots in use per ciphertext and per-slot bound (public)."""
        return self._spec

    @property
    def slots(self) -> int:
        """Records per ciphertext."""
        return self._spec.layout.slots

    @property
    def records(self) -> int:
        """Number of records (public)."""
        return self._records

    @property
    def scale(self) -> int:
        """Fractional bits of every slot value."""
        return self._scale

    @property
    def bound(self) -> int:
        """Tracked bound on every encoded slot value."""
        return self._spec.bound

    @property
    def weight_frac_bits(self) -> int:
        """Fractional bits used for float weights in :meth:`dot`."""
        return self._wfrac

    @property
    def shape(self) -> tuple[int, ...]:
        """Logical shape: ``(records,)`` or ``(records, columns)``."""
        if self._vector:
            return (self._records,)
        return (self._records, int(self._c.shape[1]))

    @property
    def ndim(self) -> int:
        """1 for one value per record, 2 for several."""
        return 1 if self._vector else 2

    @property
    def ciphertexts(self) -> np.ndarray:
        """Read-only object array (chunks x columns) of the raw ciphertexts."""
        return self._c

    @property
    def is_fresh(self) -> bool:
        """True for fresh encryptions; False for homomorphic results."""
        return self._fresh

    def __len__(self) -> int:
        return self._records

    def __repr__(self) -> str:
        return (
            f"<PackedTensor shape={self.shape} slots={self.slots}x{self.layout.slot_bits} bits "
            f"scale=2^-{self._scale} bound={self.bound.bit_length()} bits "
            f"key={self._pk.fingerprint}>"
        )

    def __bool__(self) -> bool:
        raise TypeError("the truth value of an encrypted tensor is unknown; decrypt it first")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "refusing to convert a PackedTensor to a numpy array: decrypt it with the "
            "private key, or use .ciphertexts for the raw values"
        )

    # numpy operands on the left defer to our reflected operators (or fail).
    __array_ufunc__ = None

    def __reduce__(self) -> Any:
        raise TypeError("pickle is not supported: use to_bytes() / from_bytes()")

    # ------------------------------------------------------------ scoring
    def dot(
        self,
        w: Any,
        *,
        executor: Executor | None = None,
        progress: parallel.ProgressCallback | None = None,
    ) -> PackedTensor:
        """``X @ w`` for plaintext weights: one multi-exponentiation per chunk and output.

        Float weights are encoded at :attr:`weight_frac_bits`, integer weights
        exactly; the result's scale is ``scale + weight scale``. The per-slot
        bound of every output (``bound * sum_j |w_j|``) is checked before
        anything is computed.

        Args:
            w: 1-D weights (one per column) for one score per record, or a 2-D
                matrix (columns x outputs) for several.
            executor: where the chunks run; default: the local process pool
                when the work is large, else in-process.
            progress: ``progress(done, total)`` over chunks.

        Returns:
            A packed tensor of shape ``(records,)`` or ``(records, outputs)``.

        Raises:
            ValueError: a 1-D packed tensor, or weights of the wrong shape.
            TypeError: encrypted or boolean weights.
            EncodingOverflowError: a result slot could exceed its width.

        Leaks: nothing about the weights to the holder of the ciphertexts;
        the result's bound (public) depends on ``sum |w|``.
        """
        if isinstance(w, PackedTensor) or hasattr(w, "ciphertexts"):
            raise TypeError(
                "Paillier cannot multiply two ciphertexts; use the secret-sharing "
                "multiplication of hecrypt.hybrid for ciphertext x ciphertext"
            )
        if self._vector:
            raise ValueError(
                "a packed tensor of one value per record has no feature axis to contract"
            )
        arr = np.asarray(w)
        if arr.dtype == np.bool_:
            raise TypeError("boolean weights are refused: convert them to int first")
        if arr.ndim not in (1, 2):
            raise ValueError("packed @ w needs 1-D or 2-D weights")
        cols = int(self._c.shape[1])
        if arr.shape[0] != cols:
            raise ValueError(
                f"matmul: shapes {self.shape} and {arr.shape} are not aligned "
                f"({cols} != {arr.shape[0]})"
            )
        ws = 0 if _is_int_weights(arr) else self._wfrac
        ints = bounds.encode_weights(arr, ws).reshape(cols, -1)
        columns = [[int(v) for v in ints[:, j].tolist()] for j in range(ints.shape[1])]
        specs = [self._spec] * cols
        bound = 0
        for col in columns:  # refuse before computing anything
            bound = max(bound, dot_spec(specs, col).bound)
        spec = PackedSpec(self.layout, self._spec.count, bound)
        rows = self._c.tolist()
        if executor is None:
            executor = _auto_executor(len(rows), len(rows) * cols * len(columns))
        from hecrypt.paillier import packed  # the kernel under its public name

        out = parallel.map_chunks(
            packed.dot_chunk, (self._pk._nsq, columns), rows, executor=executor,
            progress=progress,
        )
        return self._like(_obj2d(out, len(columns)), spec, scale=self._scale + ws,
                          vector=arr.ndim == 1)

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, (numbers.Number, np.ndarray, list, tuple)):
            return self.dot(other)
        return NotImplemented

    # ------------------------------------------------------------ additions
    def _add_plain(self, b: Any, sign: int) -> PackedTensor:
        arr = np.asarray(b)
        if arr.dtype == np.bool_:
            raise TypeError("boolean operands are refused: convert them to int first")
        if arr.dtype.kind not in "iufO":
            raise TypeError(f"cannot add an array of dtype {arr.dtype} to a packed tensor")
        cols = int(self._c.shape[1])
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != cols) or (
            arr.ndim == 1 and self._vector
        ):
            raise ValueError(
                f"a packed tensor of shape {self.shape} takes a scalar"
                + ("" if self._vector else f" or one value per column ({cols})")
                + f", not shape {arr.shape}; the same value is added to every record"
            )
        ints = bounds.encode_weights(arr, self._scale).reshape(-1).tolist()
        consts = [sign * int(v) for v in (ints if len(ints) == cols else ints * cols)]
        spec = self._spec
        bound = 0
        for c in consts:  # refuse before computing anything
            bound = max(bound, spec.add_constant(c).bound)
        out_spec = PackedSpec(self.layout, spec.count, bound)
        pk = self._pk
        n, nsq = pk._n, pk._nsq
        ks = [_gmp.mpz(self.layout.pack([c] * spec.count)) % n for c in consts]
        out = np.empty(self._c.shape, dtype=object)
        for i, row in enumerate(self._c.tolist()):
            for j, (c, k) in enumerate(zip(row, ks)):
                # c * (1 + k n) = c + n (k c mod n)  (mod n^2)
                v = c + n * (k * c % n)
                out[i, j] = v - nsq if v >= nsq else v
        return self._like(out, out_spec)

    def _add_packed(self, other: PackedTensor, sign: int) -> PackedTensor:
        if other._pk is not self._pk and other._pk != self._pk:
            raise KeyMismatchError(
                f"cannot add packed tensors under different keys ({self._pk.fingerprint} "
                f"and {other._pk.fingerprint})"
            )
        if other.shape != self.shape or other.layout != self.layout:
            raise ValueError("packed tensors must share shape and layout to be added")
        if other._scale != self._scale:
            raise ValueError(
                f"packed tensors at scales 2^{self._scale} and 2^{other._scale} cannot be "
                "added: slots are not rescaled implicitly"
            )
        spec = self._spec.add(other._spec)
        nsq = self._pk._nsq
        b = other._c
        if sign < 0:
            b = np.vectorize(lambda c: _gmp.invert(c, nsq), otypes=[object])(b)
        return self._like(np.asarray((self._c * b) % nsq, dtype=object), spec)

    def _add_number(self, x: EncryptedNumber, sign: int) -> PackedTensor:
        """``+ x`` for an encrypted number: ``x`` added to every slot of every column.

        ``Enc(x)^K`` with ``K = sum_i 2^(i w)`` over the slots in use is an
        encryption of ``x`` in each of them (packing is linear); ``x`` is
        brought to this tensor's scale first (exact, ``x * 2^d``). Its public
        bound is checked against the slot before computing.
        """
        pk = self._pk
        if x.public_key is not pk and x.public_key != pk:
            raise KeyMismatchError(
                f"cannot add a number encrypted under {x.public_key.fingerprint} to a packed "
                f"tensor under {pk.fingerprint}"
            )
        shift = self._scale - x.scale
        if shift < 0:
            raise ValueError(
                f"an encrypted number at scale 2^{x.scale} cannot be added to a packed tensor "
                f"at scale 2^{self._scale}: slots are not rescaled implicitly; encrypt it "
                f"with frac_bits={self._scale}"
            )
        spec = self._spec
        out_spec = PackedSpec(self.layout, spec.count, spec.add_constant(x.bound << shift).bound)
        n, nsq = pk._n, pk._nsq
        k = ((self.layout.pack([1] * spec.count) << shift) * sign) % n
        term = _gmp.powmod(_gmp.mpz(x.ciphertext), k, nsq)
        return self._like(np.asarray((self._c * term) % nsq, dtype=object), out_spec)

    def __add__(self, other: Any) -> Any:
        """``+ b``: a scalar or one bias per column added to every record's slot,
        encoded at this tensor's scale; an :class:`EncryptedNumber` added to
        every slot (broadcast, at most this tensor's scale); or another packed
        tensor (same key, shape, layout and scale). Checked before computing."""
        if isinstance(other, PackedTensor):
            return self._add_packed(other, 1)
        if isinstance(other, EncryptedNumber):
            return self._add_number(other, 1)
        if isinstance(other, (numbers.Real, np.ndarray, list, tuple)) and not isinstance(
            other, bool
        ):
            return self._add_plain(other, 1)
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, PackedTensor):
            return self._add_packed(other, -1)
        if isinstance(other, EncryptedNumber):
            return self._add_number(other, -1)
        if isinstance(other, (numbers.Real, np.ndarray, list, tuple)) and not isinstance(
            other, bool
        ):
            return self._add_plain(other, -1)
        return NotImplemented

    def __rsub__(self, other: Any) -> Any:
        """``b - self``: the negation plus ``b`` (same operands as ``+``)."""
        if isinstance(other, (numbers.Real, np.ndarray, list, tuple, EncryptedNumber)) and (
            not isinstance(other, bool)
        ):
            return (-self) + other
        return NotImplemented

    def __neg__(self) -> PackedTensor:
        nsq = self._pk._nsq
        out = np.vectorize(lambda c: _gmp.invert(c, nsq), otypes=[object])(self._c)
        return self._like(np.asarray(out, dtype=object), self._spec.negate())

    # ------------------------------------------------------------ freshness
    def rerandomized(
        self, *, circuit_private: bool = False, executor: Executor | None = None
    ) -> PackedTensor:
        """Fresh ciphertexts of the same slots.

        Args:
            circuit_private: for results sent to the holder of the private
                key: ``r^n`` with ``r`` uniform in ``Z_n^*``, statistically
                hiding how they were computed whatever the key (see
                :mod:`hecrypt.paillier.circuit`). Packing amortizes its cost:
                one exponentiation per ciphertext, not per record. Otherwise
                DJN randomness or the key's pool.
            executor: circuit-private only: where to compute.
        """
        pk = self._pk
        flat = self._c.reshape(-1).tolist()
        out = np.empty(len(flat), dtype=object)
        if circuit_private:
            from hecrypt.paillier.circuit import rerandomize_for_key_holder

            out[:] = rerandomize_for_key_holder(pk, flat, executor=executor)
        else:
            rs = pk._take_randomness(len(flat))
            nsq = pk._nsq
            out[:] = [c * r % nsq for c, r in zip(flat, rs)]
        return self._like(out.reshape(self._c.shape), fresh=True)

    def fresh(self) -> PackedTensor:
        """``self`` if fresh, else :meth:`rerandomized` (what leaves the process)."""
        return self if self._fresh else self.rerandomized()

    # ------------------------------------------------------------ serialization
    def to_bytes(self, *, rerandomize: bool = True) -> bytes:
        """Binary form (see :func:`hecrypt.paillier.serialization.packed_tensor_to_bytes`).

        Leaks: key fingerprint, records, columns, layout, scales and bound.
        """
        from hecrypt.paillier import serialization

        return serialization.packed_tensor_to_bytes(self, rerandomize=rerandomize)

    @classmethod
    def from_bytes(cls, data: bytes, public_key: PublicKey) -> PackedTensor:
        """Load and validate a packed tensor written by :meth:`to_bytes`."""
        from hecrypt.paillier import serialization

        return serialization.packed_tensor_from_bytes(data, public_key)



PackedTensor.__module__ = "hecrypt.paillier.packed"  # its public path
dot_chunk.__module__ = "hecrypt.paillier.packed"  # pickled to workers by that path
