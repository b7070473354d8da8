import json

import pytest

pytest.importorskip("datasets")

from llm_gym.hf_datasets import gsm8k_final_answer, load_math_problems, load_texts


def test_load_texts_from_saved_dataset_and_jsonl(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_dict(
        {"text": ["na\u00efve caf\u00e9", "x" * 50, None, "ok"]}
    ).save_to_disk(str(folder))
    assert load_texts(str(folder), column="text", max_chars=20) == ["naive cafe", "ok"]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps({"prompt": t}) for t in ["a", "b", "c"]))
    assert load_texts(str(path), limit=2) == ["a", "b"]
    with pytest.raises(ValueError, match="no column"):
        load_texts(str(path), column="missing")


def test_load_math_problems_gsm8k_style(tmp_path):
    path = tmp_path / "g.jsonl"
    rows = [{"q": "Two plus two?", "a": "2+2=4\n#### 4"}, {"q": "Big?", "a": "#### $1,250"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    problems = load_math_problems(str(path), question_column="q", answer_column="a")
    assert [(p.question, p.answer) for p in problems] == [("Two plus two?", "4"), ("Big?", "1250")]
    assert problems[0].solution == ("2+2=4",)


def test_gsm8k_final_answer():
    assert gsm8k_final_answer("work\n#### 1,000") == "1000"
    assert gsm8k_final_answer("\\frac{1}{2}") == "\\frac{1}{2}"
