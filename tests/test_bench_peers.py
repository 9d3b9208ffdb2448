"""bench_peers: the project's model, swift-f0 and Basic Pitch on a tiny set of tone clips and the corpus
test split; the one-voice reduction; missing peers and bad options."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from gru_attn import evaluate
from gru_attn.errors import InputError
from gru_attn.notes import NoteList, read_notes, write_notes
from gru_attn.transcribe import render_notes, write_wav

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_peers  # noqa: E402

SYSTEMS = ("gru_attn", "swift-f0", "basic-pitch", "basic-pitch-1voice")


def require_peers():
    pytest.importorskip("swift_f0", reason="swift-f0 is not installed: pip install swift-f0==0.3.0")
    pytest.importorskip(
        "basic_pitch.inference", reason="Basic Pitch is not installed: " + bench_peers.PEER_INSTALL["basic-pitch"]
    )


def test_one_voice_keeps_the_loudest_of_overlapping_notes():
    events = [
        (0.0, 1.0, 60, 0.5, None),
        (0.5, 1.5, 72, 0.9, None),
        (1.5, 2.0, 64, 0.1, None),
        (1.2, 1.4, 50, 0.2, None),
        (2.5, 3.0, 67, 0.05, None),
    ]
    kept = bench_peers.one_voice(events)
    assert [(e[0], e[1], e[2]) for e in kept] == [(0.5, 1.5, 72), (1.5, 2.0, 64), (2.5, 3.0, 67)]
    assert bench_peers.one_voice([]) == []


def test_missing_peer_names_the_pip_command():
    with pytest.raises(InputError, match=r"pip install swift-f0==0\.3\.0"):
        bench_peers.import_peer("swift_f0_is_not_here", "swift-f0")
    with pytest.raises(InputError, match=r"pip install --no-deps basic-pitch==0\.4\.0"):
        bench_peers.import_peer("basic_pitch_is_not_here", "basic-pitch")


def test_bad_options_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_peers, "PACKAGED_WEIGHTS", tmp_path / "no_weights")
    for argv, message in (
        (["--systems", "gru_attn,vocano"], "--systems"),
        (["--systems", "gru_attn", "--sets", "none"], "--ckpt: required"),
        (["--systems", "swift-f0", "--sets", "corpus,tracks"], "--sets"),
        (["--systems", "swift-f0", "--threads", "0"], "--threads"),
    ):
        if "swift-f0" in argv[1]:
            pytest.importorskip("swift_f0", reason="swift-f0 is not installed: pip install swift-f0==0.3.0")
        assert bench_peers.main([*argv, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err


@pytest.fixture(scope="module")
def tone_set(tmp_path_factory) -> Path:
    """Two 5.6 s clips of harmonic tones (notes of 0.25-0.5 s with 0.1-0.2 s gaps), one quiet, one loud,
    in the dev-set layout with a clips.csv naming their conditions."""
    root = tmp_path_factory.mktemp("sets") / "tones"
    rng = np.random.default_rng(0)
    for name, _cond, gain in (("q1", "quiet", 0.3), ("l1", "loud", 1.0)):
        t, rows = 0.3, []
        while t < 5.0:
            d = rng.uniform(0.25, 0.5)
            rows.append((t, t + d, int(rng.integers(55, 72))))
            t += d + rng.uniform(0.1, 0.2)
        notes = NoteList.from_rows(rows)
        write_notes(notes, root / "notes" / f"{name}.csv")
        write_wav(render_notes(notes, 5.6) * gain, root / "wav" / f"{name}.wav")
    (root / "clips.csv").write_text("name,cond,tempo\nq1,quiet,90\nl1,loud,120\n")
    return root


@pytest.fixture(scope="module")
def trained_ckpt(run_cli, tmp_path_factory) -> Path:
    """A fast_test training run's best checkpoint (low thresholds so the barely trained model finds notes)."""
    out = tmp_path_factory.mktemp("bench_peers_run")
    run_cli(
        [
            "-m",
            "gru_attn.train",
            "experiment=fast_test",
            "decode=peaks",
            "decode.onset_threshold=0.1",
            "decode.offset_threshold=0.1",
            f"hydra.run.dir={out}",
        ],
        check=True,
    )
    return out / "checkpoints" / "best.pt"


@pytest.mark.slow
def test_bench_peers_on_tones_and_corpus_test_split(trained_ckpt, tone_set, tmp_path, capsys):
    require_peers()
    out, md = tmp_path / "bench", tmp_path / "table.md"
    assert (
        bench_peers.main(
            [
                "--ckpt",
                str(trained_ckpt),
                "--sets",
                "corpus",
                "--set",
                str(tone_set),
                "--threads",
                "1",
                "--out",
                str(out),
                "--markdown",
                str(md),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    rows = {(r["set"], r["condition"], r["system"]): r for r in results["rows"]}

    # one row per set, condition (then all) and system, in that order
    groups = list(dict.fromkeys((r["set"], r["condition"]) for r in results["rows"]))
    assert [r["system"] for r in results["rows"]] == list(SYSTEMS) * len(groups)
    assert [g[0] for g in groups] == sorted([g[0] for g in groups])  # corpus-test, then tones
    assert [g[1] for g in groups if g[0] == "tones"] == ["quiet", "loud", "all"]
    assert {k[1] for k in rows if k[0] == "tones"} == {"quiet", "loud", "all"}
    assert {k[1] for k in rows if k[0] == "corpus-test"} <= {"voice", "accompanied", "all"}
    for system in SYSTEMS:
        for cond in ("quiet", "loud", "all"):
            row = rows[("tones", cond, system)]
            assert row["songs"] == (2 if cond == "all" else 1)
            assert 0 < row["rtf"] < 5 and row["audio_s"] == pytest.approx(5.6 * row["songs"], abs=0.01)
            assert all(0.0 <= row[k] <= 1.0 for k in ("COnPOff_f1", "COnP_f1", "COn_f1"))
        assert ("corpus-test", "all", system) in rows
    # clean tones: the pitch tracker and the one-voice transcriber find the notes at the right pitch
    assert rows[("tones", "all", "swift-f0")]["COnP_f1"] >= 0.9
    assert rows[("tones", "all", "basic-pitch-1voice")]["COnP_f1"] >= 0.9
    poly, mono = results["per_song"]["basic-pitch"]["tones"], results["per_song"]["basic-pitch-1voice"]["tones"]
    assert all(mono[s]["est_notes"] <= poly[s]["est_notes"] for s in ("q1", "l1"))

    # every system's notes rescore to the same numbers with evaluate --est-dir
    commands = (out / "rescore.sh").read_text().splitlines()
    assert len(commands) == 2 * len(SYSTEMS)
    for system in SYSTEMS:
        est_dir = out / "notes" / system / "tones"
        assert sorted(p.name for p in est_dir.iterdir()) == ["l1.csv", "q1.csv"]
        assert (
            len(read_notes(est_dir / "q1.csv", overlaps=True))
            == results["per_song"][system]["tones"]["q1"]["est_notes"]
        )
        assert (
            evaluate.main(
                [
                    "--est-dir",
                    str(est_dir),
                    "--notes-dir",
                    str(tone_set / "notes"),
                    "--out",
                    str(tmp_path / "rescore" / system),
                ]
            )
            == 0
        )
        report = json.loads((tmp_path / "rescore" / system / "metrics.json").read_text())
        for cond in ("quiet", "loud", "all"):
            for key in ("COnPOff_f1", "COnP_f1", "COn_f1"):
                assert report["conditions"][cond][key] == pytest.approx(rows[("tones", cond, system)][key]), (
                    system,
                    cond,
                    key,
                )
    corpus_cmd = next(c for c in commands if "/basic-pitch/corpus-test" in c)
    argv = corpus_cmd.split()[3:]
    assert evaluate.main([*argv[:-1], str(tmp_path / "rescore_corpus")]) == 0
    report = json.loads((tmp_path / "rescore_corpus" / "metrics.json").read_text())
    assert report["mean"]["COnP_f1"] == pytest.approx(rows[("corpus-test", "all", "basic-pitch")]["COnP_f1"])

    # the printed table and the markdown table hold every row
    assert md.read_text() == (out / "table.md").read_text()
    assert md.read_text().count("| tones |") == 3 * len(SYSTEMS)
    assert printed.count("basic-pitch-1voice") == len({(k[0], k[1]) for k in rows})


def test_merge_orders_rows_of_several_runs(tmp_path, capsys):
    def row(s, cond, system, f1):
        return {
            "set": s,
            "condition": cond,
            "songs": 1,
            "system": system,
            "COnPOff_f1": f1 / 2,
            "COnP_f1": f1,
            "COn_f1": f1,
            "rtf": 0.01,
        }

    peers = {
        "checkpoint": None,
        "threads": 1,
        "rows": [row("dev", "clean", "swift-f0", 0.7), row("dev", "all", "swift-f0", 0.6)],
    }
    model = {
        "checkpoint": "m.pt",
        "threads": 1,
        "rows": [
            row("dev", "clean", "gru_attn", 0.8),
            row("dev", "reverb", "gru_attn", 0.4),
            row("dev", "all", "gru_attn", 0.5),
        ],
    }
    (tmp_path / "a.json").write_text(json.dumps(peers))
    (tmp_path / "b.json").write_text(json.dumps(model))
    md = tmp_path / "t.md"
    assert bench_peers.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--markdown", str(md)]) == 0
    lines = [line for line in md.read_text().splitlines() if line.startswith("| dev")]
    assert [tuple(c.strip() for c in line.split("|")[2:5:2]) for line in lines] == [
        ("clean", "gru_attn"),
        ("clean", "swift-f0"),
        ("reverb", "gru_attn"),
        ("all", "gru_attn"),
        ("all", "swift-f0"),
    ]
    # the best F1 of each set and condition is bold: the model on clean, swift-f0 on all
    assert "**0.800**" in lines[0] and "**" not in lines[1]
    assert "**0.600**" in lines[4] and "**" not in lines[3]
    capsys.readouterr()
    assert bench_peers.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 2
    assert "more than one file" in capsys.readouterr().err
