"""`slmtui serve`: the chosen model behind an OpenAI-compatible HTTP server on this machine.

We run llama-cpp-python's own server (FastAPI under uvicorn) rather than writing one: it speaks
the OpenAI chat and completion API, streams, and renders prompts with the GGUF's own chat
template, stopping at its end-of-turn token, exactly as the app's chat does. A LoRA target (the
newest adapter on the base) is applied at load time, as in chat.

It listens on 127.0.0.1 unless told otherwise: the model is yours, trained on your writing, and
should not be reachable from the network by accident.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from slmtui.chat.engine import ChatTarget

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080


class ServeError(RuntimeError):
    """The server cannot start; the message says what to change."""


@dataclass(frozen=True)
class ServePlan:
    target: ChatTarget
    host: str
    port: int
    n_ctx: int
    alias: str  # the model name clients send ("model": ...)
    gpu_layers: int = 0  # llama.cpp's n_gpu_layers

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def describe(self) -> str:
        """What is served where, and who can reach it: printed before the server starts."""
        lora = f" + {self.target.lora_path.name}" if self.target.lora_path else ""
        reach = (
            "only this machine can reach it (give --host 0.0.0.0 to share it on your network)"
            if self.host in (LOOPBACK, "localhost", "::1")
            else f"listening on {self.host}: other machines on your network can reach it"
        )
        return (
            f"serving {self.target.label} ({self.target.model_path.name}{lora}) as model "
            f"{self.alias!r} at {self.base_url}; {reach}. Ctrl-C stops it."
        )


def check_port_free(host: str, port: int) -> None:
    """Fail early, with a message, when the address is taken (uvicorn only logs and exits)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(
                    f"Port {port} on {host} is already taken (another server, or slmtui serve "
                    "running elsewhere?): stop it, or choose another port with --port."
                ) from exc
            raise ServeError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from exc


def build_app(plan: ServePlan):
    """llama-cpp-python's FastAPI app for the plan's model (loads the model: seconds)."""
    try:
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as exc:
        raise ServeError(
            f"The server's libraries are missing ({exc.name}); run `make setup` again."
        ) from exc
    model = ModelSettings(
        model=str(plan.target.model_path),
        model_alias=plan.alias,
        lora_path=str(plan.target.lora_path) if plan.target.lora_path else None,
        n_ctx=plan.n_ctx,
        n_gpu_layers=plan.gpu_layers,
        verbose=False,
    )
    return create_app(
        server_settings=ServerSettings(host=plan.host, port=plan.port),
        model_settings=[model],
    )


def serve(plan: ServePlan) -> None:
    """Run until interrupted."""
    import uvicorn

    check_port_free(plan.host, plan.port)
    app = build_app(plan)
    uvicorn.run(app, host=plan.host, port=plan.port, log_level="warning")
