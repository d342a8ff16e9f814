"""Benchmarks of hecrypt side by side with ``phe`` (python-paillier), in one run.

Run it as ``python -m hecrypt.bench`` or ``hecrypt bench``::

    python -m hecrypt.bench                          # 2048-bit key, 1,000 values
    python -m hecrypt.bench --write docs/performance.md

One key pair is generated with hecrypt and converted to phe
(``PaillierPublicKey(n)``, ``PaillierPrivateKey(pk, p, q)``), so both
libraries work on exactly the same modulus. Every timed result is checked
(decrypted values against the plaintexts, homomorphic sums against the
plaintext sums, randomness for reuse and for being an n-th residue), so a
broken fast path cannot produce a good number: a failed check is printed,
makes the exit code 1 and keeps ``--write`` from touching the report (no
section is written unless every check of the run passed). A missed *target*
is a measurement, not an error: the exit code stays 0 and the table says
which targets were met.

Three kinds of numbers are kept apart so none is read as another:

* steady-state throughput (time per value of a batch, after warm-up),
* single-value latency (one call, one value),
* one-off setup (process-pool start, fixed-base table builds, key generation).

Sections: the benchmark is a list of *sections*; each is a function that takes
a :class:`BenchContext` (the key pair, both libraries' keys, the data and the
options) and returns a :class:`SectionResult` (rows, correctness checks,
notes). Later benchmarks add themselves with :func:`register_section`; ``--write``
replaces only the blocks of the sections that ran, between
``<!-- bench:NAME:begin -->`` and ``<!-- bench:NAME:end -->`` markers.

The code is split by idea: :mod:`~hecrypt.bench.results` (rows, checks,
the section registry), :mod:`~hecrypt.bench.measure` (timing and checks),
one module per section (:mod:`~hecrypt.bench.core`,
:mod:`~hecrypt.bench.packing`, :mod:`~hecrypt.bench.service`, registered in
that order), :mod:`~hecrypt.bench.report` (machine, markdown, the document)
and :mod:`~hecrypt.bench.runner` (options and entry points). Every name is
importable from :mod:`hecrypt.bench` itself.
"""

# Every name of the former single-module benchmark is re-exported here.
# ruff: noqa: F401

from __future__ import annotations

# The section modules register themselves on import, in run order: core,
# packing, service.
from hecrypt.bench.core import (
    _pairs,
    _warm_note,
    core_section,
)
from hecrypt.bench.measure import (
    _close,
    _compare,
    _loop_time,
    _median_time,
    _per_call_median,
    _randomness_check,
    _residues,
)
from hecrypt.bench.packing import (
    BENCH_BYTES_PER_VALUE,
    BENCH_FEATURES,
    BENCH_PHE_RECORDS,
    BENCH_VALUE_BOUND,
    _phe_json_bytes,
    packing_section,
)
from hecrypt.bench.report import (
    _DOC_HEADER,
    _busy_warning,
    _command_line,
    _cpu_model,
    _fmt_amount,
    _fmt_ratio,
    _fmt_result,
    _fmt_target,
    _fmt_time,
    _usable_cores,
    _version,
    format_markdown,
    machine_info,
    update_document,
)
from hecrypt.bench.results import (
    GROUPS,
    SECTIONS,
    BenchContext,
    Check,
    Row,
    Section,
    SectionFunc,
    SectionResult,
    register_section,
)
from hecrypt.bench.runner import (
    FULL_BATCH,
    FULL_REPEATS,
    QUICK_BATCH,
    QUICK_PHE_SAMPLE,
    _data,
    _positive,
    _resolve_defaults,
    _warm_up,
    add_arguments,
    failed_checks,
    main,
    run,
    run_benchmark,
)
from hecrypt.bench.service import (
    SERVICE_FEATURES,
    SERVICE_PHE_RECORDS,
    service_section,
)

__all__ = [
    "BenchContext",
    "Check",
    "Row",
    "Section",
    "SectionResult",
    "SECTIONS",
    "add_arguments",
    "failed_checks",
    "format_markdown",
    "machine_info",
    "main",
    "register_section",
    "run",
    "run_benchmark",
    "update_document",
]
