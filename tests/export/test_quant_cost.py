"""The figures a quantization is judged by, checked against direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from slmtui.ml.quant_cost import QuantCost, compare_logits, log_softmax, refusal, within_budget


def test_compare_logits_against_direct_sums():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(6, 50)).astype(np.float32)
    other = reference + rng.normal(scale=0.3, size=(6, 50)).astype(np.float32)
    tokens = [3, 7, 1, 40, 2, 9]
    parts = compare_logits(log_softmax(reference), other, tokens)
    p = np.exp(reference) / np.exp(reference).sum(1, keepdims=True)
    q = np.exp(other) / np.exp(other).sum(1, keepdims=True)
    kl = float((p[:5] * np.log(p[:5] / q[:5])).sum())
    assert parts["kl"] == pytest.approx(kl, rel=1e-4)
    assert parts["loss"] == pytest.approx(-np.log(q[range(5), tokens[1:]]).sum())
    assert parts["top1"] == int((p[:5].argmax(1) == q[:5].argmax(1)).sum())
    same = compare_logits(log_softmax(reference), reference, tokens)
    assert abs(same["kl"]) < 1e-5 and same["top1"] == 5


def test_budget_decides_and_a_refusal_says_cost_budget_and_key():
    cost = QuantCost("Q4_K_M", ppl_f16=20.0, ppl=22.0, kl=0.05, top1=0.85, tokens=4000, texts=9)
    assert round(cost.ppl_change, 6) == 10.0
    assert within_budget(cost, 12.0) and not within_budget(cost, 8.0) and within_budget(cost, None)
    reason = refusal(cost, 8.0)
    assert "Q4_K_M costs ppl +10.00%, KL 0.0500, top-1 85.0% on 4,000 tokens" in reason
    assert "budget of +8.0%" in reason and "[export] q4_k_m_max_ppl_increase" in reason
