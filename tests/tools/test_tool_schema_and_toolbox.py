import pytest

from llm_gym.tools import Toolbox, ToolError, function_schema


def lookup(
    name: str,
    limit: int = 3,
    scale: float = 1.0,
    exact: bool = False,
    tags: list[str] | None = None,
) -> str:
    """Find things by name.

    Longer explanation that continues
    over two lines.

    Args:
        name: what to look for.
        limit: how many results
            to return at most.
        scale: a factor.
        exact: match exactly.
        tags: filters.
    """
    if name == "boom":
        raise ToolError("nothing named boom")
    if name == "bug":
        raise KeyError("internal")
    return f"{name}:{limit}:{scale}:{exact}"


def no_docs(value: int) -> dict:
    return {"value": value}


def test_schema_from_signature_and_docstring():
    lookup.__annotations__["tags"] = list[str]
    schema = function_schema(lookup)
    function = schema["function"]
    assert schema["type"] == "function" and function["name"] == "lookup"
    assert function["description"] == (
        "Find things by name. Longer explanation that continues over two lines."
    )
    props = function["parameters"]["properties"]
    assert props["name"] == {"type": "string", "description": "what to look for."}
    assert props["limit"]["description"] == "how many results to return at most."
    assert [props[k]["type"] for k in ("limit", "scale", "exact", "tags")] == [
        "integer", "number", "boolean", "array",
    ]  # fmt: skip
    assert function["parameters"]["required"] == ["name"]


def test_unsupported_signatures_are_rejected():
    def star(*args: int) -> None: ...

    def untyped(x) -> None: ...

    for function in (star, untyped):
        with pytest.raises(TypeError):
            function_schema(function)


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [("nope", {}, "unknown tool"), ("lookup", [], "JSON object"), ("lookup", {}, "missing"),
     ("lookup", {"name": "a", "x": 1}, "unknown argument"), ("lookup", {"name": 3}, "string"),
     ("lookup", {"name": "a", "limit": True}, "integer"),
     ("lookup", {"name": "a", "limit": 2.5}, "integer"),
     ("lookup", {"name": "boom"}, "nothing named boom"), ("lookup", {"name": "bug"}, "KeyError"),
     (None, {}, "unknown tool")],
)  # fmt: skip
def test_bad_calls_become_error_results(name, arguments, message):
    result = Toolbox([lookup, no_docs]).call(name, arguments)
    assert result.error and result.content.startswith("Error:") and message in result.content


def test_good_calls_and_result_clipping():
    box = Toolbox([lookup, no_docs], max_result_chars=12)
    assert box.call("lookup", {"name": "a", "scale": 2}).content == "a:3:2:False"
    assert box.call("no_docs", {"value": 5}).content == '{"value": 5}'
    long = box.call("lookup", {"name": "a" * 40})
    assert not long.error and long.content.startswith("a" * 12) and "truncated" in long.content
