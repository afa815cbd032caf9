"""`[chat] gpu_layers` reaches llama.cpp wherever a model is loaded (this machine's llama.cpp is
a CPU build: the layers are asked for, and llama.cpp keeps them on the CPU)."""

from __future__ import annotations

from slmtui.chat.engine import ChatEngine
from slmtui.chat.llama import load_llama, offloaded_layers
from slmtui.chat.serve import ServePlan, build_app
from slmtui.chat.targets import resolve_target
from slmtui.config import Config
from slmtui.config_file import load_config


def test_the_setting_resolves_by_the_build_and_the_card():
    from llama_cpp import llama_supports_gpu_offload

    assert offloaded_layers(-1) == (-1 if llama_supports_gpu_offload() else 0)
    assert offloaded_layers(12) == 12 and offloaded_layers(0) == 0
    assert offloaded_layers(-1, card_busy=True) == 0 and offloaded_layers(12, card_busy=True) == 0
    assert Config().chat.gpu_layers == -1


def test_layers_are_passed_to_llama_cpp(workspace):
    target = resolve_target(workspace, "default", "base")
    llm = load_llama(target.model_path, n_ctx=256, gpu_layers=7)
    assert llm.model_params.n_gpu_layers == 7
    llm.close()
    engine = ChatEngine(target, n_ctx=256, gpu_layers=3)
    engine.load()
    assert engine._llm.model_params.n_gpu_layers == 3
    engine.close()


def test_serve_passes_them_to_the_server_settings(workspace, monkeypatch):
    from llama_cpp.server import settings

    captured = {}
    real = settings.ModelSettings

    def spy(**values):
        captured.update(values)
        return real(**values)

    monkeypatch.setattr(settings, "ModelSettings", spy)
    monkeypatch.setattr("llama_cpp.server.app.create_app", lambda **kwargs: kwargs)
    target = resolve_target(workspace, "default", "base")
    build_app(ServePlan(target, "127.0.0.1", 0, 256, "slmtui", gpu_layers=5))
    assert captured["n_gpu_layers"] == 5


def test_the_setting_is_read_from_the_file(tmp_path):
    path = tmp_path / "slmtui.toml"
    path.write_text("[chat]\ngpu_layers = 20\n")
    assert load_config(path).chat.gpu_layers == 20
