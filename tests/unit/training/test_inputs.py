"""What training sees: batches without a passage twice, hard negatives that never hold the answer."""

from __future__ import annotations

import pytest

from banglasim.config.params import MineParams
from banglasim.core.errors import UserError
from banglasim.data.mine import mine
from banglasim.data.negatives import answer_free
from banglasim.models.loading import load_model
from banglasim.training.inputs import column_prompts, in_batch_duplicates, train_dataset

DISTRICTS = ["ঢাকা", "রাজশাহী", "খুলনা", "সিলেট", "বরিশাল", "রংপুর", "কুমিল্লা", "যশোর", "পাবনা", "ফরিদপুর"]
CROPS = ["ধান", "পাট", "গম", "আলু", "সরিষা", "আখ", "চা", "ভুট্টা", "ডাল", "তিল"]


def qa_rows(questions_per_passage: int = 5) -> list[dict]:
    """10 passages with 5 questions each, as split writes them (answer = the district's crop)."""
    rows = []
    for i, (district, crop) in enumerate(zip(DISTRICTS, CROPS)):
        passage = f"{district} জেলার মূল ফসল {crop}। সেখানে প্রতি বছর অনেক {crop} উৎপন্ন হয়।"
        for k in range(questions_per_passage):
            rows.append(
                {
                    "anchor": f"{district} জেলার ফসল নিয়ে প্রশ্ন {k + 1}: মূল ফসল কী?",
                    "positive": passage,
                    "query_id": f"q{i}-{k}",
                    "passage_id": f"p{i}",
                    "answer": crop,
                }
            )
    return rows


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def trainer_for(model, rows, sampler: str, batch_size: int = 8):
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    args = SentenceTransformerTrainingArguments(
        output_dir="unused",
        per_device_train_batch_size=batch_size,
        batch_sampler=sampler,
        use_cpu=True,
        seed=3,
        report_to="none",
    )
    return SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train_dataset(rows, 0), loss=MultipleNegativesRankingLoss(model)
    )


def test_no_duplicates_batches_never_hold_one_passage_twice(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = qa_rows()
    trainer = trainer_for(tiny, rows, "no_duplicates")
    counts = in_batch_duplicates(trainer, [r["passage_id"] for r in rows])
    assert counts["no_duplicates"]["batches_with_a_passage_twice"] == 0
    assert counts["plain"]["batches_with_a_passage_twice"] > 0, "plain batches of 8 from 10 passages x 5"
    batches = list(trainer.get_batch_sampler(trainer.train_dataset, batch_size=8, drop_last=False, seed=3))
    assert sorted(i for b in batches for i in b) == list(range(len(rows))), "every row once per epoch"
    for batch in batches:
        pids = [rows[i]["passage_id"] for i in batch]
        assert len(pids) == len(set(pids)), pids
    assert trainer.args.batch_sampler == "no_duplicates", "counting both samplers leaves the chosen one in place"


def test_mined_negatives_never_contain_the_answer(tiny):
    rows = qa_rows(2)
    # two decoys that hold another district's answer: they must never be its negatives
    rows.append(
        {
            "anchor": "ঢাকায় ধান ছাড়া আর কী হয়?",
            "positive": "ঢাকার আশেপাশে ধান ও পাট দুটোই হয়।",
            "query_id": "decoy",
            "passage_id": "pd",
            "answer": "পাট",
        }
    )
    prompts = {"query": "query: ", "passage": "passage: "}
    cfg = MineParams(negatives_from="base", relative_margin=0.0, range_max=20, batch_size=16)
    mined, counts = mine(rows, 3, cfg, tiny, prompts, seed=1)
    assert len(mined) == len(rows) and counts["questions"] == len(rows)
    for r in mined:
        assert len(r["negatives"]) == 3 and len(set(r["negatives"])) == 3
        assert r["positive"] not in r["negatives"]
        assert not any(r["answer"] in n for n in r["negatives"]), (r["answer"], r["negatives"])
    assert counts["mined_in_full"] + counts["topped_up_with_random"] == len(rows)


def test_answer_free_drops_the_positive_answer_bearing_and_repeated_passages():
    assert answer_free("পাট", "P", ["A পাট", "P", "B", "B", "C"]) == ["B", "C"]
    assert answer_free(None, "P", ["P", "A"]) == ["A"]


def test_too_many_hard_negatives_for_the_passages_is_a_user_error(tiny):
    with pytest.raises(UserError, match="train.hard_negatives"):
        mine(
            qa_rows(1)[:3],
            5,
            MineParams(negatives_from="base", relative_margin=0.0, range_max=20, batch_size=8),
            tiny,
            {"query": "", "passage": ""},
            seed=1,
        )


def test_prompts_per_column():
    prompts = {"query": "query: ", "passage": "passage: "}
    assert column_prompts(prompts, 2) == {
        "anchor": "query: ",
        "positive": "passage: ",
        "negative_1": "passage: ",
        "negative_2": "passage: ",
    }
    assert column_prompts({"query": "", "passage": ""}, 1) is None
