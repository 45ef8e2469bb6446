"""`nbskit bench encode` runs end to end on a tiny shape and writes its table as JSON."""

from __future__ import annotations

import json

import pytest

from bench.common import run_script
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


def test_encode_spread_runs_fresh_processes_and_states_their_spread(tmp_path):
    from bench import encode_spread

    out = tmp_path / "spread.json"
    argv = ["--processes", "2", "--out", str(out), "--", "--devices", "cpu", "--backends", "torch", "--samples", "256",
            "-K", "2", "--repeats", "1", "--warmup", "0", "--threads", "1"]
    assert run_script(encode_spread.__doc__, encode_spread.add_arguments, encode_spread.run, argv) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 4  # 2 operations x 2 passes, each measured in both processes
    for row in rows:
        assert len(row["per_process_ms"]) == 2
        assert row["fastest_ms"] <= row["median_ms"] <= row["slowest_ms"]
        assert row["spread_percent"] == pytest.approx(100 * (row["slowest_ms"] - row["fastest_ms"]) / row["median_ms"])


def test_spread_leaves_out_a_case_that_failed_in_some_process():
    from bench.encode_spread import spread_rows

    case = {"device": "cpu", "backend": "cpu", "dtype": "float32", "operation": "encode", "pass": "forward"}
    rows = spread_rows([[{**case, "median_ms": 10.0}], [{**case, "median_ms": 12.0}], [{**case, "error": "x"}]])
    assert rows == []
    rows = spread_rows([[{**case, "median_ms": 10.0}], [{**case, "median_ms": 12.0}], [{**case, "median_ms": 11.0}]])
    assert rows[0]["median_ms"] == 11.0 and rows[0]["spread_percent"] == pytest.approx(100 * 2 / 11)
