"""How many optimizer steps a run takes: a time budget and a number of passes, not a constant.

A fixed step count is wrong for everybody: it is a sliver of a large corpus and many passes
over a tiny one. The quick presets aim at a wall-clock budget on the machine at hand (about
five minutes, from the measured matmul rate) and stop early when they would pass over the
training text more than `max_epochs` times; a step count set by the person wins over both.
Pure arithmetic, so the planner is tested without a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_STEPS = 8  # fewer steps than this do not move a LoRA adapter measurably


@dataclass(frozen=True)
class StepPlan:
    steps: int
    epochs: float  # passes over the training text the steps add up to
    limited_by: str  # "time", "epochs" or "setting"


def plan_steps(
    train_tokens: int,
    tokens_per_step: int,
    seconds_per_step: float,
    *,
    time_budget_s: float,
    max_epochs: float,
    fixed_steps: int = 0,
) -> StepPlan:
    """Steps for a run: `fixed_steps` when set, else as many as fit in `time_budget_s` without
    going over the text more than `max_epochs` times (never under MIN_STEPS)."""
    train_tokens = max(1, train_tokens)

    def epochs(steps: int) -> float:
        return steps * tokens_per_step / train_tokens

    if fixed_steps or time_budget_s <= 0:
        steps = max(1, fixed_steps)
        return StepPlan(steps, epochs(steps), "setting")
    by_time = math.floor(time_budget_s / max(seconds_per_step, 1e-9))
    by_epochs = math.ceil(max_epochs * train_tokens / tokens_per_step)
    steps = max(MIN_STEPS, min(by_time, by_epochs))
    return StepPlan(steps, epochs(steps), "time" if by_time <= by_epochs else "epochs")
