"""Value recipes (issue 14 part 3): the ranking loss, the fine-tune that uses values, and `placeq finetune --values`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cli import build_parser
from placeq.errors import InputError
from placeq.labels import worst_quartile
from placeq.recipes import CHOICES, VALUE_RECIPES, choose
from training.checkpoint import load_checkpoint
from training.config import VALUE_RECIPES as VALUE_CONFIGS
from training.config import finetune_recipe, values_config
from training.fit import predict_logits, seed_everything
from training.nets import build
from training.pair_loss import ordered_pairs, pairwise_ranking_loss
from training.pipeline import Options, all_rows, fit_model
from training.ranking import pair_accuracy, scope_modules, score_targets
from training.synthetic import synthetic_task

SHIPPED = Path(__file__).resolve().parents[2] / "service" / "assets" / "base_model"


def test_ranking_loss_orders_a_toy_pair_and_pushes_the_worse_layout_up() -> None:
    worse, better = (torch.from_numpy(a) for a in ordered_pairs(np.array([2.0, 1.0])))
    assert (int(worse), int(better)) == (0, 1)  # layout 0 has the larger badness: it is the worse one
    right = pairwise_ranking_loss(torch.tensor([3.0, -3.0]), worse, better)
    wrong = pairwise_ranking_loss(torch.tensor([-3.0, 3.0]), worse, better)
    assert right < 0.01 < 5.0 < wrong
    logits = torch.zeros(2, requires_grad=True)
    pairwise_ranking_loss(logits, worse, better).backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None
    assert logits.grad[0] < 0 < logits.grad[1]  # descent raises the worse layout's logit, lowers the better one's


def test_sixteen_distinct_values_give_120_pairs_and_ties_or_nan_give_none() -> None:
    assert len(ordered_pairs(np.arange(16.0))[0]) == 120
    worse, better = ordered_pairs(np.array([1.0, 1.0, np.nan, 0.0]))
    assert sorted(zip(worse.tolist(), better.tolist(), strict=True)) == [(0, 3), (1, 3)]
    assert pair_accuracy(np.array([3.0, 2.0, 1.0]), np.array([3.0, 2.0, 1.0])) == 1.0
    assert pair_accuracy(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == 0.0
    assert pair_accuracy(np.zeros(3), np.array([3.0, 2.0, 1.0])) == 0.5


def test_score_targets_follow_the_rank_with_zero_on_the_worst_quartiles_edge() -> None:
    t = score_targets(np.array([5.0, 1.0, 3.0, 7.0, 3.0, 2.0, 8.0, 0.5]))
    assert t.dtype == np.float32 and np.isfinite(t).all()
    assert np.argsort(t, kind="stable").tolist()[-2:] == [3, 6]  # the two largest values score highest
    assert t[2] == t[4]  # tied values share their rank
    assert (t > 0).sum() == 2 and (t[[3, 6]] > 0).all()  # the worst quarter (2 of 8) lies above 0
    assert score_targets(np.arange(4.0)) == pytest.approx(-score_targets(-np.arange(4.0)) - 2 * np.log(3))


def test_value_recipes_need_values_and_label_recipes_are_unchanged() -> None:
    assert set(VALUE_RECIPES) <= set(CHOICES) and tuple(VALUE_CONFIGS) == VALUE_RECIPES
    for name in VALUE_RECIPES:
        with pytest.raises(InputError, match="values"):
            choose(16, name)
        assert choose(16, name, values=True) == name and values_config(name) is not None
    assert finetune_recipe(16) == finetune_recipe(16, values=False)
    assert finetune_recipe(16)[0] == "gentle" and finetune_recipe(100, values=True)[0] == "full"
    assert values_config("gentle") is None and values_config("full") is None


def test_last_block_scope_is_the_last_convolution_onward_plus_the_head() -> None:
    model = build("fast3d")
    head = {id(p) for p in model.classifier.parameters()}
    last = {id(p) for m in scope_modules(model, "last_block") for p in m.parameters()}
    assert head < last < {id(p) for p in model.parameters()}
    assert {id(p) for m in scope_modules(model, "head") for p in m.parameters()} == head


def _tiny() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, _ = synthetic_task(16, seed=3)
    values = np.random.default_rng(3).normal(size=16)  # any order: the head can learn 16 layouts' order
    return x, values, worst_quartile(values, "offset").astype(np.int64)


@pytest.mark.slow
@pytest.mark.parametrize(("recipe", "lr", "gain"), [("rank_last", None, 0.2), ("rank_bag", 1e-2, 0.05),
                                                     ("score_last", None, 0.2)])
def test_values_fine_tune_runs_end_to_end_and_learns_the_training_order(recipe: str, lr: float | None,
                                                                        gain: float) -> None:
    """From the shipped base, 16 layouts whose values order them at random: the fine-tuned logit orders the
    120 training pairs better than the base did (far better where the last block trains; rank_bag moves only the
    head, pulled back to the base by L2-SP: +0.07 from the corpus-pretrained base), and the layers outside the
    recipe's scope do not move."""
    x, values, y = _tiny()
    base = load_checkpoint(SHIPPED).model
    before = pair_accuracy(predict_logits(base, x), np.abs(values))
    model = copy.deepcopy(base)
    options = Options(epochs=40, lr=lr, seed=0, threads=1, device="cpu", recipe=recipe)  # type: ignore[arg-type]
    fitted = fit_model(model, x, y, all_rows(16), options, finetune=True, values=values, metric="offset")
    after = pair_accuracy(predict_logits(model, x), np.abs(values))
    assert fitted.recipe == recipe and fitted.values_config is not None
    assert fitted.metrics["train_pair_accuracy"] == pytest.approx(after)
    assert after > before + gain
    frozen = [n for n, _ in base.named_parameters() if n.startswith("front.")]
    assert frozen and all(torch.equal(dict(base.named_parameters())[n], dict(model.named_parameters())[n])
                          for n in frozen)


def test_label_recipes_ignore_values() -> None:
    x, values, y = _tiny()
    seed_everything(0)
    base = build("fast3d")
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    options = Options(epochs=2, seed=0, threads=1, device="cpu", recipe="gentle", score_train=False)
    fit_model(a, x, y, all_rows(16), options, finetune=True)
    fit_model(b, x, y, all_rows(16), options, finetune=True, values=values)
    assert np.array_equal(predict_logits(a, x), predict_logits(b, x))


@pytest.mark.slow
def test_cli_finetune_takes_values_and_relabels_by_the_training_layouts_own_quartile(tmp_path: Path) -> None:
    x, values, _ = _tiny()
    np.save(tmp_path / "x.npy", x)
    rows = ["index,value,status,metric"] + [f"{i},{float(v)!r},ok,offset" for i, v in enumerate(values)]
    (tmp_path / "values.csv").write_text("\n".join(rows) + "\n")
    parser = build_parser()
    common = ["finetune", "--base", str(SHIPPED), "--design", "toy", "--data", str(tmp_path / "x.npy")]
    with pytest.raises(SystemExit):  # one of --labels / --values, not both
        parser.parse_args([*common, "--labels", "y.npy", "--values", "v.csv", "-o", "m"])
    with pytest.raises(SystemExit):
        parser.parse_args([*common, "-o", "m"])
    args = parser.parse_args([*common, "--values", str(tmp_path / "values.csv"), "--shots", "16", "--test-frac",
                              "0", "--val-frac", "0", "--epochs", "2", "--recipe", "rank_head", "--threads", "1",
                              "-o", str(tmp_path / "model")])
    assert args.handler(args) == 0
    summary = json.loads((tmp_path / "model" / "model.json").read_text())
    extra = summary["extra"]
    assert extra["recipe"] == "rank_head" and extra["values"] == str(tmp_path / "values.csv")
    assert extra["critical_value"] == pytest.approx(np.quantile(np.abs(values), 0.75))
    assert extra["values_config"]["scope"] == "head"


@pytest.mark.slow
def test_fine_tune_job_hands_its_values_to_a_value_recipe(tmp_path: Path) -> None:
    """POST /finetune's job: values reach the rank recipes; 0/1 labels with a rank recipe fail with the reason."""
    from model_store import BASE_DESIGN, JobState, ModelStore, publish_model_dir, upgrade
    from placeq.circuits import load_design
    from service.settings import Settings
    from service.workers.runner import run_job
    from training.placer.config import PlacerConfig
    from training.placer.space import generate_space

    url = f"sqlite:///{tmp_path / 'placeq.db'}"
    upgrade(url)
    store = ModelStore(url, tmp_path / "blobs")
    publish_model_dir(store, SHIPPED, design=BASE_DESIGN, created_by="test", activate=True)
    batch, _ = generate_space(load_design("ota1"), count=16, seed=1, config=PlacerConfig(workers=1))
    rows = [p.model_dump(mode="json") for p in batch.placements()]
    values = np.random.default_rng(2).normal(0, 1e-3, size=16).tolist()
    settings = Settings(home=tmp_path, database_url=url, blob_root=tmp_path / "blobs")
    job = store.create_job("finetune", "ota1", {"placements": rows, "values": values, "epochs": 2,
                                                "recipe": "rank_head"})
    done = run_job(store, job.id, settings=settings)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.result is not None and done.result["recipe"] == "rank_head"
    labels = [1, 0, 0, 0] * 4
    job = store.create_job("finetune", "ota1", {"placements": rows, "labels": labels, "recipe": "rank"})
    failed = run_job(store, job.id, settings=settings)
    assert failed.state == JobState.FAILED and "values" in (failed.error or "")
