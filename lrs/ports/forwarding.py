"""The forwarding port: rules, each rule's own durable offset in the log, its dead letters.

A rule's forwarder is one more consumer of the store's log (lrs.ports.log), with an
offset of its own that it moves only after the destination accepted a batch: a crash or
a restart sends the batch again (at least once), and statement ids make that harmless.
Unlike a projection's offset it can also move back (replay from a date).
"""

from __future__ import annotations

from typing import Protocol

from lrs.domain.forwarding import DeadLetter, ForwardRule, ForwardState


class Forwarding(Protocol):
    def save_forward_rule(self, rule: ForwardRule) -> None:
        """Create or replace the rule with `rule.id`; its state and dead letters stay."""
        ...

    def get_forward_rule(self, rule_id: str) -> ForwardRule | None: ...

    def list_forward_rules(self) -> list[ForwardRule]:
        """Every rule, ordered by id."""
        ...

    def delete_forward_rule(self, rule_id: str) -> bool:
        """Remove a rule with its state and dead letters; False when there was none."""
        ...

    def forward_state(self, rule_id: str) -> ForwardState:
        """The rule's state (all zero before its first delivery)."""
        ...

    def record_delivery(self, rule_id: str, offset: int, delivered: int) -> None:
        """A batch was accepted: the offset moves forward to `offset` (never back), the
        delivered count grows by `delivered`, and the retry schedule is cleared."""
        ...

    def record_failure(self, rule_id: str, error: str, next_attempt: float) -> int:
        """A batch failed: count it, keep the error and when to try again; the attempts
        made on this batch so far (this one included)."""
        ...

    def rewind_forwarding(self, rule_id: str, offset: int) -> None:
        """Set the offset to exactly `offset` (backwards too) and clear the retry schedule:
        the statements after it are sent again."""
        ...

    def dead_letter(self, rule_id: str, letters: list[DeadLetter], offset: int) -> None:
        """Keep `letters` (one per rule and log offset; a letter already kept is updated)
        and move the offset past them, in one transaction, clearing the retry schedule."""
        ...

    def list_dead_letters(
        self, rule_id: str, after: int = 0, limit: int = 100, replay_only: bool = False
    ) -> list[DeadLetter]:
        """Dead letters with offset > after, in log order."""
        ...

    def mark_dead_letters_for_replay(self, rule_id: str, offsets: list[int] | None) -> int:
        """Mark the given dead letters (None: all of the rule's) for replay; how many."""
        ...

    def remove_dead_letters(self, rule_id: str, offsets: list[int]) -> None:
        """Forget delivered (replayed) dead letters."""
        ...

    def redact_dead_letters(
        self, rule_id: str, deleted: list[int], rewritten: dict[int, bytes]
    ) -> None:
        """In one transaction: drop the rule's dead letters at the `deleted` log offsets
        (the rule's dead count goes down with them) and replace the statement bytes of
        those at the `rewritten` ones, keeping their attempts, error and replay mark
        (erasure and retention: lrs.ops.forwarding.settle_dead_letters)."""
        ...

    def log_offset_before(self, stored: str) -> int:
        """The offset of the last statement stored before `stored` (a stored-format UTC
        time), 0 when none: where a replay from that time starts."""
        ...

    def log_end(self) -> int:
        """The offset of the last statement in the log (0 when empty): a forwarder's lag is
        this less its offset."""
        ...


class DeadLetterCopies(Forwarding, Protocol):
    """Dead letters beside the statements they copy: what settling them reads."""

    def get_statement(self, statement_id: str, *, voided: bool) -> bytes | None: ...
