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


def _time_budget(steps: int, seconds_per_step: float, **changes):
    from slmtui.ml.setup import Budget

    values = dict(
        steps=steps, micro_batch=2, accumulation=1, tokens_per_step=1024,
        estimated_seconds=300.0, limited_by="time", seconds_per_step=seconds_per_step,
        validation_pass_s=20.0, validation_measured=False, validations_left=1,
        most_steps=10_000, time_budget_s=300.0,
    )  # fmt: skip
    values.update(changes)
    return Budget(**values)


def test_a_run_faster_than_planned_takes_more_steps_and_still_ends_on_time():
    from slmtui.ml.setup import replan

    # Planned at 4 s a step (70 steps), measured at 2 s after 4 steps and 30 s of wall time:
    # the validation estimate scales with the steps (20 s -> 10 s), the rest is steps.
    budget = _time_budget(70, 4.0)
    assert replan(budget, 4, 2.0, 30.0) == 4 + (300 - 30 - 10) // 2
    assert budget.estimated_seconds == pytest.approx(300.0, abs=2.0)
    # A measured validation pass is taken as it is.
    measured = _time_budget(70, 4.0, validation_pass_s=50.0, validation_measured=True)
    assert replan(measured, 4, 2.0, 30.0) == 4 + (300 - 30 - 50) // 2


def test_a_replan_keeps_the_passes_cap_and_never_undoes_steps():
    from slmtui.ml.setup import replan

    assert replan(_time_budget(70, 4.0, most_steps=40), 4, 1.0, 20.0) == 40
    slow = _time_budget(70, 1.0)
    assert replan(slow, 30, 50.0, 290.0) == 31  # past the budget: stop after the next step
    assert replan(_time_budget(70, 4.0, limited_by="epochs"), 4, 1.0, 20.0) is None
    assert replan(_time_budget(70, 4.0, limited_by="setting"), 4, 1.0, 20.0) is None


def test_validation_and_the_time_already_spent_come_out_of_the_budget():
    from slmtui.ml.setup import plan_budget

    class Device:
        type = "cpu"

    class Setup:
        preset = choose_preset(TrainConfig(preset="cpu-quick"), CPU)
        device = Device()

    class Plan:
        init_adapter = None

    params = 100_000_000
    alone = plan_budget(Plan(), Setup(), 10_000_000, params)
    loaded = plan_budget(Plan(), Setup(), 10_000_000, params, validations=2, val_tokens=8192,
                         spent_s=20.0)  # fmt: skip
    assert alone.limited_by == loaded.limited_by == "time"
    assert loaded.steps < alone.steps
    assert loaded.estimated_seconds == pytest.approx(alone.estimated_seconds, rel=0.05)
    assert loaded.validation_pass_s > 0 and loaded.validations_left == 2


def test_named_budgets_and_numbers_of_minutes():
    from slmtui.config import ConfigError, budget_minutes

    assert budget_minutes("quick") == 5.0 and budget_minutes("Evening") == 60.0
    assert budget_minutes("90") == 90.0
    for bad in ("0", "-3", "forever", str(24 * 60 + 1)):
        with pytest.raises(ConfigError, match="minutes"):
            budget_minutes(bad)
