import pytest

from slmtui.config import TrainConfig
from slmtui.ml.presets import Hardware, PresetError, choose_preset, detect_hardware

LAPTOP = Hardware("cpu", "CPU", 4, 8.0, 0.0, 0, False)
SMALL_LAPTOP = Hardware("cpu", "CPU", 2, 4.0, 0.0, 0, False)
GPU_24 = Hardware("cuda", "RTX 4090", 16, 64.0, 24.0, 1, True, 8.9)
GPU_8 = Hardware("cuda", "laptop GPU", 8, 16.0, 8.0, 1, True, 8.6)
TURING = Hardware("cuda", "RTX 2080", 8, 32.0, 8.0, 1, False, 7.5)
QWEN_1_5B = 1_543_714_304


def test_auto_picks_by_device_and_memory_sets_the_micro_batch():
    laptop = choose_preset(TrainConfig(), LAPTOP)
    assert laptop.name == "cpu-quick" and laptop.dtype == "float32" and not laptop.qlora
    assert choose_preset(TrainConfig(), SMALL_LAPTOP).micro_batch == 2
    assert choose_preset(TrainConfig(preset="cpu-full"), SMALL_LAPTOP).micro_batch == 2
    big = choose_preset(TrainConfig(), GPU_24)
    # On a card the probe sizes the micro-batch (ml/fit.py); the preset's is where it starts.
    assert big.name == "gpu" and big.dtype == "bfloat16" and big.micro_batch == 4
    assert big.checkpointing and not laptop.checkpointing


def test_qlora_only_where_16_bit_weights_crowd_the_card():
    # 135M in 16 bits is 0.27 GB: plain LoRA on any card; 1.5B is 3.1 GB: 4 bits on 8 GB.
    assert not choose_preset(TrainConfig(), GPU_8, base_params=134_515_008).qlora
    assert choose_preset(TrainConfig(), GPU_8, base_params=QWEN_1_5B).qlora
    assert not choose_preset(TrainConfig(), GPU_24, base_params=QWEN_1_5B).qlora
    assert choose_preset(TrainConfig(qlora="on"), GPU_24, base_params=10).qlora
    assert choose_preset(TrainConfig(qlora="on"), LAPTOP).qlora  # asked for: on a CPU too
    assert not choose_preset(TrainConfig(qlora="off"), GPU_8, base_params=QWEN_1_5B).qlora
    # An older slmtui.toml's booleans: true was the default (now 'auto'), false is 'off'.
    assert not choose_preset(TrainConfig(qlora=True), GPU_24, base_params=10).qlora
    assert not choose_preset(TrainConfig(qlora=False), GPU_8, base_params=QWEN_1_5B).qlora
    assert choose_preset(TrainConfig(gradient_checkpointing=False), GPU_8).checkpointing
    assert choose_preset(TrainConfig(gradient_checkpointing=True), LAPTOP).checkpointing
    assert not choose_preset(TrainConfig(gradient_checkpointing="off"), GPU_8).checkpointing


def test_gpu_preset_gives_a_personal_corpus_enough_steps():
    from slmtui.ml.budget import plan_steps

    preset = choose_preset(TrainConfig(), GPU_24)
    steps = plan_steps(100_000, preset.batch_tokens, 0.05, time_budget_s=preset.time_budget_s,
                       max_epochs=preset.max_epochs, fixed_steps=0)  # fmt: skip
    assert steps.steps >= 25


def test_overrides_win_and_zero_means_the_preset():
    preset = choose_preset(TrainConfig(max_steps=7, learning_rate=1e-4, seq_len=256), LAPTOP)
    assert (preset.max_steps, preset.learning_rate, preset.seq_len) == (7, 1e-4, 256)
    assert choose_preset(TrainConfig(preset="cpu-full"), LAPTOP).max_steps == 200


def test_gpu_preset_on_a_cpu_machine_is_refused_with_advice():
    with pytest.raises(PresetError, match=r"needs CUDA.*cpu-quick"):
        choose_preset(TrainConfig(preset="gpu"), LAPTOP)


def test_detect_hardware_reads_this_machine():
    hardware = detect_hardware()
    assert hardware.ram_gb > 0.5 and hardware.cpu_threads >= 1
    assert hardware.device in ("cpu", "cuda")


def test_precision_follows_the_hardware_unless_set():
    bf16_cpu = Hardware("cpu", "CPU", 2, 24.0, 0.0, 0, True)
    assert choose_preset(TrainConfig(), bf16_cpu).dtype == "bfloat16"
    assert choose_preset(TrainConfig(precision="float32"), bf16_cpu).dtype == "float32"
    assert choose_preset(TrainConfig(precision="float32"), GPU_24).dtype == "float32"
    assert choose_preset(TrainConfig(precision="bfloat16"), bf16_cpu).dtype == "bfloat16"
    with pytest.raises(PresetError, match=r"no AVX512-BF16 or AMX.*float32"):
        choose_preset(TrainConfig(precision="bfloat16"), LAPTOP)


def test_bfloat16_only_where_native_float16_with_a_scaler_before():
    assert choose_preset(TrainConfig(), TURING).dtype == "float16"
    # Gemma's activations overflow float16: float32 on such a card, and float16 is refused.
    assert choose_preset(TrainConfig(), TURING, family="gemma3_text").dtype == "float32"
    with pytest.raises(PresetError, match="overflow float16"):
        choose_preset(TrainConfig(precision="float16"), TURING, family="gemma3_text")
    with pytest.raises(PresetError, match=r"compute capability 7\.5.*emulate"):
        choose_preset(TrainConfig(precision="bfloat16"), TURING)
    with pytest.raises(PresetError, match="only on CUDA"):
        choose_preset(TrainConfig(precision="float16"), LAPTOP)
