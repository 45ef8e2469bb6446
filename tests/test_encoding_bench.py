"""`nbskit bench encode` runs end to end on a tiny shape and writes its table as JSON."""

from __future__ import annotations

import json

from nbskit.cli import main
from nbskit.encoding import HashGridConfig


def test_bench_encode_writes_rows_and_machine_description(tmp_path, capsys):
    out = tmp_path / "encode.json"
    argv = [
        "bench",
        "encode",
        "--samples",
        "512",
        "-K",
        "2",
        "--warmup",
        "0",
        "--repeats",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv + ["--backends", "torch", "--devices", "cpu"]) == 0
    result = json.loads(out.read_text())
    assert result["benchmark"] == "encode"
    assert result["machine"]["cpu_cores"] >= 1 and result["machine"]["torch_version"]
    rows = result["rows"]
    assert {(row["operation"], row["pass"]) for row in rows} == {
        (operation, pass_name)
        for operation in ("blend+encode", "encode")
        for pass_name in ("forward", "forward+backward")
    }
    for row in rows:
        assert row["backend"] == "torch" and row["speedup_vs_torch"] == 1.0
        assert row["msamples_per_s"] == 512 / row["median_s"] / 1e6
        assert len(row["all_s"]) == 2
    assert "M samples/s" in capsys.readouterr().out


def test_bench_without_a_name_lists_what_exists(capsys):
    assert main(["bench"]) == 2
    assert "encode" in capsys.readouterr().err


def test_bench_step_times_dense_and_row_sparse_adam(tmp_path):
    out = tmp_path / "step.json"
    argv = [
        "bench",
        "step",
        "--samples",
        "64",
        "-K",
        "2",
        "--warmup",
        "0",
        "--repeats",
        "1",
        "--out",
        str(out),
    ]
    assert main(argv + ["--backends", "torch", "--devices", "cpu"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [row["optimizer"] for row in rows] == ["adam", "sparse-adam"]
    most_rows = 64 * 8 * HashGridConfig().levels  # samples x corners x levels, the same rows in every table
    for row in rows:
        assert 0 < row["rows_touched_percent"] <= 100 * most_rows / HashGridConfig().total_entries
        assert row["step"] >= row["optimizer_ms"] > 0 and row["step_cpu"] > 0
