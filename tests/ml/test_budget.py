"""The step planner: a time budget, capped by passes over the text, a setting wins."""

import pytest

from slmtui.config import TrainConfig
from slmtui.ml.budget import MIN_STEPS, plan_steps
from slmtui.ml.presets import Hardware, choose_preset
from slmtui.ml.setup import lr_at

CPU = Hardware("cpu", "CPU", 2, 24.0, 0.0, 0, False)


def test_a_small_corpus_gets_several_passes_and_stops_at_the_epoch_cap():
    plan = plan_steps(10_000, 1024, 1.0, time_budget_s=300, max_epochs=3)
    assert plan.limited_by == "epochs"
    assert plan.steps == 30  # ceil(3 * 10,000 / 1,024)
    assert 2.9 < plan.epochs < 3.2


def test_a_large_corpus_gets_what_the_time_budget_allows():
    plan = plan_steps(1_000_000, 1024, 4.0, time_budget_s=300, max_epochs=3)
    assert plan.limited_by == "time"
    assert plan.steps == 75
    assert plan.epochs == pytest.approx(75 * 1024 / 1_000_000)


def test_a_slower_machine_plans_fewer_steps_for_the_same_budget():
    fast = plan_steps(1_000_000, 1024, 2.0, time_budget_s=300, max_epochs=3)
    slow = plan_steps(1_000_000, 1024, 6.0, time_budget_s=300, max_epochs=3)
    assert slow.steps * 3 == fast.steps


def test_never_fewer_than_the_minimum_and_a_set_step_count_wins():
    tiny = plan_steps(500, 1024, 100.0, time_budget_s=300, max_epochs=3)
    assert tiny.steps == MIN_STEPS
    fixed = plan_steps(1_000_000, 1024, 1.0, time_budget_s=300, max_epochs=3, fixed_steps=7)
    assert (fixed.steps, fixed.limited_by) == (7, "setting")
    untimed = plan_steps(1_000_000, 1024, 1.0, time_budget_s=0, max_epochs=3, fixed_steps=200)
    assert untimed.steps == 200


def test_quick_preset_plans_by_time_unless_steps_or_minutes_are_set():
    quick = choose_preset(TrainConfig(preset="cpu-quick"), CPU)
    assert quick.max_steps == 0 and quick.time_budget_s == 300
    assert choose_preset(TrainConfig(preset="cpu-quick", minutes=2), CPU).time_budget_s == 120
    assert choose_preset(TrainConfig(preset="cpu-quick", max_steps=9), CPU).max_steps == 9
    assert choose_preset(TrainConfig(preset="cpu-quick", max_epochs=6), CPU).max_epochs == 6
    full = choose_preset(TrainConfig(preset="cpu-full", minutes=2), CPU)
    assert full.time_budget_s == 0 and full.max_steps == 200


@pytest.mark.parametrize("steps", [8, 75, 300])
def test_the_schedule_fits_the_planned_steps(steps):
    """Warmup over the first twentieth, the peak once, and the floor reached at the last step."""
    rates = [lr_at(step, steps, 1.0) for step in range(steps)]
    assert max(rates) == pytest.approx(1.0)
    assert rates.index(max(rates)) == max(1, steps // 20) - 1
    assert rates[-1] == pytest.approx(0.1, abs=0.02)
