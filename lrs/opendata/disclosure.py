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
   `recoverable` decides it exactly (Gaussian elimination over fractions), and `protect`
   withholds, for a recoverable cell, the other corners of the cheapest rectangle through
   it (or one cell of its row or column), until none is recoverable. So whatever anyone
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


def recoverable(table: Table) -> set[Cell]:
    """The withheld cells whose value the published ones and the sums determine."""
    hidden = sorted(table.withheld)
    if not hidden:
        return set()
    index = {cell: i for i, cell in enumerate(hidden)}
    matrix: list[list[Fraction]] = []
    for line in _equations(table):
        *parts, margin = line
        row = [Fraction(0)] * len(hidden)
        for cell in parts:
            if cell in index:
                row[index[cell]] += 1
        if margin in index:
            row[index[margin]] -= 1
        if any(row):
            matrix.append(row)
    # Reduced row echelon form: a variable is determined iff some reduced row has it alone.
    pivot_row = 0
    for col in range(len(hidden)):
        found = next((r for r in range(pivot_row, len(matrix)) if matrix[r][col] != 0), None)
        if found is None:
            continue
        matrix[pivot_row], matrix[found] = matrix[found], matrix[pivot_row]
        lead = matrix[pivot_row][col]
        matrix[pivot_row] = [v / lead for v in matrix[pivot_row]]
        for r in range(len(matrix)):
            if r != pivot_row and matrix[r][col] != 0:
                factor = matrix[r][col]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[pivot_row], strict=True)]
        pivot_row += 1
    found_cells = set()
    for row in matrix[:pivot_row]:
        nonzero = [i for i, v in enumerate(row) if v != 0]
        if len(nonzero) == 1:
            found_cells.add(hidden[nonzero[0]])
    return found_cells


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
    """The cells to withhold with a recoverable `cell`: among `_candidates`, those leaving
    the fewest cells recoverable, then the fewest zeros (a zero partner says little), then
    the fewest margins (totals stay published where they can), then the least withheld."""

    def cost(cells: set[Cell]) -> tuple[int, int, int, int, list[Cell]]:
        trial = Table(table.counts, table.withheld | cells)
        values = [table.value(c) for c in cells]
        margins = sum(1 for r, c in cells if r == table.rows or c == table.cols)
        return (len(recoverable(trial)), values.count(0), margins, sum(values), sorted(cells))

    candidates = _candidates(table, cell)
    return min(candidates, key=cost) if candidates else None


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
