"""Disclosure control for released tables (pure): nothing below a minimum count, and
nothing that totals give back.

A table here is what the open data publishes per framework and dimension: one row per
group (a commune, a school, a target group), one column per category that partitions the
group (a state, a level or "no level", confirmed or not), each row's total (persons in the
group), each column's total and the grand total. Every one of those numbers is a cell that
may be published or withheld.

1. Primary suppression: every count from 1 to `minimum - 1` is withheld, margins included
   (a group of seven persons is not published at all: its total and every non-zero cell
   are under the minimum). Zeros are published: they say nobody, which a count of persons
   under the minimum would not protect anyway (the threshold rule of official statistics).
2. Complementary suppression: the published numbers and the table's sums (each row's
   cells add up to its total, each column's to its total, the totals to the grand total)
   form a linear system; a withheld cell is recoverable when that system fixes its value.
   `recoverable` decides it exactly (Gaussian elimination, see there), and `protect`
   withholds, for a recoverable cell, the other corners of the cheapest rectangle through
   it that hides it (or one cell of its row or column), until none is recoverable. So whatever anyone
   subtracts, a withheld cell stays unknown; a greedy choice, not the fewest cells.
3. Rounding (optional, after suppression): published counts rounded to the nearest
   multiple of `base`, each on its own, so sums no longer check exactly (as in census
   tables); shares are computed from the rounded counts.

Tables sharing row totals (one per competence, all over the same groups) must withhold the
same totals: `protect_all` repeats until every table agrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

Cell = tuple[int, int]  # (row, column); row == rows: the column totals; column == cols: row totals


@dataclass
class Table:
    """Counts by row and column; margins are computed, never given, so they always add up."""

    counts: list[list[int]]
    withheld: set[Cell] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return len(self.counts)

    @property
    def cols(self) -> int:
        return len(self.counts[0]) if self.counts else 0

    def value(self, cell: Cell) -> int:
        row, col = cell
        if row < self.rows and col < self.cols:
            return self.counts[row][col]
        if row < self.rows:
            return sum(self.counts[row])
        if col < self.cols:
            return sum(r[col] for r in self.counts)
        return sum(sum(r) for r in self.counts)

    def cells(self) -> list[Cell]:
        return [(r, c) for r in range(self.rows + 1) for c in range(self.cols + 1)]

    def published(self, cell: Cell) -> int | None:
        return None if cell in self.withheld else self.value(cell)


def _equations(table: Table) -> list[list[Cell]]:
    """Each sum the table keeps: the cells of a line add up to its margin (margins are the
    last cell of each line, so a line is `cells... == last`)."""
    lines: list[list[Cell]] = []
    for r in range(table.rows + 1):  # the last row: the column totals, adding to the grand total
        lines.append([(r, c) for c in range(table.cols + 1)])
    for c in range(table.cols + 1):
        lines.append([(r, c) for r in range(table.rows + 1)])
    return lines


PRIME = 2**127 - 1  # a Mersenne prime
EXACT_RANK = 45  # k**(k/2) < PRIME for k <= 45 (Hadamard's bound on a minor of 0/+-1 entries)


def recoverable(table: Table) -> set[Cell]:
    """The withheld cells whose value the published ones and the sums determine.

    A withheld cell x is determined iff the unit vector e_x lies in the row space of the
    sums restricted to the withheld cells, i.e. iff a row of the reduced echelon form is
    e_x. Elimination runs modulo a large prime: every minor of these 0/+-1 matrices is at
    most k**(k/2) in size (Hadamard), under the prime while k <= EXACT_RANK, so the ranks,
    and the answer, are those over the rationals; larger systems use exact fractions.
    """
    hidden = sorted(table.withheld)
    if not hidden:
        return set()
    index = {cell: i for i, cell in enumerate(hidden)}
    rows: list[list[int]] = []
    for line in _equations(table):
        *parts, margin = line
        row = [0] * len(hidden)
        for cell in parts:
            if cell in index:
                row[index[cell]] += 1
        if margin in index:
            row[index[margin]] -= 1
        if any(row):
            rows.append(row)
    reduced: list[list[int]] | list[list[Fraction]]
    if min(len(rows) + 1, len(hidden)) <= EXACT_RANK:
        reduced = _reduce_mod(rows, len(hidden))
    else:
        reduced = _reduce_exact(rows, len(hidden))
    found = set()
    for reduced_row in reduced:
        nonzero = [i for i, v in enumerate(reduced_row) if v]
        if len(nonzero) == 1:
            found.add(hidden[nonzero[0]])
    return found


def _reduce_mod(rows: list[list[int]], width: int) -> list[list[int]]:
    matrix = [[v % PRIME for v in row] for row in rows]
    top = 0
    for col in range(width):
        found = next((r for r in range(top, len(matrix)) if matrix[r][col]), None)
        if found is None:
            continue
        matrix[top], matrix[found] = matrix[found], matrix[top]
        inverse = pow(matrix[top][col], PRIME - 2, PRIME)
        pivot = [v * inverse % PRIME for v in matrix[top]]
        matrix[top] = pivot
        for r in range(len(matrix)):
            factor = matrix[r][col]
            if r != top and factor:
                matrix[r] = [(a - factor * b) % PRIME for a, b in zip(matrix[r], pivot, strict=True)]
        top += 1
    return matrix[:top]


def _reduce_exact(rows: list[list[int]], width: int) -> list[list[Fraction]]:
    matrix = [[Fraction(v) for v in row] for row in rows]
    top = 0
    for col in range(width):
        found = next((r for r in range(top, len(matrix)) if matrix[r][col] != 0), None)
        if found is None:
            continue
        matrix[top], matrix[found] = matrix[found], matrix[top]
        lead = matrix[top][col]
        pivot = [v / lead for v in matrix[top]]
        matrix[top] = pivot
        for r in range(len(matrix)):
            factor = matrix[r][col]
            if r != top and factor != 0:
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], pivot, strict=True)]
        top += 1
    return matrix[:top]


def primary(table: Table, minimum: int) -> set[Cell]:
    return {cell for cell in table.cells() if 0 < table.value(cell) < minimum}


def _candidates(table: Table, cell: Cell) -> list[set[Cell]]:
    """What may be withheld with `cell`: the other corners of each rectangle through it
    (the classic pattern: +x, -x, -x, +x leaves every sum unchanged), and single cells of
    its row and column; only the cells not withheld yet."""
    row, col = cell
    found: list[set[Cell]] = []
    for r in range(table.rows + 1):
        for c in range(table.cols + 1):
            if r != row and c != col:
                corners = {(row, c), (r, col), (r, c)} - table.withheld
                if corners:
                    found.append(corners)
    for other in [(row, c) for c in range(table.cols + 1)] + [(r, col) for r in range(table.rows + 1)]:
        if other != cell and other not in table.withheld:
            found.append({other})
    return found


def _complement(table: Table, cell: Cell) -> set[Cell] | None:
    """The cells to withhold with a recoverable `cell`: the first of `_candidates`, cheapest
    first (fewest zeros: a zero partner says little; fewest margins: totals stay published
    where they can; least withheld), that leaves `cell` unrecoverable; when none does in
    one step, the one leaving the fewest cells recoverable."""

    def cost(cells: set[Cell]) -> tuple[int, int, int, list[Cell]]:
        values = [table.value(c) for c in cells]
        margins = sum(1 for r, c in cells if r == table.rows or c == table.cols)
        return (values.count(0), margins, sum(values), sorted(cells))

    best: tuple[int, set[Cell]] | None = None
    for cells in sorted(_candidates(table, cell), key=cost):
        exposed = recoverable(Table(table.counts, table.withheld | cells))
        if cell not in exposed:
            return cells
        if best is None or len(exposed) < best[0]:
            best = (len(exposed), cells)
    return None if best is None else best[1]


def protect(table: Table, minimum: int = 10, forced: set[Cell] | None = None) -> Table:
    """Withhold primary cells, `forced` ones, and complements until none is recoverable."""
    if minimum < 1:
        raise ValueError("minimum: at least 1")
    table.withheld |= primary(table, minimum) | (forced or set())
    while True:
        exposed = sorted(recoverable(table))
        if not exposed:
            return table
        complement = _complement(table, exposed[0])
        if complement is None:  # everything withheld already: nothing is published
            return table
        table.withheld |= complement


def protect_all(tables: Sequence[Table], minimum: int = 10) -> list[Table]:
    """Tables over the same rows: row totals withheld in one are withheld in all."""
    forced: set[Cell] = set()
    while True:
        for table in tables:
            protect(table, minimum, forced)
        totals = {
            cell for table in tables for cell in table.withheld if cell[1] == table.cols
        }
        if totals <= forced:
            return list(tables)
        forced |= totals


def rounded(value: int | None, base: int | None) -> int | None:
    """Round half up to a multiple of `base` (None or 1: unchanged)."""
    if value is None or not base or base == 1:
        return value
    return ((value + base // 2) // base) * base
