"""Ollama Modelfiles for the chat template families our bases use."""

from __future__ import annotations

from slmtui.export.modelfile import render_modelfile, template_family

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
)


def test_chatml_models_get_a_chatml_template_and_stops():
    text = render_modelfile("model-Q8_0.gguf", SMOLLM2_TEMPLATE, system="Be brief.")
    lines = text.splitlines()
    assert lines[1] == "FROM ./model-Q8_0.gguf"
    assert "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>" in text
    assert text.count('TEMPLATE """') == 1 and 'SYSTEM """Be brief."""' in text
    assert 'PARAMETER stop "<|im_end|>"' in lines and "PARAMETER temperature 0.7" in lines
    assert "PARAMETER num_ctx 2048" in lines


def test_llama3_and_unknown_templates():
    llama3 = render_modelfile("m.gguf", "{{ '<|start_header_id|>' }}")
    assert 'PARAMETER stop "<|eot_id|>"' in llama3 and "<|end_header_id|>" in llama3
    plain = render_modelfile("m.gguf", "{{ messages }}")
    assert 'TEMPLATE """{{ .Prompt }}"""' in plain and "not one slmtui can translate" in plain
    assert "PARAMETER stop" not in plain
    assert template_family(None) is None and template_family(SMOLLM2_TEMPLATE).name == "chatml"
