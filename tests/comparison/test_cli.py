"""``hecrypt compare`` on the command line: formats, exit codes."""

from __future__ import annotations

import csv
import io
import json

import pytest

from hecrypt.__main__ import main
from hecrypt.comparison import he_parties

ARGS = ["compare", "--techniques", "he-packed,dealer", "--features", "3", "--batch", "2"]


def test_json_output(capsys) -> None:
    assert main([*ARGS, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    packed = data["results"][0]
    assert packed["technique"] == "he-packed" and packed["status"] == "ok"
    assert packed["parties"]["client"]["bytes_sent"] > 0
    assert set(packed["projected_s"]) == {"lan", "wan"}
    assert data["results"][1]["technique"] == "dealer"


def test_csv_and_plot(capsys, tmp_path) -> None:
    png = tmp_path / "c.png"
    assert main([*ARGS, "--csv", "--network", "sat=10Mbit,300ms", "--plot", str(png)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    total = next(r for r in rows if r["technique"] == "he-packed" and r["party"] == "total")
    assert float(total["projected_sat_s"]) > 4 * 0.3  # four one-way hops of 300 ms
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_table_is_the_default_and_a_wrong_technique_exits_1(capsys, monkeypatch) -> None:
    real = he_parties.programs

    def sabotaged(technique, *, model_json, **kw):
        model = json.loads(model_json)
        model["coef"] = [[-v for v in row] for row in model["coef"]]
        return real(technique, model_json=json.dumps(model), **kw)

    monkeypatch.setattr(he_parties, "programs", sabotaged)
    assert main(ARGS) == 1
    out = capsys.readouterr()
    assert "he-packed" in out.out and "FAILED" in out.out
    assert "FAILED" in out.err


@pytest.mark.parametrize("bad", [["--techniques", "gc"], ["--sweep", "depth=1,2"],
                                 ["--network", "x=fast,1ms"]])
def test_usage_errors(bad, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compare", *bad]) if bad[0] == "--sweep" else _run(bad)
    assert info.value.code in (1, 2)


def _run(bad: list[str]) -> None:
    raise SystemExit(main(["compare", "--features", "2", "--batch", "1", *bad]))
