"""The model a run trains: the base (in the precision the preset chose, 4-bit under QLoRA), its
attention made to respect packed rows, and the LoRA adapter, new or continued from the last
run's, with the fused LoRA forward (ml/fused_lora.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from slmtui.ml.fused_lora import use_fused_lora
from slmtui.ml.packed_attention import use_packed_attention
from slmtui.ml.presets import Preset
from slmtui.ml.setup import DTYPES
from slmtui.runs import RunPlan

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# Non-reentrant checkpointing: the reentrant kind needs inputs that require grad and warns.
CHECKPOINTING = {"use_reentrant": False}


def load_model(plan: RunPlan, preset: Preset, device: torch.device, folder: Path):
    from peft import LoraConfig, PeftModel, get_peft_model

    from slmtui.ml.base import load_base

    compute = DTYPES[preset.dtype]
    quantization = None
    if preset.qlora:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute,  # float32 stays float32: no silent float16
            bnb_4bit_use_double_quant=True,
        )
    # On a card the frozen weights are held in the compute precision; on a CPU in float32
    # (bfloat16 there is autocast, see module docstring of fused_lora).
    weights_dtype = compute if device.type == "cuda" else torch.float32
    model, tokenizer = load_base(
        folder, dtype=weights_dtype, device=str(device), quantization=quantization
    )
    # Rows hold several examples: attend within each, skipping the masked-out work (see module).
    use_packed_attention(model)
    if preset.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=preset.checkpointing,
            gradient_checkpointing_kwargs=CHECKPOINTING,
        )
    elif preset.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=CHECKPOINTING)
        model.enable_input_require_grads()
    model.config.use_cache = False
    if plan.init_adapter is not None:
        model = PeftModel.from_pretrained(model, str(plan.init_adapter), is_trainable=True)
    else:
        lora = LoraConfig(
            r=plan.train.lora_r,
            lora_alpha=plan.train.lora_alpha,
            lora_dropout=plan.train.lora_dropout,
            target_modules=LORA_TARGETS,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    # LoRA added into the base output in place, without PEFT's elementwise passes (see module).
    use_fused_lora(model)
    return model, tokenizer, folder
