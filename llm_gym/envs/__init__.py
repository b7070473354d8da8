"""Registration of every llm_gym environment (string entry points: importing is lazy)."""

from gymnasium.envs.registration import register, registry

ENV_SPECS: dict[str, str] = {
    "LLMTicTacToe-v0": "llm_gym.envs.tictactoe:TicTacToeEnv",
    "LLMReverseText-v0": "llm_gym.envs.reverse_text:ReverseTextEnv",
    "LLMDoubleCheckMath-v0": "llm_gym.envs.double_check_math:DoubleCheckMathEnv",
    "LLMToolUse-v0": "llm_gym.envs.tool_use:ToolUseEnv",
}

SAFETY_MAX_EPISODE_STEPS = 200
"""Outer bound only: each env ends its episodes by its own turn cap well before this."""


def register_envs() -> None:
    for env_id, entry_point in ENV_SPECS.items():
        if env_id not in registry:
            register(
                id=env_id,
                entry_point=entry_point,
                max_episode_steps=SAFETY_MAX_EPISODE_STEPS,
            )


register_envs()
