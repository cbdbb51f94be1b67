"""Errors of activation; ``code`` is the word the API answers with (``{"error": code}``).

A member who is not in the group gets ``qunyun.core.errors.NotFound``: to them the packet or
sale does not exist.
"""

from __future__ import annotations

from qunyun.core.errors import Conflict


class ActivationConflict(Conflict):
    """A member's attempt the current state refuses."""

    code = "conflict"


class AlreadyGrabbed(ActivationConflict):
    """The member already holds a share of this red packet."""

    code = "already_grabbed"


class PacketEmpty(ActivationConflict):
    """Every share of the red packet is taken."""

    code = "empty"


class SoldOut(ActivationConflict):
    """Not enough stock is left for the quantity asked."""

    code = "sold_out"


class LimitExceeded(ActivationConflict):
    """The quantity would take the member past the per-member limit (or the team is full)."""

    code = "limit_exceeded"


class NotStarted(ActivationConflict):
    """The sale, deal or draw has not started yet."""

    code = "not_started"


class Ended(ActivationConflict):
    """The sale, deal, packet or draw is over (ended, expired or closed)."""

    code = "ended"


class BudgetExceeded(ActivationConflict):
    """The group's red-packet budget for the month has not enough left."""

    code = "budget_exceeded"


class RoundOpen(ActivationConflict):
    """The relay's current round is still being grabbed: its best luck is not known yet."""

    code = "round_open"


class NotAsked(ActivationConflict):
    """Someone other than the last round's best-luck grabber tries to send the next round."""

    code = "not_asked"


class RoundSent(ActivationConflict):
    """The relay's next round was sent meanwhile (by another request)."""

    code = "round_sent"
