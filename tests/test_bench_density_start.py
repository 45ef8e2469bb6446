"""bench.density_start: probes the raw density of a run as it trains, without writing a run folder."""

from __future__ import annotations

import argparse
import json

from bench import density_start
from nbskit.model.config import DecoderConfig


def test_density_probe_follows_training_and_writes_its_rows(tmp_path):
    from nbskit.data.synthetic import synthesize_subject

    subject = synthesize_subject(tmp_path / "tiny", "tiny", seed=0, progress=False)
    parser = argparse.ArgumentParser()
    density_start.add_arguments(parser)
    args = parser.parse_args([str(subject), "--preset", "cpu-smoke", "--steps", "3", "0", "--set",
                              "perceptual_weight=0", "--out", str(tmp_path / "density.json")])
    assert density_start.run(args) == 0
    written = json.loads((tmp_path / "density.json").read_text())
    assert 0 < written["head_share"] < 1
    rows = written["rows"]
    assert [row["step"] for row in rows] == [0, 3]
    for row in rows:
        low, middle, high = row["raw_density_quantiles"].values()
        assert low <= middle <= high and 0 <= row["active_hidden"] <= 1 and 0 <= row["occupied"] <= 1
    start = rows[0]["raw_density_quantiles"]["0.5"]
    assert abs(start - DecoderConfig().density_bias) < 0.5  # the faint fog the field starts as
    assert rows[1]["raw_density_quantiles"] != rows[0]["raw_density_quantiles"]  # training moved it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["density.json", "tiny"]  # no run folder written
