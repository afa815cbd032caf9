"""`slmtui serve`: the chosen model behind an OpenAI-compatible HTTP server on this machine.

We run llama-cpp-python's own server (FastAPI under uvicorn) rather than writing one: it speaks
the OpenAI chat and completion API, streams, and renders prompts with the GGUF's own chat
template, stopping at its end-of-turn token, exactly as the app's chat does. A LoRA target (the
newest adapter on the base) is applied at load time, as in chat.

It listens on 127.0.0.1 unless told otherwise: the model is yours, trained on your writing, and
should not be reachable from the network by accident. Served beyond this machine it needs a key:
`--api-key KEY`, or one made once, printed, and kept in `.slmtui/serve-key` (readable by its
owner only); a request without it is answered 401 by the server, and gets no notes.

With notes (recall/, given by the caller as `ServePlan.notes`), every chat completion request
is rewritten before the server sees it: the notes go after its system prompt, as in the app's
chat, and the response names their sources in an `X-Slmtui-Sources` header (JSON). Recall is on
by default only on this machine: notes quote your writing to whoever can reach the server.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slmtui.chat.engine import ChatTarget

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080
CHAT_PATH = "/v1/chat/completions"
SOURCES_HEADER = b"x-slmtui-sources"

# Messages -> (the messages to send, with notes; the names of their sources).
Notes = Callable[[list[dict]], tuple[list[dict], list[str]]]


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
    notes: Notes | None = None  # recall's notes for each chat request; None: none
    api_key: str | None = None  # the key every request must bear; None: none (this machine)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def describe(self) -> str:
        """What is served where, and who can reach it: printed before the server starts."""
        lora = f" + {self.target.lora_path.name}" if self.target.lora_path else ""
        reach = (
            "only this machine can reach it (give --host 0.0.0.0 to share it on your network)"
            if on_this_machine(self.host)
            else f"listening on {self.host}: other machines on your network can reach it"
        )
        recall = "with notes from your writing and chats" if self.notes else "without recall"
        key = "; requests need the key (Authorization: Bearer KEY)" if self.api_key else ""
        return (
            f"serving {self.target.label} ({self.target.model_path.name}{lora}) as model "
            f"{self.alias!r} at {self.base_url}, {recall}; {reach}{key}. Ctrl-C stops it."
        )


KEY_FILE = "serve-key"


def server_key(state: Path, host: str, given: str | None) -> tuple[str | None, str]:
    """The key a server on `host` requires, and what to tell the person about it: the one
    given; else, beyond this machine, the workspace's (`state`/serve-key), made once and
    shown once; else none."""
    if given:
        return given, ""
    if on_this_machine(host):
        return None, ""
    path = state / KEY_FILE
    if path.is_file():
        return path.read_text().strip(), f"requests need the key kept in {path}"
    key = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key, f"a key for this server, shown once and kept in {path} (owner only): {key}"


def on_this_machine(host: str) -> bool:
    return host in (LOOPBACK, "localhost", "::1")


def recall_when_serving(host: str, asked: bool | None, enabled: bool) -> bool:
    """Whether the server gives notes: as asked (--recall, --no-recall); else as `[recall]
    enabled` says on this machine, and off when others can reach the server."""
    if asked is not None:
        return asked
    return enabled and on_this_machine(host)


class NotesMiddleware:
    """An ASGI wrapper that puts the notes into each chat completion request's messages and
    names their sources in the response; any other request, or one it cannot read, passes as
    it came (the server then answers it, or says what is wrong with it)."""

    def __init__(self, app, notes: Notes, api_key: str | None = None) -> None:
        self.app = app
        self.notes = notes
        self.api_key = api_key

    def authorized(self, scope) -> bool:
        """The request bears the key (or none is needed): only then does it get notes."""
        if self.api_key is None:
            return True
        given = dict(scope["headers"]).get(b"authorization", b"")
        return secrets.compare_digest(given, f"Bearer {self.api_key}".encode())

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != CHAT_PATH
            or not self.authorized(scope)
        ):  # fmt: skip
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        sources: list[str] | None = None
        try:
            request = json.loads(body)
            messages, sources = self.notes(request["messages"])
            body = json.dumps({**request, "messages": messages}).encode()
        except (ValueError, KeyError, TypeError):
            pass
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}

        replayed = False

        async def replay() -> dict:
            """The (rewritten) body once; then the client's own receive, which waits for it
            to disconnect (a streaming response listens for that)."""
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send_with_sources(message: dict) -> None:
            if message["type"] == "http.response.start" and sources is not None:
                named = json.dumps(sources).encode()  # ASCII: non-ASCII names are escaped
                message = {**message, "headers": [*message["headers"], (SOURCES_HEADER, named)]}
            await send(message)

        await self.app(scope, replay, send_with_sources)


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
    app = create_app(
        server_settings=ServerSettings(host=plan.host, port=plan.port, api_key=plan.api_key),
        model_settings=[model],
    )
    return NotesMiddleware(app, plan.notes, plan.api_key) if plan.notes is not None else app


def serve(plan: ServePlan) -> None:
    """Run until interrupted."""
    import uvicorn

    check_port_free(plan.host, plan.port)
    app = build_app(plan)
    uvicorn.run(app, host=plan.host, port=plan.port, log_level="warning")
