"""``llm-gym show``: print chosen rollouts of a results file readably."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from adapters.cli import app
from adapters.records import EpisodeRecord, TurnRecord, read_records

THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)


def split_reasoning(reply: str) -> tuple[list[str], str]:
    """``(reasoning blocks, the rest)`` of a reply.

    >>> split_reasoning("<think>centre</think> <move>4</move>")
    (['centre'], '<move>4</move>')
    """
    blocks = [m.strip() for m in THINK.findall(reply)]
    return blocks, THINK.sub("", reply).strip()


def select_records(
    records: Iterable[EpisodeRecord],
    *,
    indices: Sequence[int] = (),
    seeds: Sequence[int] = (),
    rollouts: Sequence[int] = (),
    outcomes: Sequence[str] = (),
    settings: Sequence[str] = (),
    errors_only: bool = False,
    limit: int | None = None,
) -> list[tuple[int, EpisodeRecord]]:
    """``(row index, record)`` pairs passing every given filter (row index = line order)."""
    chosen = []
    for index, record in enumerate(records):
        if indices and index not in indices:
            continue
        if seeds and record.seed not in seeds:
            continue
        if rollouts and record.rollout not in rollouts:
            continue
        if outcomes and (record.outcome or ("error" if record.error else "none")) not in outcomes:
            continue
        if settings and (record.setting or "") not in settings:
            continue
        if errors_only and record.error is None:
            continue
        chosen.append((index, record))
        if limit is not None and len(chosen) >= limit:
            break
    return chosen


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def turn_reward_text(turn: TurnRecord) -> Text:
    parts = [f"{name} {_signed(value)}" for name, value in turn.reward_components.items() if value]
    text = Text(f"reward {_signed(turn.reward)}", style="bold cyan")
    if parts:
        text.append("  (" + ", ".join(parts) + ")", style="cyan")
    if turn.invalid_action:
        text.append("  invalid action", style="bold red")
    tokens = turn.completion_tokens
    text.append(f"  {turn.latency_s:.2f}s" + (f", {tokens} tokens" if tokens else ""), style="dim")
    return text


def reply_panel(turn: TurnRecord, number: int) -> Panel:
    reasoning, rest = split_reasoning(turn.action)
    body: list[Text] = []
    for block in reasoning:
        body.append(Text("reasoning: " + block, style="italic dim"))
    body.append(Text(rest if rest else "(empty reply)", style="bold" if rest else "bold red"))
    body.append(turn_reward_text(turn))
    return Panel(Group(*body), title=f"model · turn {number}", title_align="left", style="green")


def render_record(
    console: Console, index: int, record: EpisodeRecord, *, system: bool = False
) -> None:
    """Print one rollout: header, the chat with reasoning set apart, rewards per turn."""
    components = ", ".join(f"{k} {_signed(v)}" for k, v in record.reward_components.items())
    header = Text.assemble(
        (f"row {index}", "bold"),
        f"  {record.env_id}",
        f"  setting {record.setting}" if record.setting else "",
        f"  seed {record.seed}  rollout {record.rollout}  policy {record.policy}",
        f"  probability {record.probability:.3g}" if record.probability is not None else "",
        "\n",
        ("outcome ", "bold"),
        (str(record.outcome), "bold magenta"),
        f"  total reward {record.total_reward:.3f}",
        f"  ({components})" if components else "",
        f"  {len(record.turns)} turns, {record.completion_tokens} completion tokens,"
        f" {record.wall_time_s:.1f}s",
    )
    if record.env_kwargs:
        header.append(f"\nenv args {record.env_kwargs}", style="dim")
    if record.error:
        header.append(f"\nerror: {record.error}", style="bold red")
    console.rule()
    console.print(header)
    messages = list(record.messages)
    if messages and messages[0].get("role") == "system":
        if system:
            console.print(Panel(str(messages[0]["content"]), title="system", style="dim"))
        messages = messages[1:]
    turn_number = 0
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            if turn_number < len(record.turns):
                console.print(reply_panel(record.turns[turn_number], turn_number + 1))
            turn_number += 1
        else:
            console.print(
                Panel(str(message.get("content") or ""), title=str(role), title_align="left")
            )
    if record.final_observation:
        console.print(Panel(record.final_observation, title="final", title_align="left"))


@app.command("show")
def show(
    results: Path = typer.Argument(..., help="A results.jsonl or the run folder holding it."),
    index: list[int] = typer.Option([], "--index", "-i", help="Row number (0-based); repeat."),
    seed: list[int] = typer.Option([], "--seed", "-s", help="Env seed; repeat."),
    rollout: list[int] = typer.Option([], "--rollout", "-r", help="Rollout index; repeat."),
    outcome: list[str] = typer.Option(
        [], "--outcome", help="Outcome (win, loss, correct, error...); repeat."
    ),
    setting: list[str] = typer.Option([], "--setting", help="Setting label; repeat."),
    errors: bool = typer.Option(False, "--errors", help="Only rollouts that failed."),
    limit: int = typer.Option(3, "--limit", "-n", min=1, help="Rollouts to print at most."),
    system: bool = typer.Option(False, "--system", help="Also print the system prompt."),
) -> None:
    """Print chosen rollouts of RESULTS: the chat, reasoning apart, rewards per turn."""
    path = results / "results.jsonl" if results.is_dir() else results
    if not path.is_file():
        raise typer.BadParameter(f"{path} does not exist")
    chosen = select_records(
        read_records(path),
        indices=index,
        seeds=seed,
        rollouts=rollout,
        outcomes=outcome,
        settings=setting,
        errors_only=errors,
        limit=limit,
    )
    console = Console()
    if not chosen:
        console.print("[yellow]no rollout matches[/yellow]")
        raise typer.Exit(1)
    for row, record in chosen:
        render_record(console, row, record, system=system)
