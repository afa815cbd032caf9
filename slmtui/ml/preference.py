"""The preference loss: DPO on the pairs your chat feedback makes, beside the ordinary loss.

Why DPO: its reference is the same network with the LoRA switched off (`disable_adapter`), so
it costs no second model in memory, and the reference's log-probabilities are measured once
per run (they never change). ORPO and SimPO need no reference at all but tie the preference to
the ordinary loss's scale (ORPO) or to length-normalised likelihoods (SimPO); with a handful of
pairs among thousands of examples, DPO's anchor to the base keeps the rest of the voice where
it was. `benchmarks/feedback_bench.py` measures what the pairs add over the corrections alone.

    loss = -log sigmoid(beta * ((chosen - chosen_ref) - (rejected - rejected_ref)))

where each term is the sum of the reply's token log-probabilities after the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from slmtui.ml.data import IGNORE, Pair

BETA = 0.1  # DPO's temperature: how far the tuned model may move from the base per pair
PAIRS_PER_STEP = 2  # pairs in each step's preference loss, taken in turn


def reply_logp(model, row: tuple[list[int], list[int]], device, autocast) -> torch.Tensor:
    """The sum of the log-probabilities of the labelled tokens (the reply) of one row."""
    base = model.get_base_model()
    ids = torch.tensor([row[0]], device=device)
    labels = torch.tensor([row[1]], device=device)
    positions = torch.arange(ids.shape[1], device=device).unsqueeze(0)
    with autocast():
        hidden = base.model(input_ids=ids, position_ids=positions, use_cache=False)
    targets = labels[:, 1:]
    keep = targets != IGNORE
    with autocast():
        logits = base.lm_head(hidden.last_hidden_state[:, :-1][keep])
    logps = F.log_softmax(logits.float(), dim=-1)
    return logps.gather(1, targets[keep].unsqueeze(1)).sum()


@torch.no_grad()
def reference_logps(model, pairs: list[Pair], device, autocast) -> list[tuple[float, float]]:
    """(chosen, rejected) log-probabilities under the base: the adapter switched off."""
    was_training = model.training
    model.eval()
    with model.disable_adapter():
        found = [
            (
                float(reply_logp(model, pair.chosen, device, autocast)),
                float(reply_logp(model, pair.rejected, device, autocast)),
            )
            for pair in pairs
        ]
    model.train(was_training)
    return found


@dataclass
class PreferenceStep:
    """What one step's pairs showed: the mean DPO loss, and how much more likely the chosen
    reply is than the rejected one (log-probability difference, mean over the pairs)."""

    loss: float
    chosen_minus_rejected: float


def pair_loss(
    model, pair: Pair, reference: tuple[float, float], device, autocast
) -> tuple[torch.Tensor, float]:
    """The DPO loss of one pair (with its graph) and the chosen-minus-rejected log-probability."""
    chosen = reply_logp(model, pair.chosen, device, autocast)
    rejected = reply_logp(model, pair.rejected, device, autocast)
    margin = (chosen - reference[0]) - (rejected - reference[1])
    return -F.logsigmoid(BETA * margin), float((chosen - rejected).detach())


def step_pairs(step: int, count: int, rank: int = 0, world: int = 1) -> list[int]:
    """The pairs of a step that this rank computes: PAIRS_PER_STEP of them in turn."""
    if count == 0:
        return []
    chosen = [(step * PAIRS_PER_STEP + k) % count for k in range(min(PAIRS_PER_STEP, count))]
    return [index for k, index in enumerate(chosen) if k % world == rank]
