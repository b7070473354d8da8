import pytest

from llm_gym.games.shop_db import DIFFICULTIES, build_database, generate_question, generate_shop


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_python_answers_agree_with_the_reference_sql(difficulty):
    templates = set()
    for seed in range(150):
        shop = generate_shop(seed, difficulty)
        question = generate_question(shop, seed, difficulty)
        templates.add(question.template)
        connection = build_database(shop)
        ((value,),) = connection.execute(question.sql).fetchall()
        if question.numeric:
            assert abs(float(value) - float(question.answer)) <= 0.005 + 1e-9, question
        else:
            assert value == question.answer
        connection.close()
    assert len(templates) == 4


def test_generation_is_deterministic_and_seed_dependent():
    assert generate_shop(3, "hard") == generate_shop(3, "hard")
    assert generate_shop(3, "hard") != generate_shop(4, "hard")
    shop = generate_shop(3, "easy")
    assert generate_question(shop, 3, "easy") == generate_question(shop, 3, "easy")


def test_rows_are_consistent():
    shop = generate_shop(7, "hard")
    customer_ids = {c.id for c in shop.customers}
    product_ids = {p.id for p in shop.products}
    assert len({c.name for c in shop.customers}) == len(shop.customers)
    for order in shop.orders:
        assert order.customer_id in customer_ids and order.status in ("shipped", "cancelled")
        assert {p for p, _ in order.items} <= product_ids and all(q >= 1 for _, q in order.items)
