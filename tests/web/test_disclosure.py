"""Disclosure control, on tables worked out by hand (cells are (row, column); the last
row holds the column totals, the last column the row totals)."""

from __future__ import annotations

import itertools
import random

import pytest

from lrs.opendata.disclosure import Table, primary, protect, protect_all, recoverable, rounded


def test_a_small_cell_in_a_two_by_two_table_takes_all_four_interior_cells() -> None:
    #        a    b  | total
    # row 0  20   3  | 23
    # row 1  15  12  | 27
    # total  35  15  | 50
    # 3 < 10 is withheld; with the totals published any single partner in its row or
    # column gives it back (23 - 20), so the whole interior goes, the totals stay.
    table = protect(Table([[20, 3], [15, 12]]), minimum=10)
    assert table.withheld == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert [table.published((r, 2)) for r in range(3)] == [23, 27, 50]
    assert [table.published((2, c)) for c in range(2)] == [35, 15]
    assert recoverable(table) == set()


def test_the_cheapest_rectangle_protects_a_small_cell_in_a_larger_table() -> None:
    #        a    b    c  | total
    # row 0  30   40   2  |  72
    # row 1  25   35  50  | 110
    # row 2  45   60  70  | 175
    # total 100  135 122  | 357
    # The rectangles through (0,2) cost 30+25+50=105 (rows 0-1, columns a,c), 145, 125 and
    # 170: the first is withheld. Then row 0 gives a+c = 32, row 1 a'+c' = 75, column a
    # a+a' = 55, column c c+c' = 52: four unknowns, three independent sums, none fixed.
    table = protect(Table([[30, 40, 2], [25, 35, 50], [45, 60, 70]]), minimum=10)
    assert table.withheld == {(0, 0), (0, 2), (1, 0), (1, 2)}
    assert recoverable(table) == set()


def test_a_small_group_is_withheld_whole_with_a_second_group() -> None:
    #        a    b  | total
    # row 0   5   3  |   8   <- a group of 8 persons: nothing of it is published
    # row 1  20  30  |  50
    # row 2  25  15  |  40
    # total  50  48  |  98
    # With row 0 alone withheld, 98 - 50 - 40 = 8 and 50 - 20 - 25 = 5 give it back; the
    # cheapest partner is row 2 (withholding 25 + 15 + 40): then only the sums of rows 0
    # and 2 are known (30, 18, 48), not either row.
    table = protect(Table([[5, 3], [20, 30], [25, 15]]), minimum=10)
    assert table.withheld == {(0, 0), (0, 1), (0, 2), (2, 0), (2, 1), (2, 2)}
    assert table.published((3, 2)) == 98


def test_recoverable_finds_what_subtraction_gives_back() -> None:
    table = Table([[20, 3], [15, 12]], withheld={(0, 1)})
    assert recoverable(table) == {(0, 1)}  # 23 - 20
    table.withheld = {(0, 1), (1, 1)}  # same column: row 0 still gives 3 back
    assert recoverable(table) == {(0, 1), (1, 1)}
    table.withheld = {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert recoverable(table) == set()


def test_zeros_are_published_and_counts_at_the_minimum_too() -> None:
    table = Table([[0, 10], [12, 0]])
    assert primary(table, 10) == set()
    assert protect(table, 10).withheld == set()


def test_tables_over_the_same_groups_withhold_the_same_totals() -> None:
    # Two competences over the same three groups (row totals 8, 50, 40 in both).
    first = Table([[5, 3], [20, 30], [25, 15]])
    second = Table([[8, 0], [10, 40], [20, 20]])
    protect_all([first, second], minimum=10)
    totals = {cell for cell in first.withheld if cell[1] == 2}
    assert totals == {cell for cell in second.withheld if cell[1] == 2}
    assert (0, 2) in totals
    assert recoverable(first) == set() and recoverable(second) == set()


@pytest.mark.parametrize("seed", range(30))
def test_no_withheld_cell_is_ever_recoverable(seed: int) -> None:
    """Every table of small random counts: each count under the minimum is withheld and
    none can be recovered, whatever the shape."""
    rng = random.Random(seed)
    rows, cols = rng.randint(1, 5), rng.randint(1, 4)
    counts = [[rng.choice([0, 1, 2, 5, 9, 10, 14, 30, 80]) for _ in range(cols)] for _ in range(rows)]
    table = protect(Table(counts), minimum=10)
    for cell in itertools.product(range(rows + 1), range(cols + 1)):
        if 0 < table.value(cell) < 10:
            assert cell in table.withheld
    assert recoverable(table) == set()


def test_rounding_to_base_five() -> None:
    assert [rounded(v, 5) for v in (0, 2, 3, 7, 12, 13, 100)] == [0, 0, 5, 5, 10, 15, 100]
    assert rounded(None, 5) is None
    assert rounded(13, 0) == 13


def test_a_minimum_under_one_is_refused() -> None:
    with pytest.raises(ValueError, match="minimum"):
        protect(Table([[1]]), minimum=0)


@pytest.mark.parametrize("seed", range(20))
def test_the_modular_elimination_agrees_with_exact_fractions(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lrs.opendata import disclosure

    rng = random.Random(seed)
    rows, cols = rng.randint(1, 6), rng.randint(1, 4)
    table = Table([[rng.randint(0, 30) for _ in range(cols)] for _ in range(rows)])
    cells = table.cells()
    table.withheld = set(rng.sample(cells, rng.randint(1, len(cells))))
    fast = recoverable(table)
    monkeypatch.setattr(disclosure, "EXACT_RANK", 0)
    assert recoverable(table) == fast
