"""Signed slot packing: several signed integers in fixed-width slots of one plaintext.

Layout (``w = slot_bits``, ``k = slots``; slot 0 is the least significant)::

    bit  k*w-1                                                              0
         +--------------+-----+--------------+--------------+--------------+
         |  slot k-1    | ... |   slot 2     |   slot 1     |   slot 0     |
         +--------------+-----+--------------+--------------+--------------+
         P = v_0 + v_1 * 2^w + v_2 * 2^(2w) + ... + v_(k-1) * 2^((k-1)w)

    one slot, w = b + h + s + 1 bits, holds a balanced digit |v| <= 2^(w-1) - 1:
         +------+----------------+-------------------+----------------+
         | sign | mask (s bits)  | headroom (h bits) | value (b bits) |
         +------+----------------+-------------------+----------------+
         b = bits of the data bound, h = headroom for accumulation depth,
         s = statistical mask bits (0 unless masked values travel in slots)

The fields inside a slot are a width budget, not separate bit fields: the slot
holds one signed integer ``v`` with ``|v| <= slot_limit = 2**(w-1) - 1``.

Representation and proof. ``pack`` maps ``(v_0, ..., v_(k-1))`` to the signed
integer ``P = sum v_i * 2**(w*i)``; ``P`` may be negative, and it is carried
in ``Z_n`` as ``P mod n``.

1. *Unpacking is exact.* Digits in ``[-2**(w-1), 2**(w-1))`` form a balanced
   radix-``2**w`` system, in which every integer has at most one
   representation. :meth:`PackingLayout.unpack` takes ``d = P mod 2**w``
   shifted into that interval; since ``P = v_0 (mod 2**w)`` and ``v_0`` lies in
   the interval, ``d = v_0``. Then ``(P - d) / 2**w = sum_(i>=1) v_i
   2**(w*(i-1))`` exactly, and induction recovers every slot. A negative slot
   *borrows* one from the slot above it (the low ``w`` bits of ``P`` read
   ``v_0 + 2**w``); subtracting the centered digit gives the borrow back.
   After ``k`` digits the remainder is 0; a non-zero remainder means the top
   slot overflowed (or ``P`` is not a packing of ``k`` slots) and raises.
2. *Linear operations commute with packing.* ``pack`` is the Z-linear map
   ``v -> sum v_i 2**(w*i)``, so for integers (any sign) ``pack(a) + pack(b) =
   pack(a + b)``, ``c * pack(a) = pack(c * a)`` and ``pack(a) + pack((c,)*k) =
   pack(a + c)``. These are identities in Z with no condition; the only
   condition is the one of step 1 -- every slot of the *result* must satisfy
   ``|v_i| <= slot_limit`` -- and the bound bookkeeping of :class:`PackedSpec`
   checks it before anything is computed.
3. *Reduction mod n is harmless.* ``|P| <= slot_limit * (2**(w*k) - 1) /
   (2**w - 1) < 2**(w*k - 1)``. With ``w*k <= n_bits - 2`` (see
   :func:`slots_for`) and ``n >= 2**(n_bits-1)``, ``|P| < 2**(n_bits-3) <= n // 3``.
   Paillier adds and scales plaintexts mod ``n``, i.e. it applies the ring map
   ``Z -> Z_n`` to the identities of step 2, and the centered lift of ``P mod n``
   (in ``(-n/2, n/2]``) is ``P`` itself.

An overflow of an inner slot into its neighbour cannot be detected after the
fact (it is a valid packing of other values); it is prevented by the static
check instead: every operation of :class:`PackedSpec` computes the result's
per-slot bound and raises :class:`~hecrypt.exceptions.EncodingOverflowError`
if it exceeds ``slot_limit``.

Masking. A party that masks a slot with a uniform ``r`` in
``[0, mask_limit]`` (``mask_limit = slot_limit - bound``) hides a value of
magnitude ``<= bound`` up to statistical distance ``bound / (mask_limit + 1)``,
which is below ``2**(1-s)`` when the layout has ``s`` mask bits and the bound
fits its ``b`` value bits. Drawing the mask is the caller's business (this
module does no randomness).

Leaks: the layout (slot width, slot count, headroom, mask bits) and the
per-slot bound are public, like a tensor's scale and bound.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hecrypt.exceptions import EncodingOverflowError

__all__ = [
    "PackingLayout",
    "PackedSpec",
    "Packed",
    "slots_for",
    "layout_for",
    "dot",
    "dot_spec",
]


def _int(value: Any, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def slots_for(n_bits: int, slot_bits: int) -> int:
    """How many ``slot_bits``-wide slots fit a plaintext of an ``n_bits``-bit modulus.

    ``(n_bits - 2) // slot_bits``: two bits are kept free so that any packing
    satisfies ``|P| < n // 3`` (the plaintext band) whatever the slot signs.

    Raises:
        ValueError: ``slot_bits < 2`` or ``n_bits < 5``.
    """
    n_bits = _int(n_bits, "n_bits", 5)
    slot_bits = _int(slot_bits, "slot_bits", 2)
    return (n_bits - 2) // slot_bits


@dataclass(frozen=True)
class PackingLayout:
    """Slot width and count of a packed plaintext.

    Attributes:
        slot_bits: width ``w`` of a slot, sign bit included (``>= 2``).
        slots: number of slots ``k`` (``>= 1``).
        headroom: bits reserved for growth by accumulation (informational
            budget; the bound checks use the whole slot).
        mask_bits: bits reserved for a statistical mask.

    Raises:
        ValueError: a field out of range, or ``headroom + mask_bits`` leaves no
            room for the sign bit.
    """

    slot_bits: int
    slots: int
    headroom: int = 0
    mask_bits: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot_bits", _int(self.slot_bits, "slot_bits", 2))
        object.__setattr__(self, "slots", _int(self.slots, "slots", 1))
        object.__setattr__(self, "headroom", _int(self.headroom, "headroom", 0))
        object.__setattr__(self, "mask_bits", _int(self.mask_bits, "mask_bits", 0))
        if self.headroom + self.mask_bits > self.slot_bits - 1:
            raise ValueError("headroom + mask_bits must leave the sign bit in the slot")

    @classmethod
    def for_modulus(
        cls, n_bits: int, slot_bits: int, headroom: int = 0, mask_bits: int = 0
    ) -> PackingLayout:
        """As many slots of ``slot_bits`` as an ``n_bits``-bit modulus holds.

        Raises:
            EncodingOverflowError: not even one slot fits.
        """
        k = slots_for(n_bits, slot_bits)
        if k < 1:
            raise EncodingOverflowError(
                f"a {slot_bits}-bit slot does not fit a {n_bits}-bit modulus "
                "(a packing needs slot_bits * slots <= n_bits - 2)"
            )
        return cls(slot_bits, k, headroom, mask_bits)

    # ------------------------------------------------------------ sizes
    @property
    def slot_limit(self) -> int:
        """Largest magnitude a slot holds: ``2**(slot_bits - 1) - 1``."""
        return (1 << (self.slot_bits - 1)) - 1

    @property
    def value_bits(self) -> int:
        """Bits left for data: ``slot_bits - 1 - headroom - mask_bits``."""
        return self.slot_bits - 1 - self.headroom - self.mask_bits

    @property
    def value_limit(self) -> int:
        """Data bound the layout was designed for: ``2**value_bits - 1``."""
        return (1 << self.value_bits) - 1

    @property
    def total_bits(self) -> int:
        """``slot_bits * slots``."""
        return self.slot_bits * self.slots

    @property
    def min_modulus_bits(self) -> int:
        """Smallest modulus size (in bits) that carries this layout: ``total_bits + 2``."""
        return self.total_bits + 2

    def fits(self, n: int) -> bool:
        """Whether modulus ``n`` carries every packing of this layout."""
        return _int(n, "n", 1).bit_length() >= self.min_modulus_bits

    def _require_modulus(self, n: int) -> int:
        n = _int(n, "n", 1)
        if n.bit_length() < self.min_modulus_bits:
            raise ValueError(
                f"a {n.bit_length()}-bit modulus cannot carry {self.slots} slots of "
                f"{self.slot_bits} bits (it needs {self.min_modulus_bits} bits)"
            )
        return n

    def check(self, bound: int, what: str = "a slot") -> int:
        """Return ``bound`` if it fits a slot.

        Raises:
            EncodingOverflowError: ``bound > slot_limit``.
        """
        bound = _int(bound, "bound", 0)
        if bound > self.slot_limit:
            raise EncodingOverflowError(
                f"{what} could reach a magnitude of {bound.bit_length()} bits, but a "
                f"{self.slot_bits}-bit slot holds at most {self.slot_bits - 1} bits "
                "plus the sign; use a wider layout (layout_for) or fewer accumulated terms"
            )
        return bound

    # ------------------------------------------------------------ codec
    def pack(self, values: Sequence[int], n: int | None = None, bound: int | None = None) -> int:
        """Pack signed integers into one integer, slot 0 first.

        Args:
            values: at most ``slots`` integers.
            n: if given, return ``P mod n`` (a plaintext in ``[0, n)``);
                otherwise the signed integer ``P``.
            bound: optional tighter per-value bound to enforce
                (default ``slot_limit``).

        Raises:
            TypeError: a value is not an integer.
            ValueError: too many values, or ``n`` too small for the layout.
            EncodingOverflowError: a value exceeds the bound.
        """
        vals = [_int(v, "a packed value") for v in values]
        if len(vals) > self.slots:
            raise ValueError(f"{len(vals)} values do not fit {self.slots} slots")
        limit = self.slot_limit if bound is None else min(self.check(bound), self.slot_limit)
        w = self.slot_bits
        packed = 0
        for v in reversed(vals):
            if abs(v) > limit:
                raise EncodingOverflowError(
                    f"value of {abs(v).bit_length()} bits exceeds the slot bound "
                    f"of {limit.bit_length()} bits"
                )
            packed = (packed << w) + v
        if n is not None:
            return packed % self._require_modulus(n)
        return packed

    def unpack(self, packed: int, count: int | None = None, n: int | None = None) -> list[int]:
        """Unpack ``count`` signed slots (centered decoding per slot).

        Args:
            packed: the signed integer ``P``, or a residue mod ``n`` when ``n`` is
                given (centered into ``(-n/2, n/2]`` first).
            count: number of slots to read (default ``slots``); slots above it
                must be empty.
            n: the plaintext modulus, for residues.

        Raises:
            ValueError: ``count`` out of range, ``n`` too small, or a residue
                outside ``[0, n)``.
            EncodingOverflowError: ``packed`` is not a packing of ``count`` slots
                (the top slot overflowed or the plaintext left its band).
        """
        count = self.slots if count is None else _int(count, "count", 0)
        if count > self.slots:
            raise ValueError(f"count {count} exceeds the layout's {self.slots} slots")
        p = _int(packed, "packed")
        if n is not None:
            n = self._require_modulus(n)
            if not 0 <= p < n:
                raise ValueError("a residue must satisfy 0 <= r < n")
            if p > n // 2:
                p -= n
        w = self.slot_bits
        mask = (1 << w) - 1
        half = 1 << (w - 1)
        out = []
        for _ in range(count):
            d = p & mask  # P mod 2^w, also for negative P
            if d >= half:
                d -= 1 << w
            out.append(d)
            p = (p - d) >> w  # exact division
        if p != 0:
            raise EncodingOverflowError(
                f"the packed integer is not a packing of {count} slots of {w} bits: a slot "
                "overflowed its width or the plaintext left the valid band"
            )
        return out

    # ------------------------------------------------------------ bookkeeping
    def spec(self, count: int, bound: int) -> PackedSpec:
        """A :class:`PackedSpec` of ``count`` slots bounded by ``bound``."""
        return PackedSpec(self, count, bound)

    def packed(self, values: Sequence[int], bound: int | None = None) -> Packed:
        """Pack ``values`` as a :class:`Packed` with bound ``bound`` (default: max |v|).

        ``bound`` may be a public bound larger than the data, so that the
        bookkeeping reveals nothing about the values.

        Raises:
            EncodingOverflowError: a value exceeds ``bound`` or the slot.
        """
        vals = [_int(v, "a packed value") for v in values]
        b = max((abs(v) for v in vals), default=0) if bound is None else bound
        spec = PackedSpec(self, len(vals), b)
        return Packed(spec, self.pack(vals, bound=spec.bound))


@dataclass(frozen=True)
class PackedSpec:
    """Static description of a packed plaintext: layout, slots in use, per-slot bound.

    Every slot ``v`` of a plaintext described by the spec satisfies
    ``|v| <= bound <= layout.slot_limit``. The operations return the spec of
    the result and raise before the caller computes anything if a slot could
    overflow; the caller applies the same operation to packed integers or to
    their ciphertexts (``P + Q``, ``c * P``, ``P + pack((c,) * count)``).

    Attributes:
        layout: the :class:`PackingLayout`.
        count: slots in use (``0 <= count <= layout.slots``); the others are 0.
        bound: bound on every slot's magnitude.

    Raises:
        ValueError: ``count`` out of range.
        EncodingOverflowError: ``bound > layout.slot_limit``.
    """

    layout: PackingLayout
    count: int
    bound: int

    def __post_init__(self) -> None:
        count = _int(self.count, "count", 0)
        if count > self.layout.slots:
            raise ValueError(f"count {count} exceeds the layout's {self.layout.slots} slots")
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "bound", self.layout.check(self.bound, "the bound"))

    @property
    def mask_limit(self) -> int:
        """Largest non-negative mask a slot can still absorb: ``slot_limit - bound``."""
        return self.layout.slot_limit - self.bound

    def _same_layout(self, other: PackedSpec) -> None:
        if other.layout != self.layout:
            raise ValueError("packed operands must share one layout")

    def add(self, other: PackedSpec) -> PackedSpec:
        """Spec of ``P + Q`` (or ``P - Q``): bounds add, slots in use are the union.

        Raises:
            ValueError: different layouts.
            EncodingOverflowError: a slot could overflow.
        """
        self._same_layout(other)
        bound = self.layout.check(self.bound + other.bound, "the slot-wise sum")
        return PackedSpec(self.layout, max(self.count, other.count), bound)

    def negate(self) -> PackedSpec:
        """Spec of ``-P``: unchanged."""
        return self

    def scale(self, c: int) -> PackedSpec:
        """Spec of ``c * P`` for an integer ``c`` of any sign: bound times ``|c|``.

        Raises:
            EncodingOverflowError: a slot could overflow.
        """
        c = _int(c, "the scalar")
        return PackedSpec(
            self.layout, self.count, self.layout.check(self.bound * abs(c), "the scaled slot")
        )

    def add_constant(self, c: int | Sequence[int]) -> PackedSpec:
        """Spec of ``P + pack(consts)`` where ``c`` is one constant for every slot
        in use or a sequence of per-slot constants (e.g. masks).

        Raises:
            ValueError: more constants than slots.
            EncodingOverflowError: a slot could overflow.
        """
        if isinstance(c, Sequence):
            consts = [_int(v, "a constant") for v in c]
            if len(consts) > self.layout.slots:
                raise ValueError(f"{len(consts)} constants do not fit {self.layout.slots} slots")
            count = max(self.count, len(consts))
        else:
            consts = [_int(c, "the constant")]
            count = self.count
        cmax = max((abs(v) for v in consts), default=0)
        bound = self.layout.check(self.bound + cmax, "the slot plus the constant")
        return PackedSpec(self.layout, count, bound)

    def constants(self, c: int | Sequence[int]) -> list[int]:
        """The per-slot constants :meth:`add_constant` means (to pass to ``pack``)."""
        if isinstance(c, Sequence):
            return [_int(v, "a constant") for v in c]
        return [_int(c, "the constant")] * self.count


def dot_spec(specs: Sequence[PackedSpec], weights: Sequence[int]) -> PackedSpec:
    """Spec of ``sum_j w_j * P_j``: bound ``sum_j |w_j| * bound_j``.

    This is ``packed @ w`` for batch scoring: ``P_j`` packs feature ``j`` of
    ``count`` records, the result packs their ``count`` scores.

    Raises:
        ValueError: no operands, length mismatch or different layouts.
        EncodingOverflowError: a slot could overflow.
    """
    if len(specs) != len(weights):
        raise ValueError(f"{len(specs)} packed operands but {len(weights)} weights")
    if not specs:
        raise ValueError("a dot product needs at least one packed operand")
    layout = specs[0].layout
    bound = 0
    for s, w in zip(specs, weights):
        s._same_layout(specs[0])
        bound += s.bound * abs(_int(w, "a weight"))
    bound = layout.check(bound, "the dot product")
    return PackedSpec(layout, max(s.count for s in specs), bound)


@dataclass(frozen=True)
class Packed:
    """A packed plaintext: its signed integer ``value`` and its :class:`PackedSpec`.

    The plaintext counterpart of a packed ciphertext: the same operations,
    checked by the same spec rules before they compute. ``residue(n)`` is
    what gets encrypted; :meth:`from_residue` reads a decryption back.
    The constructor trusts ``value`` to match ``spec``; build instances with
    :meth:`PackingLayout.packed` or :meth:`from_residue`, which check.
    """

    spec: PackedSpec
    value: int

    @property
    def layout(self) -> PackingLayout:
        """The layout."""
        return self.spec.layout

    def residue(self, n: int) -> int:
        """``value mod n``: the plaintext to encrypt under modulus ``n``."""
        return self.value % self.layout._require_modulus(n)

    @classmethod
    def from_residue(cls, residue: int, n: int, spec: PackedSpec) -> Packed:
        """Wrap a residue mod ``n`` (e.g. a decryption) described by ``spec``.

        Raises:
            EncodingOverflowError: the residue is not a packing of ``spec.count``
                slots within ``spec.bound``.
        """
        vals = spec.layout.unpack(residue, spec.count, n)
        if any(abs(v) > spec.bound for v in vals):
            raise EncodingOverflowError("a slot exceeds its tracked bound")
        return cls(spec, spec.layout.pack(vals))

    def unpack(self) -> list[int]:
        """The ``spec.count`` slot values."""
        return self.layout.unpack(self.value, self.spec.count)

    def __add__(self, other: Any) -> Packed:
        if not isinstance(other, Packed):
            return NotImplemented
        return Packed(self.spec.add(other.spec), self.value + other.value)

    def __sub__(self, other: Any) -> Packed:
        if not isinstance(other, Packed):
            return NotImplemented
        return Packed(self.spec.add(other.spec), self.value - other.value)

    def __neg__(self) -> Packed:
        return Packed(self.spec, -self.value)

    def __mul__(self, c: Any) -> Packed:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            return NotImplemented
        return Packed(self.spec.scale(int(c)), self.value * int(c))

    __rmul__ = __mul__

    def add_constant(self, c: int | Sequence[int]) -> Packed:
        """Add ``c`` to every slot in use, or per-slot constants ``c[i]`` to slot ``i``."""
        spec = self.spec.add_constant(c)
        return Packed(spec, self.value + self.layout.pack(self.spec.constants(c)))


def dot(items: Sequence[Packed], weights: Sequence[int]) -> Packed:
    """``sum_j weights[j] * items[j]`` slot-wise (``packed @ w``), checked first.

    Raises:
        ValueError: no operands, length mismatch or different layouts.
        EncodingOverflowError: a slot could overflow.
    """
    spec = dot_spec([p.spec for p in items], weights)
    return Packed(spec, sum(int(w) * p.value for p, w in zip(items, weights)))


def layout_for(
    value_bound: int,
    weight_bound: int,
    terms: int,
    n_bits: int,
    headroom: int = 1,
    mask_bits: int = 0,
) -> PackingLayout:
    """Layout for ``sum_(j < terms) w_j * x_j`` packed slot-wise, as wide as needed.

    The result's per-slot bound is ``value_bound * weight_bound * terms`` (and
    the inputs themselves must fit); a slot gets its bit length, one sign bit,
    ``headroom`` bits (default 1: room for a bias or one more sum of equal size)
    and ``mask_bits``; the modulus holds :func:`slots_for` of them.

    Args:
        value_bound: bound on every packed input (encoded integer).
        weight_bound: bound on every plaintext weight (encoded integer).
        terms: number of accumulated products (features of ``packed @ w``).
        n_bits: bit length of the plaintext modulus.
        headroom: extra bits for further accumulation.
        mask_bits: statistical mask bits ``s`` for masked return trips.

    Raises:
        ValueError: a negative argument.
        EncodingOverflowError: not even one slot fits the modulus.
    """
    value_bound = _int(value_bound, "value_bound", 0)
    weight_bound = _int(weight_bound, "weight_bound", 0)
    terms = _int(terms, "terms", 0)
    headroom = _int(headroom, "headroom", 0)
    mask_bits = _int(mask_bits, "mask_bits", 0)
    need = max(value_bound, value_bound * weight_bound * terms)
    slot_bits = max(need.bit_length(), 1) + 1 + headroom + mask_bits
    return PackingLayout.for_modulus(n_bits, slot_bits, headroom, mask_bits)
