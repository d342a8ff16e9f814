"""The benchmark runs end to end on tiny parameters and checks what it times."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hecrypt import bench

EXPECTED_ROWS = [
    "Encrypt, key owner (`PrivateKey.encrypt_batch`)",
    "Encrypt, public key (`PublicKey.encrypt_batch`)",
    "Decrypt (`PrivateKey.decrypt_batch`)",
    "Ciphertext + ciphertext (`EncryptedNumber.__add__`)",
    "Encrypt 1 value, key owner",
    "Encrypt 1 value, public key",
    "Decrypt 1 value (`PrivateKey.decrypt`)",
    "Key generation (1024-bit, hecrypt)",
    "First key-owner batch of 20",
    "First public-key batch of 20",
    "First decryption batch of 20",
    "Key-owner tables in the calling process",
    "DJN table in the calling process",
]


def _args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(
        ["--bits", "1024", "--insecure-small-keys", "--batch", "20", "--repeats", "1",
         "--phe-sample", "6", "--loop-seconds", "0.01", *extra]
    )


def test_run_tiny_prints_every_row_and_passes_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "performance.md"
    assert bench.run(_args("--write", str(report))) == 0
    captured = capsys.readouterr()
    out = captured.out
    for i, name in enumerate(bench.SECTIONS, 1):  # progress per section on stderr
        assert f"hecrypt bench: [{i}/{len(bench.SECTIONS)}] {name}: " in captured.err
        assert f"hecrypt bench: [{i}/{len(bench.SECTIONS)}] {name} done in " in captured.err
    for label in EXPECTED_ROWS:
        assert label in out, label
    assert "raw gmpy2 `a * b % n²`" in out
    assert "phe `+`" in out
    assert "Targets: " in out
    assert "FAILED" not in out
    assert "CORRECTNESS CHECK FAILED" not in out
    # every correctness check ran and passed
    line = next(x for x in out.splitlines() if x.startswith("**Correctness checks:"))
    done, total = line.split(":")[1].split("passed")[0].split(" of ")
    assert int(done) == int(total) >= 10

    text = report.read_text(encoding="utf-8")
    assert text.startswith("# Performance")
    assert text.count("<!-- bench:core:begin -->") == 1
    assert text.count("<!-- bench:core:end -->") == 1
    assert "| CPU |" in text and "| phe | " in text and "gmpy2 / GMP" in text
    for label in EXPECTED_ROWS:
        assert label in text, label


def _result(title: str, seconds: float) -> bench.SectionResult:
    return bench.SectionResult(
        "core", title,
        rows=[bench.Row("throughput", "op", seconds, "phe", 1.0, "speedup", 2.0)],
        checks=[bench.Check("check", True, "fine")],
    )


def test_update_document_replaces_only_its_block(tmp_path: Path) -> None:
    path = tmp_path / "perf.md"
    kw = {"command": "hecrypt bench", "machine": {"CPU": "x"}, "date": "today"}
    bench.update_document(path, [_result("First", 0.25)], **kw)  # type: ignore[arg-type]
    path.write_text(path.read_text(encoding="utf-8") + "\nHand-written footer.\n",
                    encoding="utf-8")
    other = bench.SectionResult("tensors", "Tensors")
    bench.update_document(path, [other], **kw)  # type: ignore[arg-type]
    bench.update_document(path, [_result("Second", 2.0)], **kw)  # type: ignore[arg-type]
    text = path.read_text(encoding="utf-8")
    assert "First" not in text and "Second" in text
    assert text.count("<!-- bench:core:begin -->") == 1
    assert "<!-- bench:tensors:begin -->" in text
    assert "Hand-written footer." in text
    assert "**MISS**" in text  # 1.0 / 2.0 = 0.5x, below the 2x target


def test_row_ratios_and_targets() -> None:
    fast = bench.Row("throughput", "op", 0.01, "phe", 1.0, "speedup", 50.0)
    assert fast.ratio == pytest.approx(100.0) and fast.passed is True
    slow = bench.Row("throughput", "op", 1.5e-6, "raw", 1.0e-6, "overhead", 1.3)
    assert slow.ratio == pytest.approx(1.5) and slow.passed is False
    info = bench.Row("setup", "build", 1.2)
    assert info.ratio is None and info.passed is None


def test_sections_registry_and_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert "core" in bench.SECTIONS
    with pytest.raises(ValueError):
        bench.register_section("core", "again")(bench.core_section)
    assert bench.run(_args("--sections", "nope")) == 2
    assert "unknown benchmark section" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _args("--batch", "0")


def test_service_section_scores_in_process_and_over_http(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench.run(_args("--sections", "service", "--phe-sample", "1")) == 0
    out = capsys.readouterr().out
    for feats in (30, 100):
        for n in (1, 20):
            for where in ("in process", "HTTP loopback"):
                assert f"{feats} features, batch {n}, {where}" in out
    assert "HTTP loopback (packed)" in out and "in process (single)" in out
    assert "in process, 100 features, batch 20, client on one core == numpy" in out
    line = next(x for x in out.splitlines() if x.startswith("**Correctness checks:"))
    done, total = line.split(":")[1].split("passed")[0].split(" of ")
    assert int(done) == int(total) == 18


def test_quick_mode_warms_up_reports_progress_and_says_what_it_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--quick", "--bits", "1024", "--insecure-small-keys",
                              "--batch", "40", "--phe-sample", "5", "--loop-seconds", "0.01"])
    assert bench.run(args) == 0
    captured = capsys.readouterr()
    assert "[1/1] core: Paillier core operations" in captured.err
    assert "[1/1] core done in" in captured.err and "(ok)" in captured.err
    assert "Quick mode (`--quick`): batch of 40, 1 repeat(s)" in captured.out
    assert "built the key's fixed-base tables" in captured.out
    # with the tables warm, the owner's table path is what the batch rows time
    assert "already built" in captured.out
    report = tmp_path / "perf.md"
    assert bench.run(parser.parse_args(["--quick", "--write", str(report)])) == 2
    assert "--quick" in capsys.readouterr().err and not report.exists()



PACKING_ROWS = [
    "Dot product, 100 encrypted features x float weights (`EncryptedTensor @ w`)",
    "Score 1 record, server (`PackedTensor @ w + b`; 20 records x 100 features",
    "Encrypt 1 record, client (`PrivateKey.encrypt_packed`)",
    "Decrypt 1 record's score, client (`PrivateKey.decrypt`)",
    "First packed encryption of 20 records: extra over steady state",
    "Packed input (`PackedTensor.to_bytes`), per value",
    "Unpacked tensor (`EncryptedTensor.to_bytes`), per value",
    "Tensor + tensor, per element (`EncryptedTensor.__add__`, 20 elements)",
]
PACKING_CHECKS = [
    "EncryptedTensor @ w == numpy",
    "phe sum of enc_x[i] * w[i] == numpy",
    "packed @ w + b == numpy (all records)",
    "packed @ w + b == numpy, one core (all records)",
    "packed @ w + b == EncryptedTensor @ w + b (record 0)",
    "phe score + b == numpy",
    "packed input survives to_bytes/from_bytes",
    "layout_for_key agrees with encrypt_packed",
    "tensor + tensor == raw product mod n^2",
    "tensor + tensor decrypts to the sums",
]


def test_packing_section_produces_its_rows_and_passes_its_checks() -> None:
    (result,) = bench.run_benchmark(_args("--sections", "packing", "--phe-sample", "1",
                                          "--repeats", "2"))
    assert result.name == "packing"
    operations = [r.operation for r in result.rows]
    for label in PACKING_ROWS:
        assert any(op.startswith(label) for op in operations), label
    assert [c.name for c in result.checks] == PACKING_CHECKS
    failed = [(c.name, c.detail) for c in result.checks if not c.ok]
    assert failed == []
    timed = [r for r in result.rows if r.group != "size"]
    assert all(r.seconds is not None and r.seconds >= 0 for r in timed)
    assert all(r.baseline_seconds and r.baseline_seconds > 0
               for r in timed if r.group != "setup")
    # the batch rows: as a user runs them (default executor) and on one core
    from hecrypt.bench.measure import executor_cores
    from hecrypt.paillier import parallel

    batch_rows = {op.split(" (")[0]: r for r in result.rows for op in [r.operation]
                  if r.group == "throughput" and op.startswith(("Score", "Encrypt", "Decrypt"))}
    assert set(batch_rows) == {"Score 1 record, server", "Encrypt 1 record, client",
                               "Decrypt 1 record's score, client"}
    for row in batch_rows.values():
        assert row.one_core_seconds is not None and row.one_core_seconds > 0
        assert len(row.samples) == len(row.one_core_samples) == 2
        assert row.core_ratio is not None and row.ratio is not None
    # 20 records x 100 features in 17 slots: 200 ciphertexts, enough for the pool
    enc = batch_rows["Encrypt 1 record, client"]
    assert enc.cores == executor_cores(parallel.resolve_executor(None, 200))
    score = batch_rows["Score 1 record, server"]
    assert score.target == 100.0 and score.target_on == "machine"
    assert len(score.baseline_samples) == 2  # phe per repeat: paired with hecrypt's
    text = bench.format_markdown(result)
    assert "**Correctness checks: 10 of 10 passed.**" in text
    assert "Targets: " in text
    assert f"({enc.cores} vs 1) |" in text and "over 2 repeats" in text


def test_sabotaged_packed_scores_fail_the_check_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from hecrypt.paillier.packed import PackedTensor

    honest = PackedTensor.dot

    def skewed(self: PackedTensor, w: object, **kw: object) -> PackedTensor:
        # a silently wrong server: every weight 1/64 too large
        return honest(self, np.asarray(w) * (1 + 2.0**-6), **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(PackedTensor, "dot", skewed)
    report = tmp_path / "performance.md"
    before = b"# Performance\n\nHand-written text.\n<!-- bench:packing:begin -->\nold\n" \
             b"<!-- bench:packing:end -->\n"
    report.write_bytes(before)
    code = bench.run(_args("--sections", "packing", "--phe-sample", "1",
                           "--write", str(report)))
    out = capsys.readouterr().out
    assert code == 1
    assert report.read_bytes() == before
    assert "- FAILED: packed @ w + b == numpy (all records)" in out
    assert "CORRECTNESS CHECK FAILED" in out
    assert "- packing: packed @ w + b == numpy (all records) (" in out
    assert f"{report} left unchanged" in out
    assert f"wrote {report}" not in out


def test_write_waits_for_every_check_of_every_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _result("Core", 0.5)
    bad = bench.SectionResult("service", "Service",
                              checks=[bench.Check("fine", True), bench.Check("scores", False,
                                                                             "3 of 8 wrong")])
    report = tmp_path / "perf.md"
    before = "# Performance\n\n<!-- bench:core:begin -->\nold core\n<!-- bench:core:end -->\n"
    report.write_text(before, encoding="utf-8")
    results = [good, bad]
    monkeypatch.setattr("hecrypt.bench.runner.run_benchmark", lambda args: results)
    assert bench.run(_args("--write", str(report))) == 1
    out = capsys.readouterr().out
    assert report.read_text(encoding="utf-8") == before
    assert "- service: scores (3 of 8 wrong)" in out and "fine" not in out.split("FAILED")[-1]
    assert bench.failed_checks(results) == ["service: scores (3 of 8 wrong)"]

    results = [good]  # every check passed: the core block is replaced
    assert bench.run(_args("--write", str(report))) == 0
    text = report.read_text(encoding="utf-8")
    assert "old core" not in text and "## Core" in text
    assert f"wrote {report}" in capsys.readouterr().out


def _encrypt_row(target: float, **kw: object) -> bench.Row:
    fields: dict[str, object] = {
        "cores": 2, "one_core_seconds": 0.4, "samples": (0.19, 0.2, 0.26),
        "one_core_samples": (0.38, 0.4, 0.5), "baseline_samples": (9.0, 10.0, 10.5)}
    fields.update(kw)
    return bench.Row("throughput", "Encrypt", 0.2, "phe", 10.0, "speedup", target,
                     **fields)  # type: ignore[arg-type]


def test_per_core_and_machine_ratios_with_their_spread_over_repeats() -> None:
    row = _encrypt_row(40.0)
    assert row.ratio == pytest.approx(50.0) and row.core_ratio == pytest.approx(25.0)
    assert row.spread == (0.19, 0.26)  # hecrypt's fastest and slowest repeat
    rng = row.ratio_range()
    assert rng is not None and rng.paired and rng.repeats == 3
    assert (rng.low, rng.high) == pytest.approx((10.5 / 0.26, 10.0 / 0.2))
    assert row.passed is True and row.within_noise is False  # every repeat >= 40x

    noisy = _encrypt_row(45.0)  # the median passes, the slowest repeat (40.4x) does not
    assert noisy.passed is True and noisy.within_noise is True
    assert _encrypt_row(60.0).passed is False and _encrypt_row(60.0).within_noise is False

    per_core = _encrypt_row(20.0, target_on="core")
    assert per_core.target_ratio == pytest.approx(25.0) and per_core.passed is True
    core_rng = per_core.ratio_range()
    assert core_rng is not None
    assert (core_rng.low, core_rng.high) == pytest.approx((10.5 / 0.5, 10.0 / 0.4))
    assert per_core.ratio_range("machine") == rng

    # lower is better: 1.1x, 1.2x and 1.4x the time against a 1.3x target
    over = bench.Row("throughput", "add", 1.2, "raw", 1.0, "overhead", 1.3,
                     samples=(1.1, 1.2, 1.4), baseline_samples=(1.0, 1.0, 1.0))
    assert over.core_ratio == over.ratio == pytest.approx(1.2)  # one core anyway
    assert over.passed is True and over.within_noise is True

    # sides timed a different number of times: the extremes are combined
    unpaired = _encrypt_row(40.0, baseline_samples=(10.0,))
    rng = unpaired.ratio_range()
    assert rng is not None and not rng.paired
    assert (rng.low, rng.high) == pytest.approx((10.0 / 0.26, 10.0 / 0.19))

    # no one-core figure for a row that used two cores: no per-core ratio
    two = bench.Row("throughput", "x", 0.2, "phe", 10.0, "speedup", 1.0, cores=2)
    assert two.core_ratio is None and two.ratio_range("core") is None
    with pytest.raises(ValueError):
        bench.Row("throughput", "x", 1.0, target_on="socket")


def test_the_median_ratio_lies_inside_the_spread() -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    for reps in (2, 3, 4, 5):
        for _ in range(50):
            mine = rng.uniform(0.5, 2.0, size=reps)
            base = rng.uniform(5.0, 20.0, size=reps)
            row = bench.Row("throughput", "x", float(np.median(mine)), "phe",
                            float(np.median(base)), "speedup", 10.0,
                            samples=tuple(mine), baseline_samples=tuple(base))
            spread = row.ratio_range()
            assert spread is not None and row.ratio is not None
            assert spread.low - 1e-12 <= row.ratio <= spread.high + 1e-12


def test_table_shows_both_ratios_core_counts_and_the_spread_next_to_the_verdict() -> None:
    rows = [
        _encrypt_row(40.0),
        bench.Row("throughput", "add", 1.2, "raw", 1.0, "overhead", 1.3,
                  samples=(1.1, 1.2, 1.4), baseline_samples=(1.0, 1.0, 1.0)),
        bench.Row("latency", "one value", 0.001, "phe", 0.01, "speedup"),
        bench.Row("size", "bytes", 15.0, "budget", 16.0, "overhead", 1.0, unit="B"),
    ]
    text = bench.format_markdown(bench.SectionResult("core", "Core", rows=rows))
    lines = text.splitlines()
    enc = next(x for x in lines if x.startswith("| Encrypt |"))
    assert enc == ("| Encrypt | 200 ms (2 cores) | 190 ms - 260 ms | 400 ms (380 ms - 500 ms) "
                   "| phe | 10.00 s | 25.0x faster (1 vs 1) | 50.0x faster (2 vs 1) "
                   "| ≥ 40x machine | **PASS** (40.4x-50.0x over 3 repeats) |")
    add = next(x for x in lines if x.startswith("| add |"))
    assert add.endswith("| 1.20x the time (1 vs 1) | 1.20x the time (1 vs 1) | ≤ 1.3x "
                        "| **PASS** (within noise; 1.10x-1.40x over 3 repeats) |")
    assert "| same |" in add  # one core anyway: no second figure
    single = next(x for x in lines if x.startswith("| one value |"))
    assert single.endswith("| 10.0x faster (1 vs 1) | 10.0x faster (1 vs 1) | — | — |")
    assert "| bytes | 15 B | budget | 16 B | 0.94x the size | ≤ 1x | **PASS** |" in lines
    assert "**Targets: 3 of 3 met (1 within noise).**" in lines
    assert ("- PASS: Encrypt vs phe: machine 50.0x faster (2 vs 1 cores), per core 25.0x "
            "faster (1 vs 1); 40.4x-50.0x over 3 repeats (target ≥ 40x machine)") in lines
    assert ("- PASS (within noise): add vs raw: 1.20x the time; 1.10x-1.40x over 3 repeats "
            "(target ≤ 1.3x)") in lines
    one = bench.format_markdown(bench.SectionResult("core", "Core", rows=[
        _encrypt_row(60.0, samples=(0.2,), one_core_samples=(0.4,), baseline_samples=(10.0,))]))
    assert "**MISS** (50.0x-50.0x, 1 repeat: no spread)" in one


def test_core_section_times_one_core_next_to_a_process_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing
    from concurrent.futures import Executor, ProcessPoolExecutor

    from hecrypt.bench.measure import executor_cores
    from hecrypt.paillier import parallel

    ctx = multiprocessing.get_context(parallel._start_method())
    pool = ProcessPoolExecutor(max_workers=2, mp_context=ctx)

    def pool_by_default(executor: Executor | None, total: int) -> Executor:
        return pool if executor is None else executor

    monkeypatch.setattr(parallel, "resolve_executor", pool_by_default)
    try:
        (result,) = bench.run_benchmark(_args("--sections", "core", "--repeats", "2"))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert [(c.name, c.detail) for c in result.checks if not c.ok] == []
    names = [c.name for c in result.checks]
    assert "key-owner batch encrypt, one core -> decrypt_batch, one core" in names
    assert "public-key randomness (all repeats, both executors)" in names
    cores = executor_cores(pool)
    batch_rows = [r for r in result.rows if r.group == "throughput" and r.target is not None
                  and r.kind == "speedup"]
    assert [r.operation.split(" (")[0] for r in batch_rows] == [
        "Encrypt, key owner", "Encrypt, key owner, key made by phe", "Encrypt, public key",
        "Decrypt"]
    for row in batch_rows:
        assert row.cores == cores and row.target_on == "machine"
        assert row.one_core_seconds is not None and row.core_ratio is not None
        assert len(row.samples) == len(row.one_core_samples) == len(row.baseline_samples) == 2
    public = batch_rows[2]
    assert "DJN randomness" in public.operation and "full r^n" in public.baseline
    assert "hs^alpha" in public.note and "DCR only" in public.note
    text = bench.format_markdown(result)
    assert f"({cores} vs 1) |" in text and "| ≥ 50x machine |" in text
    assert "*per core* ratio compares hecrypt on one core" in text
