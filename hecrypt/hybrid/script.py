"""A script API for secret-shared computations with a dealer: describe, then run as three parties.

::

    from hecrypt.hybrid.script import Computation

    with Computation("server", "client", "dealer") as prot:
        w = prot.input(weights, owner="server")
        x = prot.input(records, owner="client")
        y = prot.sigmoid(prot.dot(x, w))
        result = prot.reveal(y, to="client")
    print(result.value)          # what the client learnt
    print(prot.report_table())   # bytes, rounds and time per party and phase

Inside the ``with`` block nothing is computed: each call records one step of
a public program (operations and shapes) and returns a handle. When the
block ends, the program runs as three parties, each in its own thread (or OS
process with ``transport="tcp"``), exactly like the library's other party
programs: each computing party's program receives only the values that party
owns, and the dealer receives nothing but the list of triples it must make.
Because the whole program is known before it runs, every triple is prepared
in the offline phase (:func:`plan`), apart from the online phase.

Values: ``input`` takes a real array (encoded with ``frac_bits`` fractional
bits); handles support ``+``, ``-``, unary ``-`` with handles or public
arrays, ``*`` with a handle (a Beaver product) or a public number/array,
``@`` with a handle (a Beaver matrix product) or a public matrix, and the
methods below. ``reveal`` gives the value to one computing party, ``open`` to
both; the value is available as ``.value`` (``None`` for a party that did not
learn it) after the block.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from hecrypt.exceptions import ProtocolError
from hecrypt.hybrid import ring
from hecrypt.hybrid.protocols import Product, SecretSharing, polynomial_requests
from hecrypt.hybrid.shares import SharedTensor
from hecrypt.hybrid.triples import DealerTripleSource, TripleRequest, dealer_program

__all__ = ["Computation", "Var", "Output", "plan", "run_steps"]

Step = tuple[Any, ...]


class Var:
    """A handle on a secret-shared value of a :class:`Computation` (public: its shape)."""

    __slots__ = ("_comp", "id", "shape")

    def __init__(self, comp: Computation, ident: int, shape: tuple[int, ...]) -> None:
        self._comp = comp
        self.id = ident
        self.shape = shape

    def __repr__(self) -> str:
        return f"<Var {self.id} shape {self.shape}>"

    def __add__(self, other: Any) -> Var:
        return self._comp._binary("add", self, other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Var:
        return self._comp._binary("sub", self, other)

    def __rsub__(self, other: Any) -> Var:
        return self._comp._binary("add", self._comp._unary("neg", self), other)

    def __neg__(self) -> Var:
        return self._comp._unary("neg", self)

    def __mul__(self, other: Any) -> Var:
        if isinstance(other, Var):
            return self._comp.mul(self, other)
        return self._comp._binary("mulpub", self, other)

    __rmul__ = __mul__

    def __matmul__(self, other: Any) -> Var:
        if isinstance(other, Var):
            return self._comp.dot(self, other)
        return self._comp._binary("matpub", self, other)


class Output:
    """A revealed or opened value; ``.value`` is set when the computation has run."""

    __slots__ = ("id", "parties", "value")

    def __init__(self, ident: int, parties: tuple[str, ...]) -> None:
        self.id = ident
        self.parties = parties
        self.value: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"<Output {self.id} to {', '.join(self.parties)}: {self.value!r}>"


class Computation:
    """Record a secret-shared program, then run it with two computing parties and a dealer.

    Args:
        party0, party1: the computing parties' names (e.g. ``"server"``, ``"client"``).
        dealer: the dealer's name.
        frac_bits: fractional bits of the fixed-point encoding.
        transport: ``"memory"`` or ``"tcp"``.
        timeout: seconds any receive waits.
    """

    def __init__(self, party0: str = "server", party1: str = "client", dealer: str = "dealer",
                 *, frac_bits: int = ring.DEFAULT_FRAC_BITS, transport: str = "memory",
                 timeout: float = 60.0) -> None:
        if len({party0, party1, dealer}) != 3:
            raise ProtocolError("a computation needs three distinct party names")
        ring.encode_max(frac_bits)
        self.parties = (party0, party1)
        self.dealer = dealer
        self.frac_bits = int(frac_bits)
        self.transport = transport
        self.timeout = timeout
        self.steps: list[Step] = []
        self.values: dict[str, dict[int, np.ndarray]] = {party0: {}, party1: {}}
        self.outputs: list[Output] = []
        self.report: dict[str, dict[str, Any]] = {}
        self._ran = False

    # ------------------------------------------------------------------ recording
    def _new(self, shape: tuple[int, ...], step: Step) -> Var:
        if self._ran:
            raise ProtocolError("this computation has already run; start a new one")
        self.steps.append(step)
        return Var(self, len(self.steps) - 1, tuple(int(s) for s in shape))

    def _own(self, v: Var) -> int:
        if not isinstance(v, Var) or v._comp is not self:
            raise ProtocolError("a value of another computation")
        return v.id

    def _unary(self, op: str, x: Var) -> Var:
        return self._new(x.shape, (op, self._own(x)))

    def _binary(self, op: str, x: Var, other: Any) -> Var:
        if isinstance(other, Var):
            shape = np.broadcast_shapes(x.shape, other.shape)
            return self._new(shape, (op, self._own(x), ("var", self._own(other))))
        pub = np.asarray(other, dtype=np.float64)
        if op == "matpub":
            shape = np.matmul(np.empty(x.shape), np.empty(pub.shape)).shape
        else:
            shape = np.broadcast_shapes(x.shape, pub.shape)
        return self._new(shape, (op, self._own(x), ("public", pub)))

    def input(self, value: Any, owner: str) -> Var:
        """A private input of ``owner`` (given to that party's program only)."""
        if owner not in self.parties:
            raise ProtocolError(f"input owner {owner!r} is not a computing party "
                                f"({', '.join(self.parties)})")
        arr = np.asarray(value, dtype=np.float64)
        ring.encode(arr, self.frac_bits)  # refuse values the ring cannot carry now
        var = self._new(arr.shape, ("input", owner, arr.shape))
        self.values[owner][var.id] = arr
        return var

    def mul(self, x: Var, y: Var) -> Var:
        """Element-wise product (Beaver triple; same shapes)."""
        if x.shape != y.shape:
            raise ProtocolError(f"mul needs equal shapes, not {x.shape} and {y.shape}")
        return self._new(x.shape, ("mul", self._own(x), self._own(y)))

    def square(self, x: Var) -> Var:
        """``x * x`` (square pair)."""
        return self._new(x.shape, ("square", self._own(x)))

    def dot(self, x: Var, y: Var) -> Var:
        """Matrix product ``(m, k) @ (k, n)`` (matrix triple)."""
        if len(x.shape) != 2 or len(y.shape) != 2 or x.shape[1] != y.shape[0]:
            raise ProtocolError(f"dot needs (m, k) and (k, n), not {x.shape} and {y.shape}")
        return self._new((x.shape[0], y.shape[1]), ("matmul", self._own(x), self._own(y)))

    matmul = dot

    def conv2d(self, x: Var, w: Var, strides: int | Sequence[int] = 1,
               padding: ring.PaddingLike = "valid") -> Var:
        """Channels-last convolution of ``(N, H, W, C)`` by a shared ``(kh, kw, C, O)`` kernel."""
        st = (strides, strides) if isinstance(strides, int) else tuple(strides)
        params = (tuple(int(s) for s in st), padding)
        shape = ring.conv2d_output_shape(x.shape, w.shape, params[0], padding)
        return self._new(shape, ("conv2d", self._own(x), self._own(w), params))

    def polynomial(self, x: Var, poly: Any) -> Var:
        """``poly(x)`` element-wise (see :meth:`SecretSharing.polynomial`)."""
        return self._new(x.shape, ("poly", self._own(x), poly))

    def sigmoid(self, x: Var, approx: Any = None) -> Var:
        """The sigmoid through a polynomial (default: degree 7 on [-8, 8])."""
        if approx is None:
            from hecrypt.hybrid.polynomials import sigmoid_poly

            approx = sigmoid_poly()
        return self.polynomial(x, approx)

    def avg_pool2d(self, x: Var, pool_size: int = 2) -> Var:
        """Average pooling (no padding, stride = window) of ``(N, H, W, C)``."""
        n, h, w, c = x.shape
        return self._new((n, h // pool_size, w // pool_size, c),
                         ("avgpool", self._own(x), pool_size))

    def sum(self, x: Var, axis: int | None = None) -> Var:
        """Sum of elements (local)."""
        shape = np.empty(x.shape).sum(axis=axis).shape
        return self._new(shape, ("sum", self._own(x), axis))

    def reshape(self, x: Var, *shape: int) -> Var:
        """The same value with another shape (local)."""
        new = np.empty(x.shape).reshape(*shape).shape
        return self._new(new, ("reshape", self._own(x), new))

    def reveal(self, x: Var, to: str) -> Output:
        """Give ``x`` to computing party ``to`` (one message)."""
        if to not in self.parties:
            raise ProtocolError(f"cannot reveal to {to!r}: not a computing party")
        self._new(x.shape, ("reveal", self._own(x), to))
        out = Output(len(self.steps) - 1, (to,))
        self.outputs.append(out)
        return out

    def open(self, x: Var) -> Output:
        """Give ``x`` to both computing parties (one exchange)."""
        self._new(x.shape, ("open", self._own(x)))
        out = Output(len(self.steps) - 1, self.parties)
        self.outputs.append(out)
        return out

    # ------------------------------------------------------------------ running
    def __enter__(self) -> Computation:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.run()

    def run(self) -> None:
        """Run the recorded program as three parties (called when the ``with`` block ends).

        Raises:
            ProtocolError: a party failed (names it and the cause).
        """
        from hecrypt.hybrid.report import total_report
        from hecrypt.hybrid.runner import run_parties

        if self._ran:
            raise ProtocolError("this computation has already run")
        self._ran = True
        p0, p1 = self.parties
        programs: dict[str, Any] = {
            name: functools.partial(run_steps, steps=self.steps, inputs=self.values[name],
                                    peer=peer, dealer=self.dealer, frac_bits=self.frac_bits)
            for name, peer in ((p0, p1), (p1, p0))
        }
        programs[self.dealer] = functools.partial(dealer_program, computing=self.parties)
        reports: dict[str, dict[str, Any]] = {}
        results = run_parties(programs, transport=self.transport, timeout=self.timeout,
                              reports=reports)
        self.report = {name: dict(r) for name, r in reports.items()}
        self.report["total"] = total_report(self.report)
        for out in self.outputs:
            out.value = results[out.parties[0]].get(out.id)

    def report_table(self) -> str:
        """Bytes, rounds and time per party and phase (after the run)."""
        from hecrypt.hybrid.report import format_report

        return format_report(self.report)


def plan(steps: Sequence[Step]) -> list[TripleRequest]:
    """The triples a recorded program takes, in order."""
    shapes: dict[int, tuple[int, ...]] = {}
    reqs: list[TripleRequest] = []
    for i, step in enumerate(steps):
        op = step[0]
        if op == "input":
            shapes[i] = tuple(step[2])
            continue
        x = shapes[step[1]]
        if op == "mul":
            reqs.append(TripleRequest("mul", x, shapes[step[2]]))
        elif op == "square":
            reqs.append(TripleRequest("square", x))
        elif op == "matmul":
            reqs.append(TripleRequest("matmul", x, shapes[step[2]]))
        elif op == "conv2d":
            reqs.append(TripleRequest("conv2d", x, shapes[step[2]], step[3]))
        elif op == "poly":
            reqs.extend(polynomial_requests(x, step[2]))
        shapes[i] = _shape_of(step, shapes)
    return reqs


def _shape_of(step: Step, shapes: dict[int, tuple[int, ...]]) -> tuple[int, ...]:
    op, x = step[0], shapes[step[1]]
    if op in ("add", "sub", "mulpub", "matpub"):
        kind, other = step[2]
        o = shapes[other] if kind == "var" else np.shape(other)
        if op == "matpub":
            return tuple(np.matmul(np.empty(x), np.empty(o)).shape)
        return tuple(np.broadcast_shapes(x, o))
    if op == "matmul":
        return (x[0], shapes[step[2]][1])
    if op == "conv2d":
        return tuple(ring.conv2d_output_shape(x, shapes[step[2]], step[3][0], step[3][1]))
    if op == "avgpool":
        k = step[2]
        return (x[0], x[1] // k, x[2] // k, x[3])
    if op == "sum":
        return tuple(np.empty(x).sum(axis=step[2]).shape)
    if op == "reshape":
        return tuple(step[2])
    return x


def run_steps(party: Any, steps: Sequence[Step], inputs: dict[int, np.ndarray], peer: str,
              dealer: str, frac_bits: int) -> dict[int, np.ndarray]:
    """One computing party's program: prepare every triple, then run the steps.

    Returns:
        The values this party learnt, by step index.
    """
    src = DealerTripleSource(party, peer, dealer=dealer)
    with party.phase("offline"):
        src.prepare(plan(steps))
    ss = SecretSharing(party, peer, src, frac_bits)
    vals: dict[int, SharedTensor] = {}
    wanted = [(i, s) for i, s in enumerate(steps) if s[0] == "input"]
    shared = ss.inputs([(inputs.get(i), s[1], tuple(s[2])) for i, s in wanted])
    vals.update({i: t for (i, _), t in zip(wanted, shared)})
    learnt: dict[int, np.ndarray] = {}
    for i, step in enumerate(steps):
        op = step[0]
        if op == "input":
            continue
        x = vals[step[1]]
        if op in ("add", "sub"):
            kind, other = step[2]
            y = vals[other] if kind == "var" else other
            if kind == "var" and x.shape != y.shape:
                x, y = _broadcast(x, y)
            vals[i] = x + y if op == "add" else x - y
        elif op == "neg":
            vals[i] = -x
        elif op == "mulpub":
            vals[i] = x * step[2][1]
        elif op == "matpub":
            vals[i] = x @ step[2][1]
        elif op in ("mul", "matmul"):
            vals[i] = ss.products([Product(op, x, vals[step[2]])])[0]
        elif op == "conv2d":
            vals[i] = ss.products([Product("conv2d", x, vals[step[2]], step[3])])[0]
        elif op == "square":
            vals[i] = ss.square(x)
        elif op == "poly":
            vals[i] = ss.polynomial(x, step[2])
        elif op == "avgpool":
            vals[i] = ss.avg_pool2d(x, step[2])
        elif op == "sum":
            vals[i] = x.sum(axis=step[2])
        elif op == "reshape":
            vals[i] = x.reshape(step[2])
        elif op == "reveal":
            got = ss.reveal(x, step[2])
            if got is not None:
                learnt[i] = got
        elif op == "open":
            learnt[i] = ss.open(x)
        else:
            raise ProtocolError(f"unknown step {op!r}")
    src.close()
    return learnt


def _broadcast(x: SharedTensor, y: SharedTensor) -> tuple[SharedTensor, SharedTensor]:
    shape = np.broadcast_shapes(x.shape, y.shape)
    return (SharedTensor(np.broadcast_to(x.share, shape).copy(), x.frac_bits, x.index),
            SharedTensor(np.broadcast_to(y.share, shape).copy(), y.frac_bits, y.index))
