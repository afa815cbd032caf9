"""An Ollama Modelfile for a published GGUF, so `ollama create` gives the same chat as slmtui.

Ollama does not run the GGUF's Jinja chat template; it needs a Go template that produces the same
text. We recognise the template families our bases use by their markers and write the matching
Go template and stop tokens. An unknown family gets a plain template and a comment saying so,
rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

CHATML = """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""
LLAMA3 = """<|begin_of_text|>
{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

"""
# Gemma has no system role: a system message is sent as a user turn.
GEMMA = """{{- range .Messages }}<start_of_turn>
{{- if eq .Role "assistant" }}model{{ else }}user{{ end }}
{{ .Content }}<end_of_turn>
{{ end }}<start_of_turn>model
"""
ZEPHYR = """{{- range .Messages }}<|{{ .Role }}|>
{{ .Content }}</s>
{{ end }}<|assistant|>
"""


@dataclass(frozen=True)
class TemplateFamily:
    name: str
    marker: str  # a string found in the Jinja template of this family
    go_template: str
    stops: tuple[str, ...]


FAMILIES = (
    TemplateFamily("chatml", "<|im_start|>", CHATML, ("<|im_start|>", "<|im_end|>")),
    TemplateFamily("llama3", "<|start_header_id|>", LLAMA3, ("<|eot_id|>", "<|start_header_id|>")),
    TemplateFamily("zephyr", "<|assistant|>", ZEPHYR, ("</s>", "<|user|>")),
    TemplateFamily("gemma", "<start_of_turn>", GEMMA, ("<end_of_turn>", "<start_of_turn>")),
)


def template_family(chat_template: str | None) -> TemplateFamily | None:
    for family in FAMILIES:
        if chat_template and family.marker in chat_template:
            return family
    return None


def render_modelfile(
    gguf_name: str,
    chat_template: str | None,
    *,
    system: str | None = None,
    temperature: float = 0.7,
    top_p: float = 0.9,
    repeat_penalty: float = 1.1,
    num_ctx: int = 2048,
) -> str:
    """The Modelfile text for `gguf_name` (a file next to it)."""
    family = template_family(chat_template)
    lines = [
        "# Made by slmtui. Create the model with:  ollama create NAME -f Modelfile",
        f"FROM ./{gguf_name}",
        "",
    ]
    if family is None:
        lines += [
            "# This model's chat template is not one slmtui can translate for Ollama;",
            "# the plain template below sends the prompt as it is.",
            'TEMPLATE """{{ .Prompt }}"""',
        ]
    else:
        lines.append(f'TEMPLATE """{family.go_template}"""')
        lines += [f'PARAMETER stop "{stop}"' for stop in family.stops]
    if system:
        lines.append(f'SYSTEM """{system}"""')
    lines += [
        f"PARAMETER temperature {temperature:g}",
        f"PARAMETER top_p {top_p:g}",
        f"PARAMETER repeat_penalty {repeat_penalty:g}",
        f"PARAMETER num_ctx {num_ctx}",
    ]
    return "\n".join(lines) + "\n"
