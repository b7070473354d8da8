"""Reasoning a small model can compute: the facts of a tic-tac-toe board, written out and read back.

A teacher's ``<think>`` text states facts of the board in a fixed order, each one a short step from
the facts before it, and only then names the move and why. Two styles:

- ``"facts"`` (compact)::

    I am X. X has 0 4. O has 1 8. X can win at none. O can win at none. X can fork at 3 6.
    O can fork at none. Move 3: fork.

- ``"lines"``: the same, with the eight lines and their marks written out first (free cells show
  their number, as on the drawn board), so every later fact is a look-up in text already written::

    I am X. Lines 012: X O 2; 345: 3 X 5; 678: 6 7 O; 036: X 3 6; 147: O X 7; 258: 2 5 O;
    048: X X O; 246: 2 X 6. X has 0 4. O has 1 8. ...

- ``"scan"``: each line followed at once by the mark that would complete it there, a verdict
  that depends only on the three marks just written; then the winning cells (a copy of those
  verdicts) and the move, with no cell lists and no forks::

    I am X. Scan 012: O O 2, O needs 2; 345: 3 4 5; 678: X 7 X, X needs 7; 036: O 3 X; ...
    X can win at 7. O can win at 2. Move 7: win.

- ``"forks"``: the scan, where a line with one mark and two free cells also gets its verdict
  ("036: X 3 6, X opens 3 6"); then the winning cells and, only when neither side can win, the
  fork cells of each side: the free cells that two of its open lines share, read off the
  verdicts just written (with no winning cell on the board, exactly the fork cells below)::

    I am O. Scan 012: X 1 2, X opens 1 2; 345: 3 O X; 678: X 7 8, X opens 7 8; 036: X 3 X,
    X needs 3; ... O can win at none. X can win at 3. Move 3: block.

    I am X. Scan 012: O 1 2, O opens 1 2; 345: X X O; 678: 6 7 8; 036: O X 6; 147: 1 X 7,
    X opens 1 7; 258: 2 O 8, O opens 2 8; 048: O X 8; 246: 2 X 6, X opens 2 6. X can win at
    none. O can win at none. X can fork at none. O can fork at 2. Move 2: block fork.

A *fork cell* of a mark is a free cell that does not win at once but after which that mark would
have two or more ways to complete a line on its next move. The move's kind is the first that
applies of ``win`` (completes a line), ``block`` (takes the opponent's winning cell), ``fork``,
``block fork`` (takes the opponent's fork cell), ``threat`` (makes two in a row with the third
cell free) and ``best``.

:func:`check_reasoning` reads such a text back and lists every stated fact that is false of the
board, so that a data pipeline can keep only truthful replies and DAgger can relabel a student
whose reasoning went wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from llm_gym.games import tictactoe as ttt

ReasoningStyle = Literal["facts", "lines", "scan", "forks"]
REASONING_STYLES: tuple[str, ...] = ("facts", "lines", "scan", "forks")
MOVE_KINDS: tuple[str, ...] = ("win", "block", "fork", "block fork", "threat", "best")


@dataclass(frozen=True)
class BoardFacts:
    """What a player to move should know about a board before choosing.

    Attributes:
        me: the mark to move.
        them: the other mark.
        cells: the cells each mark holds, in increasing order.
        wins: for each mark, the free cells that would complete one of its lines.
        forks: for each mark, the free cells that would give it two or more winning cells.
    """

    me: ttt.Mark
    them: ttt.Mark
    cells: dict[str, tuple[int, ...]]
    wins: dict[str, tuple[int, ...]]
    forks: dict[str, tuple[int, ...]]


@cache
def board_facts(board: str) -> BoardFacts:
    """The facts of ``board`` from the side of the player to move."""
    me = ttt.to_move(board)
    them = ttt.other(me)
    marks = (me, them)
    return BoardFacts(
        me=me,
        them=them,
        cells={m: tuple(i for i, c in enumerate(board) if c == m) for m in marks},
        wins={m: winning_cells(board, m) for m in marks},
        forks={m: fork_cells(board, m) for m in marks},
    )


@cache
def winning_cells(board: str, mark: ttt.Mark) -> tuple[int, ...]:
    """Free cells where ``mark`` would complete three in a row."""
    needs = (_line_need(board, line) for line in ttt.WIN_LINES)
    return tuple(sorted({need[1] for need in needs if need is not None and need[0] == mark}))


@cache
def fork_cells(board: str, mark: ttt.Mark) -> tuple[int, ...]:
    """Free cells, other than its winning cells, where ``mark`` would then have two or more
    winning cells."""
    if ttt.winner(board) is not None:
        return ()
    wins = winning_cells(board, mark)
    return tuple(
        cell
        for cell, value in enumerate(board)
        if value == ttt.EMPTY
        and cell not in wins
        and len(winning_cells(ttt.play(board, cell, mark), mark)) >= 2
    )


def move_kind(board: str, cell: int) -> str:
    """The first kind in :data:`MOVE_KINDS` that describes playing ``cell`` on ``board``."""
    facts = board_facts(board)
    if cell in facts.wins[facts.me]:
        return "win"
    if cell in facts.wins[facts.them]:
        return "block"
    if cell in facts.forks[facts.me]:
        return "fork"
    if cell in facts.forks[facts.them]:
        return "block fork"
    if _makes_threat(board, cell, facts.me):
        return "threat"
    return "best"


def most_direct_moves(board: str, moves: tuple[int, ...]) -> tuple[int, ...]:
    """The moves among ``moves`` whose kind comes first in :data:`MOVE_KINDS`.

    A teacher that picks among equally strong moves this way never writes "X can win at 8" and
    then plays a fork that wins a move later: its decision follows from the facts it stated.
    """
    if not moves:
        raise ValueError(f"no moves to choose from on board {board!r}")
    ranks = {cell: MOVE_KINDS.index(move_kind(board, cell)) for cell in moves}
    first = min(ranks.values())
    return tuple(cell for cell in moves if ranks[cell] == first)


def _makes_threat(board: str, cell: int, mark: ttt.Mark) -> bool:
    return bool(winning_cells(ttt.play(board, cell, mark), mark))


def explain(board: str, cell: int, style: ReasoningStyle = "facts") -> str:
    """The reasoning of a teacher that plays ``cell`` on ``board``, in ``style``.

    Raises:
        ValueError: unknown style, or ``cell`` is not a free cell of a running game.
    """
    if style not in REASONING_STYLES:
        raise ValueError(f"style must be one of {', '.join(REASONING_STYLES)}; got {style!r}")
    if cell not in ttt.legal_moves(board):
        raise ValueError(f"cell {cell} is not a legal move on board {board!r}")
    facts = board_facts(board)
    me, them = facts.me, facts.them
    parts = [f"I am {me}."]
    if style in ("scan", "forks"):
        opens = style == "forks"
        parts += [
            "Scan " + "; ".join(_scan_text(board, line, opens) for line in ttt.WIN_LINES) + ".",
            f"{me} can win at {_cells_text(facts.wins[me])}.",
            f"{them} can win at {_cells_text(facts.wins[them])}.",
        ]
        if opens and not facts.wins[me] and not facts.wins[them]:
            parts += [
                f"{me} can fork at {_cells_text(facts.forks[me])}.",
                f"{them} can fork at {_cells_text(facts.forks[them])}.",
            ]
        parts.append(f"Move {cell}: {move_kind(board, cell)}.")
        return " ".join(parts)
    if style == "lines":
        parts.append("Lines " + "; ".join(_line_text(board, line) for line in ttt.WIN_LINES) + ".")
    parts += [
        f"{me} has {_cells_text(facts.cells[me], 'nothing')}.",
        f"{them} has {_cells_text(facts.cells[them], 'nothing')}.",
        f"{me} can win at {_cells_text(facts.wins[me])}.",
        f"{them} can win at {_cells_text(facts.wins[them])}.",
        f"{me} can fork at {_cells_text(facts.forks[me])}.",
        f"{them} can fork at {_cells_text(facts.forks[them])}.",
        f"Move {cell}: {move_kind(board, cell)}.",
    ]
    return " ".join(parts)


def _line_text(board: str, line: tuple[int, int, int]) -> str:
    name = "".join(str(i) for i in line)
    marks = " ".join(board[i] if board[i] != ttt.EMPTY else str(i) for i in line)
    return f"{name}: {marks}"


def _line_need(board: str, line: tuple[int, int, int]) -> tuple[str, int] | None:
    """The mark that completes ``line`` at its one free cell, and that cell, if any."""
    values = [board[i] for i in line]
    for mark in ("X", "O"):
        if values.count(mark) == 2 and values.count(ttt.EMPTY) == 1:
            return mark, line[values.index(ttt.EMPTY)]
    return None


def _line_open(board: str, line: tuple[int, int, int]) -> tuple[str, tuple[int, int]] | None:
    """The mark that holds one cell of ``line`` with the other two free, and those two cells."""
    values = [board[i] for i in line]
    for mark in ("X", "O"):
        if values.count(mark) == 1 and values.count(ttt.EMPTY) == 2:
            free = tuple(cell for cell in line if board[cell] == ttt.EMPTY)
            return mark, free  # type: ignore[return-value]
    return None


def _need_text(need: tuple[str, int] | None) -> str:
    return f"{need[0]} needs {need[1]}" if need else "no one needs a cell"


def _open_text(open_line: tuple[str, tuple[int, int]] | None) -> str:
    if open_line is None:
        return "no one opens it"
    return f"{open_line[0]} opens {open_line[1][0]} {open_line[1][1]}"


def _scan_text(board: str, line: tuple[int, int, int], opens: bool = False) -> str:
    need = _line_need(board, line)
    open_line = _line_open(board, line) if opens else None
    verdict = _need_text(need) if need else _open_text(open_line) if open_line else None
    return _line_text(board, line) + (f", {verdict}" if verdict else "")


def _cells_text(cells: tuple[int, ...], empty: str = "none") -> str:
    return " ".join(str(c) for c in cells) if cells else empty


_CELLS = r"((?:[0-8](?: [0-8])*)|none|nothing)"
_HAS = re.compile(rf"\b([XO]) has {_CELLS}")
_CAN = re.compile(rf"\b([XO]) can (win|fork) at {_CELLS}")
_LINE = re.compile(r"\b([0-8])([0-8])([0-8]): ([XO0-8]) ([XO0-8]) ([XO0-8])")
_SCAN = re.compile(r"\bScan ([^.]*)")
_SCAN_ITEM = re.compile(
    r"^([0-8]{3}): [XO0-8] [XO0-8] [XO0-8]"
    r"(?:, ([XO]) needs ([0-8])|, ([XO]) opens ([0-8]) ([0-8]))?$"
)
_IAM = re.compile(r"\bI am ([XO])\b")
_MOVE = re.compile(r"\bMove ([0-8]): (block fork|win|block|fork|threat|best)\b")
_MOVE_TAG = re.compile(r"<move>\s*([0-8])\s*</move>")


def check_reasoning(reply: str, board: str) -> list[str]:
    """Every fact stated in ``reply`` (in either style) that is false of ``board``.

    Only what the text states is checked: a reply that states nothing has no false fact. The
    move named in the reasoning must also be the one in the reply's ``<move>`` tag, when both
    are there.

    Returns:
        One sentence per false statement, empty when all stated facts are true.
    """
    facts = board_facts(board)
    problems: list[str] = []
    for match in _IAM.finditer(reply):
        if match[1] != facts.me:
            problems.append(f"says 'I am {match[1]}' but {facts.me} is to move")
    for match in _LINE.finditer(reply):
        line = tuple(int(match[i]) for i in (1, 2, 3))
        if line not in ttt.WIN_LINES:
            problems.append(f"names {''.join(map(str, line))} as a line; it is not one")
            continue
        stated = f"{match[4]} {match[5]} {match[6]}"
        true = _line_text(board, line).split(": ")[1]  # type: ignore[arg-type]
        if stated != true:
            problems.append(f"says line {match[1]}{match[2]}{match[3]} is {stated}; it is {true}")
    for scan in _SCAN.finditer(reply):
        problems += _scan_problems(scan[1], board)
    for match in _HAS.finditer(reply):
        if set(_parse_cells(match[2])) != set(facts.cells[match[1]]):
            true = _cells_text(facts.cells[match[1]], "nothing")
            problems.append(f"says {match[1]} has {match[2]}; {match[1]} has {true}")
    for match in _CAN.finditer(reply):
        mark, what, cells = match[1], match[2], _parse_cells(match[3])
        truth = (facts.wins if what == "win" else facts.forks)[mark]
        if set(cells) != set(truth):
            problems.append(
                f"says {mark} can {what} at {match[3]}; {mark} can {what} at {_cells_text(truth)}"
            )
    stated_moves = _MOVE.findall(reply)
    for cell_text, kind in stated_moves:
        cell = int(cell_text)
        if cell not in ttt.legal_moves(board):
            problems.append(f"names move {cell}, which is not a free cell")
        elif kind != "best" and not _kind_holds(board, cell, kind):
            problems.append(f"calls move {cell} a {kind}; it is not")
    tags = _MOVE_TAG.findall(reply)
    if stated_moves and tags and stated_moves[-1][0] != tags[-1]:
        problems.append(f"reasons for move {stated_moves[-1][0]} but plays {tags[-1]}")
    return problems


def _scan_problems(scan: str, board: str) -> list[str]:
    """False verdicts of a ``Scan`` list (its marks are checked with every other line).

    Open-line verdicts ("X opens 3 6") are checked, missing ones included, in a scan that states
    at least one (the ``forks`` style).
    """
    problems = []
    items = [(item.strip(), _SCAN_ITEM.match(item.strip())) for item in scan.split("; ")]
    states_opens = any(match is not None and match[4] for _, match in items)
    for item, match in items:
        if match is None:
            problems.append(f"scan item {item!r} is not 'LINE: a b c[, M needs N | , M opens N N]'")
            continue
        line = tuple(int(c) for c in match[1])
        if line not in ttt.WIN_LINES:
            continue
        stated = (match[2], int(match[3])) if match[2] else None
        true = _line_need(board, line)  # type: ignore[arg-type]
        if stated != true:
            problems.append(f"says in line {match[1]} {_need_text(stated)}; {_need_text(true)}")
        if not states_opens or true is not None:
            continue
        stated_open = (match[4], (int(match[5]), int(match[6]))) if match[4] else None
        true_open = _line_open(board, line)  # type: ignore[arg-type]
        if stated_open != true_open:
            problems.append(
                f"says in line {match[1]} {_open_text(stated_open)}; {_open_text(true_open)}"
            )
    return problems


def _parse_cells(text: str) -> tuple[int, ...]:
    if text in ("none", "nothing"):
        return ()
    return tuple(int(c) for c in text.split())


def _kind_holds(board: str, cell: int, kind: str) -> bool:
    facts = board_facts(board)
    return {
        "win": cell in facts.wins[facts.me],
        "block": cell in facts.wins[facts.them],
        "fork": cell in facts.forks[facts.me],
        "block fork": cell in facts.forks[facts.them],
        "threat": _makes_threat(board, cell, facts.me),
    }[kind]
