"""Model loading, layer freezing, the frozen-prefix cache and the training callbacks' pure logic."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sentence_transformers.sentence_transformer.modules import Pooling

from banglasim.config.params import Params, load_params
from banglasim.core.errors import UserError
from banglasim.evaluation.evaluators import TRAINER_COSINE_KEY, TRAINER_SCORE_KEY
from banglasim.models.loading import freeze_all_but_last, load_model, transformer_layers
from banglasim.runs.checkpoints import (
    COMPLETE_MARKER,
    CheckpointMarker,
    completed_checkpoints,
    run_key,
    select_step,
)
from banglasim.training.callbacks import LiveMetrics, eval_steps, series_from_history
from banglasim.training.frozen_cache import FrozenPrefixCache
from banglasim.training.precision import resolve_precision

from conftest import REPO_ROOT

TEXTS = [
    "পদ্মা বাংলাদেশের প্রধান নদীগুলোর একটি",
    "পদ্মা নদী কোথায়?",
    "ঢাকা বাংলাদেশের রাজধানী এবং বৃহত্তম শহর। এটি বুড়িগঙ্গা নদীর তীরে অবস্থিত।",
    "রবীন্দ্রনাথ ঠাকুর",
    "সুন্দরবন পৃথিবীর বৃহত্তম ম্যানগ্রোভ বন, যা বাংলাদেশ ও ভারতে বিস্তৃত।",
    "কে?",
    "পদ্মা নদী কোথায়?",  # a repeat inside one call
]


@pytest.fixture
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def pooling_module(model) -> Pooling:
    return next(m for m in model if isinstance(m, Pooling))


# ---------------------------------------------------------------- load_model


def test_load_model_local_dir_sets_max_seq_length_and_pooling(tiny_model_dir):
    model = load_model(str(tiny_model_dir), max_seq_length=48, pooling="cls")
    assert model.max_seq_length == 48
    assert pooling_module(model).pooling_mode == "cls"
    assert model.encode(["পদ্মা নদী"]).shape == (1, 32)


def test_load_model_keeps_the_pooling_module_when_the_mode_is_unchanged(tiny_model_dir):
    plain = load_model(str(tiny_model_dir))
    same = load_model(str(tiny_model_dir), pooling="mean")
    assert type(pooling_module(same)) is type(pooling_module(plain))
    np.testing.assert_allclose(same.encode(TEXTS[:3]), plain.encode(TEXTS[:3]), atol=1e-6)
    cls = load_model(str(tiny_model_dir), pooling="cls")
    assert not np.allclose(cls.encode(TEXTS[:3]), plain.encode(TEXTS[:3]), atol=1e-3)  # the mode really changed


def test_load_model_max_seq_length_truncates_the_input(tiny_model_dir):
    long_text = " ".join(TEXTS * 4)
    for limit in (8, 20):
        model = load_model(str(tiny_model_dir), max_seq_length=limit)
        assert model.tokenize([long_text])["input_ids"].shape[1] == limit


@pytest.mark.parametrize("name", ["/no/such/model/folder", "./missing-model", "a/b/c",
                                  "nobody-here/no-such-model-in-the-cache"])
def test_load_model_missing_folder_is_a_user_error(name):
    with pytest.raises(UserError, match="model.name"):
        load_model(name)


def test_load_model_folder_without_a_model_is_a_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    with pytest.raises(UserError, match="model.name"):
        load_model(str(tmp_path))


# ---------------------------------------------------------------- freeze_all_but_last


@pytest.mark.parametrize("n", [1, 2, 4])
def test_freeze_all_but_last_leaves_exactly_the_last_n_layers_trainable(tiny, n):
    assert freeze_all_but_last(tiny, n) == (n, 4)
    layers = transformer_layers(tiny)
    for i, layer in enumerate(layers):
        flags = {p.requires_grad for p in layer.parameters()}
        assert flags == ({True} if i >= 4 - n else {False}), f"layer {i}"
    in_layers = {id(p) for layer in layers for p in layer.parameters()}
    outside = [name for name, p in tiny.named_parameters() if id(p) not in in_layers and p.requires_grad]
    assert outside == [], "embeddings, pooler and everything outside the layer stack must be frozen"


def test_freeze_more_layers_than_the_model_has_is_a_user_error(tiny):
    with pytest.raises(UserError, match=r"model\.trainable_layers") as exc:
        freeze_all_but_last(tiny, 5)
    assert "4" in str(exc.value)  # names the model's layer count


# ---------------------------------------------------------------- FrozenPrefixCache


def test_frozen_cache_supports_only_a_proper_frozen_prefix(tiny):
    auto = tiny[0].auto_model
    assert FrozenPrefixCache.supports(auto, 1)
    assert FrozenPrefixCache.supports(auto, 3)
    assert not FrozenPrefixCache.supports(auto, 4)  # nothing frozen: nothing to cache
    assert not FrozenPrefixCache.supports(auto, 0)


@pytest.mark.parametrize("trainable", [1, 2])
def test_frozen_cache_gives_the_same_embeddings_and_serves_repeats_from_the_store(tiny, trainable):
    tiny.eval()
    want = tiny.encode(TEXTS, batch_size=3, convert_to_numpy=True)
    auto = tiny[0].auto_model
    cache = FrozenPrefixCache(auto, trainable)
    probe = tiny[0].preprocess(TEXTS[:4])
    probe = {k: v for k, v in probe.items() if isinstance(v, torch.Tensor)}
    assert cache.install(probe)
    assert cache.store == {}, "the probe leaves nothing behind"
    try:
        misses0 = cache.misses
        got = tiny.encode(TEXTS, batch_size=3, convert_to_numpy=True)
        np.testing.assert_allclose(got, want, atol=1e-5)
        hits, misses = cache.hits, cache.misses
        assert misses - misses0 == len(set(TEXTS)), "each distinct text runs the frozen layers once"
        assert len(cache.store) == len(set(TEXTS))
        # Same texts again, batched differently (other padding widths): all from the store.
        again = tiny.encode(TEXTS[::-1], batch_size=2, convert_to_numpy=True)
        np.testing.assert_allclose(again, want[::-1], atol=1e-5)
        assert cache.hits > hits
        assert cache.misses == misses
        assert cache.nbytes > 0
    finally:
        cache.uninstall()
    assert "forward" not in auto.__dict__
    np.testing.assert_allclose(tiny.encode(TEXTS, batch_size=3, convert_to_numpy=True), want, atol=1e-6)


def test_frozen_cache_trainable_layers_get_gradients_frozen_ones_do_not(tiny):
    auto = tiny[0].auto_model
    freeze_all_but_last(tiny, 2)
    cache = FrozenPrefixCache(auto, 2)
    assert cache.install()
    try:
        tiny.train()
        features = tiny[0].preprocess(TEXTS[:3])
        features = {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}
        out = tiny(features)["sentence_embedding"]
        out.pow(2).sum().backward()
        layers = transformer_layers(tiny)
        assert all(p.grad is not None for p in layers[3].parameters())
        assert all(p.grad is None for p in layers[0].parameters())
    finally:
        cache.uninstall()


# ---------------------------------------------------------------- eval_steps


def test_eval_steps_half_epochs():
    assert eval_steps(563, 1, 2) == [282, 563]
    assert eval_steps(27, 1, 2) == [14, 27]


def test_eval_steps_two_epochs_and_three_evals():
    assert eval_steps(100, 2, 2) == [25, 50, 75, 100]
    assert eval_steps(30, 1, 3) == [10, 20, 30]
    assert eval_steps(20, 2, 3) == [4, 7, 10, 14, 17, 20]
    assert eval_steps(27, 1, 4) == [7, 14, 21, 27]


def test_eval_steps_more_evals_than_steps_never_repeats_a_step():
    assert eval_steps(2, 1, 4) == [1, 2]
    assert eval_steps(1, 1, 2) == [1]


@given(per_epoch=st.integers(1, 400), epochs=st.integers(1, 4), evals=st.integers(1, 6))
def test_eval_steps_properties(per_epoch, epochs, evals):
    max_steps = per_epoch * epochs
    steps = eval_steps(max_steps, epochs, evals)
    assert steps == sorted(set(steps))
    assert all(0 < s <= max_steps for s in steps)
    assert steps[-1] == max_steps
    for e in range(1, epochs + 1):  # every epoch ends with an evaluation
        assert e * per_epoch in steps
    assert len(steps) == epochs * min(evals, per_epoch)


# ---------------------------------------------------------------- series_from_history / select_step


def eval_entry(step: int, epoch: float, score: float, cosine: float) -> dict:
    return {TRAINER_SCORE_KEY: score, TRAINER_COSINE_KEY: cosine, "eval_val_pearson_cosine": score, "epoch": epoch,
            "step": step}


HISTORY = [
    eval_entry(0, 0, 0.20, 0.98),
    {"loss": 2.02, "grad_norm": 0.2, "learning_rate": 5e-4, "epoch": 0.518518, "step": 14},
    eval_entry(14, 0.518518, 0.25, 0.97),
    {"loss": 1.98, "grad_norm": 0.2, "learning_rate": 4e-5, "epoch": 1.0, "step": 27},
    eval_entry(27, 1.0, 0.27, 0.96),
    {"train_runtime": 11.3, "train_loss": 2.0, "epoch": 1.0, "step": 27},
]


def test_series_from_history_rows():
    rows = series_from_history(HISTORY)
    assert [r["step"] for r in rows] == [0, 14, 27]
    assert "train_loss" not in rows[0]
    assert rows[1] == {"step": 14, "epoch": 0.5185, "eval_score": 0.25, "avg_cosine": 0.97, "train_loss": 2.02}
    assert rows[2]["train_loss"] == 1.98
    assert all(r["step"] > 0 for r in rows if "train_loss" in r)


def test_series_from_history_empty():
    assert series_from_history([]) == []
    assert series_from_history([{"loss": 1.0, "step": 3, "epoch": 0.1}]) == []


def test_select_step_last_and_best():
    rows = [{"step": 0, "val_mrr_at_10": 0.9, "eval_score": 0.1}, {"step": 14, "val_mrr_at_10": 0.5, "eval_score": 0.1},
            {"step": 27, "val_mrr_at_10": 0.3, "eval_score": 0.9},
            {"step": 40, "val_mrr_at_10": 0.5, "eval_score": 0.2}]
    assert select_step(rows, "last") == 40
    # best = highest validation MRR@10 (not the eval score); step 0 (the base model) never wins; ties: earlier step
    assert select_step(rows, "best") == 14


def test_select_step_without_a_trained_evaluation_is_a_user_error():
    with pytest.raises(UserError):
        select_step([{"step": 0, "eval_score": 0.5}], "last")


# ---------------------------------------------------------------- LiveMetrics, checkpoints, run identity


class FakeLive:
    def __init__(self) -> None:
        self.step = 0
        self.logged: list[tuple[int, str, float]] = []

    def log_metric(self, name, value, timestamp=False):
        self.logged.append((self.step, name, value))

    def next_step(self):
        pass


class FakeState:
    def __init__(self, log_history):
        self.log_history = log_history


MAIN = SimpleNamespace(process_index=0)


def test_live_metrics_replays_history_and_never_logs_a_step_twice():
    live = FakeLive()
    cb = LiveMetrics(live)
    cb.on_train_begin(MAIN, FakeState(HISTORY[:3]), None)  # resumed at step 14
    cb.on_evaluate(MAIN, FakeState(HISTORY[:3]), None)  # the same step again: ignored
    cb.on_evaluate(MAIN, FakeState(HISTORY[:5]), None)
    steps = [r["step"] for r in cb.series]
    assert steps == [0, 14, 27]
    per_metric = {}
    for step, name, _ in live.logged:
        per_metric.setdefault(name, []).append(step)
    assert per_metric["eval_score"] == [0, 14, 27]
    assert per_metric["avg_cosine"] == [0, 14, 27]
    assert per_metric["train_loss"] == [14, 27]


def test_live_metrics_logs_nothing_on_other_processes():
    live = FakeLive()
    cb = LiveMetrics(live)
    other = SimpleNamespace(process_index=1)
    cb.on_train_begin(other, FakeState(HISTORY[:3]), None)
    cb.on_evaluate(other, FakeState(HISTORY[:5]), None)
    assert live.logged == []


def test_checkpoint_marker_marks_the_saved_checkpoint(tmp_path):
    (tmp_path / "checkpoint-7").mkdir()
    state = SimpleNamespace(global_step=7, is_world_process_zero=True)
    CheckpointMarker().on_save(SimpleNamespace(process_index=0, output_dir=str(tmp_path)), state, None)
    assert (tmp_path / "checkpoint-7" / COMPLETE_MARKER).exists()
    (tmp_path / "checkpoint-14").mkdir()
    state = SimpleNamespace(global_step=14, is_world_process_zero=False)
    CheckpointMarker().on_save(SimpleNamespace(process_index=1, output_dir=str(tmp_path)), state, None)
    assert not (tmp_path / "checkpoint-14" / COMPLETE_MARKER).exists()


def test_completed_checkpoints_only_marked_ones_in_numeric_order(tmp_path):
    for step, complete in [(7, True), (14, False), (100, True), (21, True)]:
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        if complete:
            (ckpt / COMPLETE_MARKER).write_text(f"{step}\n")
    assert [p.name for p in completed_checkpoints(tmp_path)] == ["checkpoint-7", "checkpoint-21", "checkpoint-100"]
    assert completed_checkpoints(tmp_path / "missing") == []


def test_run_key_changes_with_params_data_base_model_precision_and_code(tmp_path, monkeypatch):
    import banglasim.runs.checkpoints as checkpoints_mod

    data = tmp_path / "train.jsonl"
    data.write_text('{"anchor": "a", "positive": "b"}\n')
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"weights")
    code = tmp_path / "code" / "module.py"
    code.parent.mkdir()
    code.write_text("x = 1\n")
    monkeypatch.setattr(checkpoints_mod, "code_folders", lambda module: [str(code.parent)])
    params = load_params(REPO_ROOT / "params.yaml", ("model", "train"))
    mp, tp = params.model, params.train

    def key(model=mp, train=tp, precision="fp32"):
        return run_key(Params(model=model, train=train), [base, data], precision)

    first = key()
    assert first == key(replace(mp), replace(tp))
    assert first != key(train=replace(tp, learning_rate=2e-3))
    assert first != key(model=replace(mp, max_seq_length=32))
    assert first != key(precision="bf16")
    for path, changed, original in ((code, "x = 2\n", "x = 1\n"), (base / "model.safetensors", "other", "weights"),
                                    (data, '{"anchor": "a", "positive": "c"}\n', '{"anchor": "a", "positive": "b"}\n')):
        path.write_text(changed)
        assert first != key(), path.name
        path.write_text(original)
        assert first == key(), path.name


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU behaviour")
def test_resolve_precision_on_cpu(monkeypatch):
    import banglasim.training.precision as precision_mod

    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto") == "fp32"
    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto") == "bf16"
    assert resolve_precision("fp32") == "fp32"
    with pytest.raises(UserError, match="train.precision"):
        resolve_precision("fp16")


def test_publish_best_writes_the_chosen_checkpoints_weights(tiny_model_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    from banglasim.runs import publish
    from banglasim.runs.checkpoints import TRAINABLE_WEIGHTS, trainable_state

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / ".checkpoints" / "run"
    older = load_model(str(tiny_model_dir))
    freeze_all_but_last(older, 2)
    with torch.no_grad():
        for p in older.parameters():
            p.add_(0.5)
    (run_dir / "checkpoint-7").mkdir(parents=True)
    save_file(trainable_state(older), str(run_dir / "checkpoint-7" / TRAINABLE_WEIGHTS))
    final = load_model(str(tiny_model_dir))
    freeze_all_but_last(final, 2)
    final.prompts = {**final.prompts, "query": "query: ", "passage": "passage: "}  # as build_trainer sets them
    repo = load_params(REPO_ROOT / "params.yaml", ("model", "train"))
    params = Params(model=replace(repo.model, name=str(tiny_model_dir), max_seq_length=64, trainable_layers=2),
                    train=replace(repo.train, select="best"))
    publish.stage_model(final, run_dir, 7, 27, params, {"step": 7, "eval_score": 0.5, "avg_cosine": 0.6,
                                                        "train_loss": 1.2})
    stage = publish.staging_dir(run_dir)
    (stage / "dvclive" / "plots").mkdir(parents=True)
    for name in ("dvclive/metrics.json", "dvclive/params.yaml", "train.json", "run_record.json"):
        (stage / name).write_text("{}\n")
    publish.commit(run_dir)

    published = load_file(str(tmp_path / "models/model/model.safetensors"))
    base = load_model(str(tiny_model_dir))
    trained = {k for k, p in older.named_parameters() if p.requires_grad}
    for key, value in older.state_dict().items():
        want = value if key in trained else base.state_dict()[key]  # frozen weights are the base model's
        assert torch.equal(published[key.split(".", 2)[2]], want), key  # "0.model.<name>" -> "<name>"
    assert json.loads((tmp_path / "models/model/selection.json").read_text()) == {"run": "run", "step": 7,
                                                                                   "select": "best"}
    assert "step 7" in (tmp_path / "models/model/README.md").read_text(encoding="utf-8")
    saved = json.loads((tmp_path / "models/model/config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert saved["prompts"]["document"] == "passage: "  # encode_document applies the passage prompt
    assert (run_dir / "FINISHED").exists() and not stage.exists()
