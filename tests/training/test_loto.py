"""Leave-one-topology-out (training/loto.py), the streaming corpus (training/corpus.py) and the GBM baseline
(training/gbm.py), on real small data: three generated OTAs placed by `placeq place` and labelled by ngspice
through `placeq simulate` (48 placements each)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cli import main
from placeq.errors import InputError
from placeq.features import rasterize_batch
from placeq.generate import candidate
from placeq.labels import worst_quartile
from training.corpus import CorpusFeatures, DesignSource, build_corpus, load_design_space
from training.dataset import read_batch
from training.experiments import DesignData
from training.feed import read_values, to_float16
from training.fit import seed_everything
from training.gbm import FEATURE_NAMES, GbmBaseline, placement_features
from training.heuristics import false_omission_rate, pair_distance
from training.loto import LotoConfig, discover, family_of, fewshot_draws, merge, plan
from training.loto_compare import compare_runs
from training.nets import build
from training.pipeline import Options, fit_model

N = 48
# Candidates 1, 3 (simple first stage, fully differential) and 5 (telescopic, fully differential) of seed 0.
CANDIDATES = (1, 3, 5)
TINY = {"body_channels": (8, 16, 16), "dense": (16,)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus folder laid out as docs/corpus.md makes it: designs/, spaces/, labels/."""
    root = tmp_path_factory.mktemp("corpus")
    for sub in ("designs", "spaces", "labels"):
        (root / sub).mkdir()
    for i in CANDIDATES:
        c = candidate(0, i).circuit
        circuit = root / "designs" / f"{c.name}.json"
        circuit.write_text(c.model_dump_json())
        space, labels = root / "spaces" / f"{c.name}.parquet", root / "labels" / f"{c.name}.labels.parquet"
        assert main(["place", "--design", str(circuit), "--count", str(N), "--seed", "0", "--workers", "1",
                     "--no-progress", "-o", str(space)]) == 0
        assert main(["simulate", "--design", str(circuit), str(space), "--jobs", "1", "--no-progress",
                     "-o", str(labels)]) == 0
    return root


def test_family_of_reads_the_block_choices_from_the_name() -> None:
    name = "gen_fc_nmos_fd_cmfbR_2st_014"
    assert family_of(name) == "fc_fd"
    assert family_of(name, "stage") == "fc"
    assert family_of(name, "topology") == "fc_nmos_fd_cmfbR_2st"
    assert family_of("gen_sim_pmos_fd_resload_cmfbT_2st_037") == "sim_fd"
    assert family_of("gen_sim_pmos_fd_resload_cmfbT_2st_037", "topology") == "sim_pmos_fd_resload_cmfbT_2st"
    assert family_of("gen_tel_nmos_se_1st_000") == "tel_se"
    assert family_of("ota1") == "ota1" and family_of("my_ota", "stage") == "my_ota"  # not generated: its own
    with pytest.raises(Exception, match="family key"):
        family_of(name, "pair")


def test_plan_holds_every_family_out_once_and_never_pretrains_on_it() -> None:
    names = ["gen_fc_nmos_fd_cmfbR_2st_014", "gen_fc_pmos_fd_cmfbT_1st_020", "gen_sim_nmos_fd_cmfbR_2st_001",
             "gen_tel_pmos_se_2st_002", "gen_tel_nmos_se_1st_000", "ota1"]
    sources = [DesignSource(n, Path(f"{n}.parquet"), Path(f"{n}.labels.parquet"), n) for n in names]
    folds = plan(sources, LotoConfig())
    assert [f for f, _, _ in folds] == ["fc_fd", "sim_fd", "tel_se"]  # built-ins are pretraining data only
    for fam, held, pre in folds:
        assert {family_of(s.name) for s in held} == {fam}
        assert fam not in {family_of(s.name) for s in pre}
        assert {s.name for s in held} | {s.name for s in pre} == set(names)
        assert "ota1" in {s.name for s in pre}
    with pytest.raises(Exception, match="no design of family"):
        plan(sources, LotoConfig(families=("fc_se",)))


@pytest.mark.ngspice
def test_streaming_corpus_gives_the_in_memory_tensors(corpus: Path, tmp_path: Path) -> None:
    sources = discover(corpus)
    assert [s.name for s in sources] == sorted(candidate(0, i).circuit.name for i in CANDIDATES)
    lazy = [load_design_space(s, limit=40, seed=1) for s in sources]
    dense = [rasterize_batch(read_batch(s.placements))[d.rows] for s, d in zip(sources, lazy, strict=True)]
    whole = np.concatenate(dense)
    x = CorpusFeatures([d.x for d in lazy])
    assert x.shape == whole.shape == (120, 18, 64, 64)
    idx = np.random.default_rng(0).permutation(len(x))[:50]  # unsorted, across all three designs
    np.testing.assert_array_equal(x[idx], whole[idx])
    for s, d in zip(sources, lazy, strict=True):  # each design labelled by its own worst quartile
        values, metric = read_values(s.labels)
        np.testing.assert_array_equal(d.y, worst_quartile(values[d.rows], metric))

    cached = [load_design_space(s, limit=40, seed=1, cache_dir=tmp_path) for s in sources]
    assert all(isinstance(d.x, np.memmap) for d in cached)
    np.testing.assert_array_equal(CorpusFeatures([d.x for d in cached])[idx], to_float16(whole[idx]).astype(np.float32))
    again = load_design_space(sources[0], limit=40, seed=1, cache_dir=tmp_path)  # read back, not rewritten
    assert isinstance(again.x, np.memmap) and again.x.filename == cached[0].x.filename

    # The pipeline's fit path trains on the stream exactly as on the array in memory.
    corpus_ = build_corpus(lazy)
    split = {"train": np.flatnonzero(corpus_.y >= 0)[:96], "val": np.flatnonzero(corpus_.y >= 0)[96:]}
    options = Options(epochs=2, batch_size=16, balanced=True, threads=1, device="cpu", score_train=False)
    losses = []
    for features in (corpus_.x, whole):
        seed_everything(0)
        fitted = fit_model(build("fast3d", **TINY), features, corpus_.y, split, options, finetune=False)
        losses.append([(r.train_loss, r.val_loss) for r in fitted.result.history])
    assert losses[0] == losses[1]


@pytest.mark.ngspice
def test_copies_of_held_out_layouts_never_reach_pretraining(corpus: Path, tmp_path: Path) -> None:
    sources = discover(corpus)
    held = next(s for s in sources if family_of(s.name) == "tel_fd")
    # The same placements filed again under a name of another family: only the features can tell.
    alias = "gen_sim_nmos_fd_cmfbR_2st_099"
    for suffix, src in ((".parquet", held.placements), (".labels.parquet", held.labels)):
        shutil.copy(src, tmp_path / f"{alias}{suffix}")
    copy = DesignSource(alias, tmp_path / f"{alias}.parquet", tmp_path / f"{alias}.labels.parquet", held.circuit)
    fold = {f: (h, p) for f, h, p in plan([*sources, copy], LotoConfig())}["tel_fd"]
    assert [s.name for s in fold[0]] == [held.name] and alias in {s.name for s in fold[1]}
    held_d = load_design_space(held)
    pre = [load_design_space(s, limit=40, seed=2) for s in fold[1]]
    c = build_corpus(pre, exclude_digests=held_d.digests)
    from_alias = c.design_of == c.names().index(alias)
    assert (c.y[from_alias] == -1).all()  # every copy dropped
    assert (c.y[~from_alias] >= 0).all()  # nothing else
    assert not np.isin(c.digests[c.y >= 0], held_d.digests).any()


@pytest.mark.ngspice
def test_gbm_baseline_learns_a_separable_rule_and_fine_tunes(corpus: Path) -> None:
    """Labels by a rule the features express (the input pair's separation): the GBM must prune by it."""
    sources = discover(corpus)
    designs = [load_design_space(s) for s in sources]
    feats = np.concatenate([placement_features(d.batch, d.circuit) for d in designs])
    assert feats.shape == (3 * N, len(FEATURE_NAMES)) and np.isfinite(feats).all()
    rel = np.concatenate([pair_distance(d.batch, d.circuit) / placement_features(d.batch, d.circuit)[:, 0]
                          for d in designs])
    y = np.concatenate([worst_quartile(r, "offset") for r in np.split(rel, 3)]).astype(np.int64)
    train = np.arange(len(y)) % 2 == 0
    gbm = GbmBaseline.fit(feats[train], y[train], seed=0)
    score = gbm.score(feats[~train])
    bad = y[~train] == 1
    assert false_omission_rate(score, bad) < 0.5 * bad.mean()  # random pruning keeps bad.mean()
    tuned = gbm.finetune(feats[train][:16], y[train][:16])
    assert tuned.score(feats[~train]).shape == (int((~train).sum()),)


@pytest.mark.ngspice
def test_tiny_loto_run_end_to_end(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "loto"
    assert main(["loto", "--corpus", str(corpus), "--families", "tel_fd", "--max-per-design", "48", "--val-frac", "0.2",
                 "--epochs", "1", "--repeats", "3", "--shots", "16", "--ft-epochs", "1", "--alpha-epochs", "1",
                 "--alphas", "0.25,0.02", "--ft-recipes", "gentle,rank_head", "--pair-weight", "1", "--threads", "1",
                 "-o", str(out)]) == 0
    result = json.loads((out / "loto.json").read_text())
    fam = result["families"]["tel_fd"]
    assert set(fam["designs"]) == {candidate(0, 5).circuit.name}
    assert not {family_of(n) for n in fam["pretrain"]["designs"]} & {"tel_fd"}
    assert 0 < fam["pretrain"]["rows"] <= 2 * N and fam["pretrain"]["dropped_copies_of_heldout"] == 0
    assert result["config"]["pair_weight"] == 1.0
    in_dist = fam["pretrain"]["val_for_25"]  # in distribution, beside held out: pooled and per design
    assert set(in_dist) == {f"{k}{s}" for k in ("random", "cnn", "gbm") for s in ("", "_per_design")}
    assert all(0 <= v <= 1 for v in in_dist.values())
    d = next(iter(fam["designs"].values()))
    assert len(d["fewshot"]) == 3 and len(d["alpha"]) == 2
    # alpha 0.02 of these few layouts trains on about one row, of one label: recorded as skipped, the run goes on
    assert "labels" in d["alpha"][1]["skipped"] and d["summary"]["alpha0.02_skipped"] == 1
    assert "cnn_alpha0.02" not in d["summary"] and fam["summary"]["alpha0.02_skipped"] == 1
    assert list(d["fewshot_recipes"]) == ["rank_head"] and len(d["fewshot_recipes"]["rank_head"]) == 3
    for row in d["fewshot"]:  # the GBM was fine-tuned on the very draws experiments.fewshot used
        assert row["for_random_check"] == row["for_random"]
        assert 0 <= row["for_gbm16_25"] <= 1 and 0 <= row["for_model_25"] <= 1
    s = d["summary"]
    for k in ("random", "hpwl", "pair_distance", "gbm", "cnn_base", "cnn_16", "gbm_16", "cnn_alpha0.25"):
        assert 0 <= s[k] <= 1, k
    table = (out / "loto.md").read_text()
    assert "| tel_fd |" in table and "CNN 16-shot median" in table
    assert "| held out | gentle | rank_head |" in table  # the recipes compared on the same draws
    assert 0 <= s["cnn_16[rank_head]"] <= 1 and 0 <= s["cnn_16[rank_head]_beats_random"] <= 3
    assert (out / "loto.png").stat().st_size > 1000 and not (out / "loto.partial.json").exists()

    # Two runs compare draw by draw; a run against itself differs nowhere, runs of other seeds do not pair.
    assert main(["loto", "--compare", str(out / "loto.json"), str(out / "loto.json"), "-o", str(tmp_path / "cmp")]) == 0
    same = compare_runs(result, result)
    assert set(same) == {"tel_fd", "all"} and same["all"]["draws"] == 3
    pooled = same["all"]
    assert pooled["base_a"] == pooled["base_b"] and pooled["fs_b_better"] == pooled["fs_b_worse"] == 0
    assert "| tel_fd | 1 |" in (tmp_path / "cmp" / "compare.md").read_text()
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 1000
    with pytest.raises(InputError, match="seed"):
        compare_runs(result, {**result, "config": {**result["config"], "seed": 1}})

    # Runs of one config over different families merge into one table; a family in two runs is refused.
    other = {**result, "families": {"sim_fd": fam}}
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["loto", "--merge", str(out / "loto.json"), str(tmp_path / "other.json"), "-o",
                 str(tmp_path / "merged")]) == 0
    merged = json.loads((tmp_path / "merged" / "loto.json").read_text())
    assert list(merged["families"]) == ["tel_fd", "sim_fd"] and merged["overall"]["designs"] == 2
    with pytest.raises(InputError, match="more than one run"):
        merge([result, result])
    with pytest.raises(InputError, match="differ"):
        merge([result, {**other, "config": {**result["config"], "seed": 1}}])


@pytest.mark.ngspice
def test_fewshot_draws_are_those_of_experiments_fewshot(corpus: Path) -> None:
    d = load_design_space(discover(corpus)[0])
    data = DesignData(name=d.name, x=d.x, values=d.values, metric=d.metric, heuristics={}, groups=d.groups)
    te, picks = fewshot_draws(data, 16, 4, seed=0)
    assert len(picks) == 4 and all(len(p) == 16 and not np.isin(p, te).any() for p in picks)
    assert len({tuple(p) for p in picks}) == 4


@pytest.mark.ngspice
def test_pretrain_writes_a_model_directory_from_the_whole_corpus(corpus: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "base"
    assert main(["pretrain", "--corpus", str(corpus), "--max-per-design", "48", "--epochs", "1", "--val-frac", "0.2",
                 "--threads", "1", "--device", "cpu", "-o", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["designs"] == 3 and 0 < printed["layouts"] <= 3 * N
    assert set(printed["val_for_25"]) == {"random", "cnn", "random_per_design", "cnn_per_design"}
    summary = json.loads((out / "model.json").read_text())
    assert summary["design"] == "corpus" and (out / "model.onnx").is_file()
    assert summary["onnx"]["max_abs_diff_logit"] < 1e-3  # the export was checked against torch on real layouts

    # a leave-one-topology-out base: the held-out family is not trained on, and the model says so
    names = [s.name for s in discover(corpus)]
    held = family_of(names[0])
    out2 = tmp_path / "held"
    assert main(["pretrain", "--corpus", str(corpus), "--max-per-design", "48", "--epochs", "1", "--val-frac", "0.2",
                 "--threads", "1", "--device", "cpu", "--hold-out", held, "-o", str(out2)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["designs"] == sum(family_of(n) != held for n in names) < 3
    info = json.loads((out2 / "model.json").read_text())["extra"]["pretrain"]
    assert held not in {family_of(n) for n in info["designs"]} and info["loto_config"]["families"] == [held]
