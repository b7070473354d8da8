"""A generic tool layer: schemas from Python functions, safe calls, bounded SQL, a calculator.

A new tool environment is a :class:`ToolTask` (question generator + a list of functions); see
:mod:`llm_gym.tools.shop` for the shop database task.
"""

from llm_gym.tools.calculator import calculator
from llm_gym.tools.schema import function_schema, function_schemas
from llm_gym.tools.shop import ShopTask, ShopTools
from llm_gym.tools.sql import QueryError, QueryResult, ReadOnlyDatabase
from llm_gym.tools.task import ToolEpisode, ToolTask
from llm_gym.tools.toolbox import Toolbox, ToolError, ToolResult

__all__ = [
    "QueryError",
    "QueryResult",
    "ReadOnlyDatabase",
    "ShopTask",
    "ShopTools",
    "ToolEpisode",
    "ToolError",
    "ToolResult",
    "ToolTask",
    "Toolbox",
    "calculator",
    "function_schema",
    "function_schemas",
]
