import pytest

from slmtui.config import TrainConfig
from slmtui.ml.presets import Hardware, PresetError, choose_preset, detect_hardware

LAPTOP = Hardware("cpu", "CPU", 4, 8.0, 0.0, 0, False)
SMALL_LAPTOP = Hardware("cpu", "CPU", 2, 4.0, 0.0, 0, False)
GPU_24 = Hardware("cuda", "RTX", 16, 64.0, 24.0, 1, True)
GPU_8 = Hardware("cuda", "laptop GPU", 8, 16.0, 8.0, 1, True)


def test_auto_picks_by_device_and_memory_sets_the_micro_batch():
    laptop = choose_preset(TrainConfig(), LAPTOP)
    assert laptop.name == "cpu-quick" and laptop.dtype == "float32" and not laptop.qlora
    assert choose_preset(TrainConfig(), SMALL_LAPTOP).micro_batch == 2
    assert choose_preset(TrainConfig(preset="cpu-full"), SMALL_LAPTOP).micro_batch == 2
    big = choose_preset(TrainConfig(), GPU_24)
    assert big.name == "gpu" and big.dtype == "bfloat16" and big.qlora and big.micro_batch == 16
    assert choose_preset(TrainConfig(), GPU_8).micro_batch == 4
    assert not choose_preset(TrainConfig(qlora=False), GPU_24).qlora


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
