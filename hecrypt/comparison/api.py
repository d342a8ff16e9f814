"""``hecrypt.compare``: measure every technique on the same private prediction.

    import hecrypt
    from hecrypt.comparison import linear_workload

    cmp = hecrypt.compare(linear_workload(features=100, batch=64))
    print(cmp.table())
    cmp.to_dict()["results"][0]["projected_s"]["wan"]

Every figure comes from the channels' counters (bytes, rounds, per phase)
and real clocks; the projection onto a network is the formula of
:mod:`hecrypt.comparison.projection`. A technique that ran and gave wrong
outputs, or failed, makes :func:`compare` raise
:class:`~hecrypt.comparison.results.AccuracyCheckError` /
:class:`~hecrypt.comparison.results.ComparisonError` (with every measured
result attached) unless ``strict=False``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hecrypt.comparison import report
from hecrypt.comparison.projection import PRESETS, Network, parse_network
from hecrypt.comparison.results import (
    AccuracyCheckError,
    ComparisonError,
    TechniqueResult,
    make_result,
)
from hecrypt.comparison.techniques import TECHNIQUES, ClientKeys, Run, run_technique
from hecrypt.comparison.workloads import Workload, linear_workload, model_workload

__all__ = ["Comparison", "compare", "sweep", "check_projection", "CHECKABLE", "SWEEP_PARAMS"]

#: Parameters a sweep can vary.
SWEEP_PARAMS = ("features", "batch", "key_bits")

Progress = Callable[[int, int, str], None]


@dataclass
class Comparison:
    """Every technique's measured result, with the machine it ran on.

    Attributes:
        machine: CPU, cores, versions and load when it ran.
        networks: the networks the results are projected onto.
        results: one :class:`TechniqueResult` per workload, key size and technique.
        sweep: ``{"param": ..., "values": [...]}`` for a sweep, else ``None``.
    """

    machine: dict[str, Any]
    networks: list[Network]
    results: list[TechniqueResult] = field(default_factory=list)
    sweep: dict[str, Any] | None = None
    projection_checks: list[dict[str, Any]] = field(default_factory=list)

    def failures(self) -> list[TechniqueResult]:
        """Results that failed to run or failed their accuracy check."""
        return [r for r in self.results if r.failed]

    def result(self, technique: str, workload: str | None = None) -> TechniqueResult:
        """The (first) result of ``technique`` (on the named workload).

        Raises:
            KeyError: no such result.
        """
        for r in self.results:
            if r.technique == technique and (workload is None or r.workload["name"] == workload):
                return r
        raise KeyError(f"no result for {technique!r}" + (f" on {workload!r}" if workload else ""))

    def to_dict(self) -> dict[str, Any]:
        """``{"machine", "networks", "sweep", "results": [...]}`` (see docs/comparison.md)."""
        return {
            "machine": self.machine,
            "networks": [n.to_dict() for n in self.networks],
            "sweep": self.sweep,
            "results": [r.to_dict() for r in self.results],
            "projection_checks": self.projection_checks,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """A comparison saved with :meth:`to_dict` / ``--json`` (to print or plot it again).

        Raises:
            ValueError: not the JSON of a comparison.
        """
        try:
            nets = [Network(n["name"], float(n["bandwidth_bps"]), float(n["latency_s"]))
                    for n in data["networks"]]
            res = []
            for r in data["results"]:
                acc = dict(r.get("accuracy") or {})
                res.append(TechniqueResult(
                    dict(r["workload_params"]), r["technique"], r["status"], r.get("reason", ""),
                    dict(r.get("parties") or {}), dict(r.get("totals") or {}),
                    dict(r.get("projected_s") or {}), dict(r.get("projection") or {}), acc,
                    int(r.get("key_bits", 2048)), r.get("transport", "memory"), r.get("wall_s"),
                    dict(r.get("details") or {}),
                ))
            return cls(dict(data["machine"]), nets, res, data.get("sweep"),
                       list(data.get("projection_checks") or []))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not the JSON of a comparison: {exc}") from None

    def markdown(self) -> str:
        """Markdown tables of the totals (:func:`report.format_markdown`)."""
        return report.format_markdown(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (infinities written as null)."""
        return json.dumps(_finite(self.to_dict()), indent=indent)

    def to_csv(self) -> str:
        """One row per workload, technique and party (:func:`report.format_csv`)."""
        return report.format_csv(self)

    def table(self) -> str:
        """The readable table (:func:`report.format_table`)."""
        return report.format_table(self)

    def plot(self, path: str | Path, *, title: str | None = None) -> Path:
        """A PNG of the figures (needs matplotlib: ``pip install "hecrypt[plot]"``)."""
        return report.plot(self, path, title=title)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _finite(obj.item())
    return obj


def _networks(networks: Iterable[str | Network] | None) -> list[Network]:
    if networks is None:
        return list(PRESETS.values())
    out = [n if isinstance(n, Network) else parse_network(n) for n in networks]
    names = [n.name for n in out]
    if len(set(names)) != len(names):
        raise ValueError(f"network names must be distinct: {names}")
    return out


def _techniques(techniques: Iterable[str] | None) -> list[str]:
    chosen = list(TECHNIQUES if techniques is None else techniques)
    for t in chosen:
        if t not in TECHNIQUES:
            raise ValueError(f"unknown technique {t!r}; choose from {', '.join(TECHNIQUES)}")
    if not chosen:
        raise ValueError("no technique to compare")
    return chosen


def _machine() -> dict[str, Any]:
    from hecrypt.bench import machine_info

    return dict(machine_info())


def _start_pool(machine: dict[str, Any], transport: str, techniques: list[str]) -> None:
    """Start hecrypt's worker pool once, before any technique's clocks run.

    With in-memory parties every technique shares this process's pool; left
    to the first technique, its start-up would count in that technique's
    offline phase only. Over TCP each party process starts its own pool in
    its offline phase, as a real deployment's fresh process would. The
    machine block says which.
    """
    from hecrypt.comparison import he_parties
    from hecrypt.paillier import parallel

    if not any(t in ("he", "he-packed", "two-party", "hybrid") for t in techniques):
        return
    if transport != "memory":
        machine["Worker pool"] = "one per party process, started in its offline phase"
        return
    if parallel._workers() < 2:
        machine["Worker pool"] = "none (one usable core: everything runs in-process)"
        return
    t0 = time.perf_counter()
    parallel.default_executor()
    he_parties._start_workers()
    machine["Worker pool"] = (f"{parallel._workers()} processes, started once before the "
                              f"techniques in {time.perf_counter() - t0:.2f} s (in no "
                              "technique's figures)")


def _check(comparison: Comparison, strict: bool) -> Comparison:
    if not strict:
        return comparison
    errors = [r for r in comparison.results if r.status == "error"]
    if errors:
        lines = "; ".join(f"{r.technique} on {r.workload['name']}: {r.reason}" for r in errors)
        raise ComparisonError(f"technique(s) failed while running: {lines}", comparison)
    wrong = comparison.failures()
    if wrong:
        lines = "; ".join(f"{r.technique} on {r.workload['name']}: {r.accuracy.get('problem')}"
                          for r in wrong)
        raise AccuracyCheckError(
            f"outputs differ from the plaintext model beyond the tolerance: {lines}", comparison
        )
    return comparison


def _run_all(jobs: list[tuple[Workload, int]], techniques: list[str], networks: list[Network],
             *, transport: str, timeout: float, value_bound: float | None,
             insecure_small_keys: bool, ss_options: dict[str, Any] | None,
             progress: Progress | None, budget_s: float | None = None,
             share_client_key: bool = True) -> list[TechniqueResult]:
    total = len(jobs) * len(techniques)
    done = 0
    out = []
    keys = ClientKeys(insecure_small_keys) if share_client_key else None
    last_wall: dict[str, float] = {}
    for workload, bits in jobs:
        for tech in techniques:
            if progress is not None:
                progress(done, total, f"{tech} on {workload.name}")
            if budget_s is not None and last_wall.get(tech, 0.0) > budget_s:
                run = Run(tech, "skipped", f"its previous, smaller point took "
                          f"{last_wall[tech]:.0f} s, over the budget of {budget_s:g} s")
            else:
                run = run_technique(tech, workload, key_bits=bits, transport=transport,
                                    timeout=timeout, value_bound=value_bound,
                                    insecure_small_keys=insecure_small_keys,
                                    ss_options=ss_options, client_keys=keys)
                if run.wall_s is not None:
                    last_wall[tech] = run.wall_s
            out.append(make_result(run, workload, networks, key_bits=bits, transport=transport))
            done += 1
    if progress is not None:
        progress(total, total, "done")
    return out


def compare(
    workload: Workload | Sequence[Workload] | None = None,
    *,
    model: Any = None,
    X: Any = None,
    techniques: Iterable[str] | None = None,
    key_bits: int = 2048,
    transport: str = "memory",
    networks: Iterable[str | Network] | None = None,
    timeout: float = 600.0,
    value_bound: float | None = None,
    strict: bool = True,
    insecure_small_keys: bool = False,
    ss_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
    share_client_key: bool = True,
) -> Comparison:
    """Run the same private prediction under each technique and measure it.

    Args:
        workload: a :class:`Workload` (or several); default: a logistic
            regression of 10 features and 8 records.
        model, X: instead of ``workload``: the user's model (LinearModel,
            model file, scikit-learn estimator, Sequential) and records.
        techniques: names from :data:`TECHNIQUES` (default: all).
        key_bits: Paillier key size for the techniques that use Paillier.
        transport: ``"memory"`` (parties as threads) or ``"tcp"`` (processes
            on loopback).
        networks: presets (``"lan"``, ``"wan"``) or ``NAME=BANDWIDTH,LATENCY``
            or :class:`Network` objects to project onto (default lan and wan).
        timeout: per-message timeout of the channels, seconds.
        value_bound: the public bound on ``|x|`` the HE client declares
            (default: the next power of two above the data's largest value).
        strict: raise when a technique fails or is inaccurate (default).
        insecure_small_keys: allow keys below 2048 bits (tests only).
        ss_options: extra keyword arguments for the secret-sharing modes.
        progress: ``progress(done, total, what)``, called before each run.
        share_client_key: ``he`` and ``he-packed`` use one client key pair
            per key size, generated once (:class:`~hecrypt.comparison.techniques.ClientKeys`;
            the output says so); ``False``: each generates its own in its
            offline phase.

    Returns:
        A :class:`Comparison`.

    Raises:
        AccuracyCheckError: (strict) a technique's outputs are wrong.
        ComparisonError: (strict) a technique failed while running.
        ValueError: unknown technique, network or transport.
    """
    if workload is None:
        workload = model_workload(model, X) if model is not None else linear_workload()
    elif model is not None or X is not None:
        raise ValueError("give either a workload or model and X, not both")
    workloads = [workload] if isinstance(workload, Workload) else list(workload)
    nets = _networks(networks)
    chosen = _techniques(techniques)
    machine = _machine()
    _start_pool(machine, transport, chosen)
    results = _run_all([(w, key_bits) for w in workloads], chosen, nets, transport=transport,
                       timeout=timeout, value_bound=value_bound,
                       insecure_small_keys=insecure_small_keys, ss_options=ss_options,
                       progress=progress, share_client_key=share_client_key)
    return _check(Comparison(machine, nets, results), strict)


def sweep(
    param: str,
    values: Sequence[int],
    *,
    base: dict[str, Any] | None = None,
    techniques: Iterable[str] | None = None,
    transport: str = "memory",
    networks: Iterable[str | Network] | None = None,
    timeout: float = 600.0,
    strict: bool = True,
    insecure_small_keys: bool = False,
    budget_s: float | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """Compare the techniques on a synthetic linear workload while one parameter grows.

    Args:
        param: ``"features"``, ``"batch"`` or ``"key_bits"``.
        values: the values it takes.
        base: the other parameters: ``features`` (default 10), ``batch``
            (default 8), ``key_bits`` (default 2048), ``task`` (``"logistic"``).
        budget_s: once a technique's run takes longer than this, its larger
            points are not run (reported as ``"skipped"`` with the reason).

    Raises:
        ValueError: an unknown parameter or empty values.
    """
    if param not in SWEEP_PARAMS:
        raise ValueError(f"can sweep {', '.join(SWEEP_PARAMS)}, not {param!r}")
    if not values:
        raise ValueError("a sweep needs at least one value")
    settings: dict[str, Any] = {"features": 10, "batch": 8, "key_bits": 2048, "task": "logistic"}
    settings.update(base or {})
    jobs = []
    for v in sorted(values):
        s = dict(settings, **{param: int(v)})
        w = linear_workload(int(s["features"]), int(s["batch"]), task=str(s["task"]))
        jobs.append((w, int(s["key_bits"])))
    nets = _networks(networks)
    chosen = _techniques(techniques)
    machine = _machine()
    _start_pool(machine, transport, chosen)
    results = _run_all(jobs, chosen, nets, transport=transport, timeout=timeout,
                       value_bound=None, insecure_small_keys=insecure_small_keys,
                       ss_options=None, progress=progress, budget_s=budget_s)
    cmp = Comparison(machine, nets, results, {"param": param, "values": [int(v) for v in values],
                                               "base": settings})
    return _check(cmp, strict)


#: Techniques :func:`check_projection` can run over the emulated network (all of them).
CHECKABLE = ("he", "he-packed", "phe", "dealer", "two-party", "hybrid")


def _tcp_programs(workload: Workload, technique: str, *, key_bits: int, value_bound: Any,
                  insecure_small_keys: bool) -> dict[str, Any]:
    """The party programs of ``technique``, picklable for processes, the dialed one first."""
    from hecrypt.comparison import he_parties

    if technique == "dealer":
        import functools

        from hecrypt.hybrid import parties
        from hecrypt.hybrid.inference import model_spec

        x = parties.prepare_records(model_spec(workload.model), workload.X)
        return {
            parties.DEALER: parties.dealer_program,
            parties.SERVER: functools.partial(parties.server_program,
                                              model=parties.portable_model(workload.model)),
            parties.CLIENT: functools.partial(parties.client_program, X=x),
        }
    if technique in ("two-party", "hybrid"):
        from hecrypt.hybrid import hybrid

        opts = {"insecure_small_keys": True} if insecure_small_keys else {}
        progs = hybrid.programs(workload.model, workload.X, technique, transport="tcp",
                                key_bits=key_bits, **opts)
    else:
        progs = he_parties.programs(
            technique, model_json=workload.model.to_json(), X=workload.X, key_bits=key_bits,
            value_bound=value_bound, insecure_small_keys=insecure_small_keys,
        )
    return {"server": progs["server"], "client": progs["client"]}


def _client_scores(workload: Workload, output: dict[str, Any]) -> Any:
    import numpy as np

    for key in ("scores", "logits", "values"):
        if output.get(key) is not None:
            return np.asarray(output[key], dtype=np.float64).reshape(workload.batch, -1)
    raise ComparisonError("the client returned no outputs over the emulated network")


def check_projection(
    workload: Workload,
    technique: str,
    network: str | Network,
    *,
    key_bits: int = 2048,
    value_bound: float | None = None,
    timeout: float = 300.0,
    insecure_small_keys: bool = False,
) -> dict[str, Any]:
    """Check the projection against a real TCP run over an emulated network.

    1. runs ``technique`` over in-memory channels and projects it onto ``network``;
    2. runs it again as two processes over TCP through a delaying proxy that
       imposes ``network`` (:mod:`hecrypt.comparison.netem`), and measures it;
    3. returns both, their ratio, and the same for the online phase alone
       (the offline phase of a fresh process also starts its worker pool,
       which the in-memory run may have started before).

    Every technique is checked this way (:data:`CHECKABLE`): the HE-only
    ones with this package's party programs, ``two-party`` and ``hybrid``
    with :func:`hecrypt.hybrid.hybrid.programs`, ``dealer`` with the three
    programs of :mod:`hecrypt.hybrid.parties` (every one of its three links
    passes through its own proxy). Both runs generate their client key in
    their offline phase (no shared key).

    Raises:
        ValueError: an unknown technique.
        ComparisonError: a run failed or was inaccurate.
    """
    from hecrypt.comparison import netem
    from hecrypt.comparison.results import accuracy, tolerance

    if technique not in CHECKABLE:
        raise ValueError(f"the projection check runs {', '.join(CHECKABLE)}, "
                         f"not {technique!r}")
    net = network if isinstance(network, Network) else parse_network(network)
    mem = compare(workload, techniques=[technique], key_bits=key_bits, networks=[net],
                  value_bound=value_bound, insecure_small_keys=insecure_small_keys,
                  share_client_key=False)
    res = mem.results[0]
    programs = _tcp_programs(workload, technique, key_bits=key_bits,
                             value_bound=res.details.get("value_bound"),
                             insecure_small_keys=insecure_small_keys)
    outputs, reports, measured = netem.run_parties_over(programs, net, timeout=timeout)
    acc = accuracy(workload, _client_scores(workload, outputs["client"]),
                   tolerance(technique, workload))
    if not acc["ok"]:
        raise AccuracyCheckError(f"{technique} over the emulated network: {acc['problem']}")
    memory_wall = res.totals["offline_s"] + res.totals["online_s"]
    projected = res.projected_s[net.name]
    projected_online = res.projection[net.name]["online_s"]
    measured_online = max(float(r["online_s"]) for r in reports.values())
    return {
        "workload": workload.name,
        "technique": technique,
        "key_bits": key_bits,
        "network": net.to_dict(),
        "memory_wall_s": memory_wall,
        "projected_s": projected,
        "measured_s": measured,
        "ratio": measured / projected if projected > 0 else None,
        "projected_online_s": projected_online,
        "measured_online_s": measured_online,
        "online_ratio": measured_online / projected_online if projected_online > 0 else None,
        "memory_online_s": res.totals["online_s"],
        "projected_network_s": projected - memory_wall,
        "tcp_parties": reports,
        "tcp_bytes_sent": sum(int(r["bytes_sent"]) for r in reports.values()),
        "memory_bytes_sent": res.totals["bytes_sent"],
        "tcp_rounds": max(int(r["rounds"]) for r in reports.values()),
        "memory_rounds": res.totals["rounds"],
    }
