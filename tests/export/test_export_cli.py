"""train -> export -> models -> chat from the command line, on a workspace with the tiny llama."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from test_train_cli import slmtui, tiny_workspace

from slmtui.config import budget_key
from slmtui.jobs.describe import describe
from slmtui.jobs.events import EXPORT, JobEvent
from slmtui.registry import ModelRegistry


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_llama):
    workspace = tiny_workspace(tmp_path_factory.mktemp("export-cli"), tiny_llama)
    done = slmtui("-w", str(workspace.root), "train", "--no-generate", "--max-steps", "2", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    finished = json.loads(done.stdout.splitlines()[-1])
    assert finished["event"] == "finished" and Path(finished["adapter_gguf"]).is_file()
    return workspace


def export(workspace, *extra: str):
    done = slmtui("-w", str(workspace.root), "export", "--json", "--skip-chat-check", *extra)
    return done, [json.loads(line) for line in done.stdout.splitlines()]


def set_budgets(workspace, **budgets: float) -> None:
    """Write [export] budgets into the workspace's slmtui.toml (replacing earlier ones)."""
    text = workspace.config_path.read_text()
    for quant, value in budgets.items():
        key = budget_key(quant)
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert count == 1, key
    workspace.config_path.write_text(text)


def test_export_verifies_publishes_and_versions_roll_back(trained):
    workspace = trained
    root = str(workspace.root)
    done, events = export(workspace, "--quant", "F16")
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "started" and kinds[-1] == "published"
    verified = next(event for event in events if event["event"] == "verified")
    assert verified["passed"] and verified["max_abs_diff"] <= 0.15
    assert verified["top1_agreement"] == 1.0
    assert {check["name"] for check in verified["checks"]} == {
        "load", "tokens", "logits", "template", "eos"
    }  # fmt: skip

    registry = ModelRegistry(workspace.models)
    v1 = registry.active()
    assert v1 is not None and v1.name == "v1" and v1.gguf.name == "model-F16.gguf"
    assert v1.card["quant"] == "F16" and v1.card["dataset_hash"]
    modelfile = (v1.path / "Modelfile").read_text()
    assert "FROM ./model-F16.gguf" in modelfile and "<|im_start|>{{ .Role }}" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "llama-server -m model-F16.gguf" in (v1.path / "README.md").read_text()

    # Two quantizations in one export, each measured against F16 and published in one version.
    set_budgets(workspace, q8_0=1000.0, q4_k_m=1000.0)
    done, events = export(workspace, "--quant", "Q4_K_M", "Q8_0")
    assert done.returncode == 0, done.stderr[-3000:]
    measured = {event["quant"]: event for event in events if event["event"] == "measured"}
    assert set(measured) == {"Q4_K_M", "Q8_0"} and all(m["passed"] for m in measured.values())
    for cost in measured.values():
        assert cost["tokens"] > 100 and cost["kl"] > 0.0 and 0.0 < cost["top1"] <= 1.0
        change = 100 * (cost["ppl"] / cost["ppl_f16"] - 1)
        assert cost["ppl_change"] == pytest.approx(change, abs=1e-4)
    # The coarser type costs more.
    assert measured["Q4_K_M"]["kl"] > measured["Q8_0"]["kl"]
    v2 = registry.active()
    assert v2.name == "v2" and v2.card["quant"] == "Q4_K_M" and v2.gguf.name == "model-Q4_K_M.gguf"
    assert [f["quant"] for f in v2.card["files"]] == ["Q4_K_M", "Q8_0"]
    files = sorted(p.name for p in v2.path.glob("*.gguf"))
    assert files == ["model-Q4_K_M.gguf", "model-Q8_0.gguf"]
    assert "| model-Q8_0.gguf |" in (v2.path / "README.md").read_text()
    listing = slmtui("-w", root, "models").stdout
    assert "model-Q8_0.gguf" in listing and "KL" in listing
    lines = [describe(JobEvent.parse(line, EXPORT)) for line in done.stdout.splitlines()]
    said = "\n".join(lines)
    assert (
        re.search(r"  Q8_0 against F16: ppl [+-]", said) and "within its budget of +1000.0%" in said
    )
    assert lines[-1].startswith("published v2: model-Q4_K_M.gguf (")
    assert lines[-1].endswith("chat now uses model-Q4_K_M.gguf")

    # Past its budget: the costlier type is refused with its cost and budget; as it is the only
    # type asked for, nothing is published and v2 stays active, with no staging folder left
    # over. (The measurement is deterministic: the same F16 file, quantizer and texts give the
    # same cost; which type costs more than F16 at all depends on the trained model, as Q8_0 can
    # come out a hair better than F16.)
    quant = max(measured, key=lambda q: measured[q]["ppl_change"])
    cost = measured[quant]["ppl_change"]
    assert cost > 0
    set_budgets(workspace, **{quant.lower(): cost / 2})
    done, events = export(workspace, "--quant", quant)
    assert done.returncode == 1
    failed = events[-1]
    assert failed["event"] == "failed" and "Nothing published" in failed["reason"]
    assert f"{quant} costs ppl +" in failed["reason"] and "past its budget" in failed["reason"]
    assert f"{quant.lower()}_max_ppl_increase" in failed["reason"]
    assert registry.active().name == "v2"
    assert [v.name for v in registry.versions()] == ["v1", "v2"]
    assert sorted(p.name for p in workspace.models.iterdir()) == ["active", "v1", "v2"]

    back = slmtui("-w", root, "models", "rollback")
    assert back.returncode == 0 and "v1 is now active" in back.stdout
    refused = slmtui("-w", root, "models", "delete", "v2")  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    gone = slmtui("-w", root, "models", "delete", "v1", "--yes")
    assert gone.returncode == 0 and "active: v2" in gone.stdout
    assert [v.name for v in registry.versions()] == ["v2"]


def test_export_asks_before_sharing_a_model_that_repeats_personal_data(trained):
    from slmtui import runs

    run = runs.find_run(trained, None)
    saved = run.path / "eval.json"
    saved.write_text(json.dumps({"privacy": {
        "personal": {"phones": 2}, "personal_base": {}, "copied": {"longest": 3},
        "personal_examples": {"phones": ["+44 7700 900123"]},
    }}))  # fmt: skip
    try:
        refused, _ = export(trained)
    finally:
        saved.unlink()
    assert refused.returncode == 2
    assert "found 2 phones in what it wrote (+44 7700 900123; the base: 0)" in refused.stderr
    assert "hide_other_names" in refused.stderr and "--yes" in refused.stderr


def test_chat_prompt_uses_the_adapter_then_a_version(trained):
    root = str(trained.root)
    reply = slmtui("-w", root, "chat", "--prompt", "Hello there", "--max-tokens", "8",
                   "--temperature", "0")  # fmt: skip
    assert reply.returncode == 0, reply.stderr[-3000:]
    assert reply.stdout.strip()  # a tiny random model says something, if nonsense
    base = slmtui("-w", root, "chat", "--model", "base", "--prompt", "Hello there",
                  "--max-tokens", "8", "--temperature", "0")  # fmt: skip
    assert base.returncode == 0, base.stderr[-3000:]
    talk = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", root, "chat", "--model", "base",
         "--max-tokens", "6", "--temperature", "0"],
        input="Hello\nAnd again\n\n", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert talk.returncode == 0, talk.stderr[-3000:]
    assert "Chatting with base" in talk.stdout
    assert talk.stdout.count("model> ") == 2 and talk.stdout.count("tokens/s") == 2
    missing = slmtui("-w", root, "chat", "--model", "v99", "--prompt", "hi")
    assert missing.returncode == 2 and "no model version 'v99'" in missing.stderr


def test_the_plain_chat_takes_fix_good_and_bad_as_commands(trained):
    from slmtui.ingest.store import Store

    root = str(trained.root)
    talk = subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", root, "chat", "--model", "base",
         "--max-tokens", "6", "--temperature", "0"],
        input="/good\nHello\n/fix Hi there. A\n/bad\nAnd again\n\n",
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert talk.returncode == 0, talk.stderr[-3000:]
    assert "/fix TEXT" in talk.stdout  # the greeting says how
    assert "There is no reply to correct or mark yet." in talk.stdout
    assert "marked bad" in talk.stdout and "kept your version" in talk.stdout
    assert talk.stdout.count("model> ") == 2  # commands are not sent to the model
    with Store(trained.db_path) as store:
        feedback = store.feedback()
    assert [item.kind for item in feedback] == ["correction", "bad"]
    assert feedback[0].text == "Hi there. A" and feedback[0].model.startswith("base")
    assert feedback[0].messages[-1] == {"role": "user", "content": "Hello"}
    assert feedback[1].reply == feedback[0].reply != "Hi there. A"  # the mark: the model's


def test_blind_rounds_are_scored_in_the_card_and_never_repeat(trained):
    root = str(trained.root)
    registry = ModelRegistry(trained.models)
    if registry.active() is None:
        done, _ = export(trained, "--quant", "F16", "--yes")
        assert done.returncode == 0, done.stderr[-3000:]
    name = registry.active().name

    def play(answers: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "slmtui.cli", "-w", root, "blind", *extra],
            input=answers, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    first = play("1\n2\nmaybe\n1\n", "--rounds", "3")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Which one is yours? 3 rounds" in first.stdout
    assert first.stdout.count("yours? [1/2/q]") == 4  # "maybe" was asked again
    assert "of 3 times" in first.stdout and "50% means you cannot tell" in first.stdout
    card = registry.get(name).card["blind"]
    assert card["rounds"] == 3 and 0 <= card["picked_yours"] <= 3 and len(card["shown"]) == 3
    second = play("2\nq\n", "--model", name, "--rounds", "2")
    assert second.returncode == 0, second.stderr[-3000:]
    after = registry.get(name).card["blind"]
    assert after["rounds"] == 4 and len(set(after["shown"])) == 4  # no round shown twice
    listed = json.loads(slmtui("-w", root, "models", "--json").stdout)
    row = next(v for v in listed["versions"] if v["version"] == name)
    assert row["blind"]["rounds"] == 4 and len(row["blind"]["interval"]) == 2
    missing = play("", "--model", "v99")
    assert missing.returncode == 2 and "v99" in missing.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, body: dict) -> bytes:
    return post_for_headers(url, body)[0]


def post_for_headers(url: str, body: dict) -> tuple[bytes, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read(), dict(response.headers)


def wait_for_server(url: str, server: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[1][-3000:]
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the server never answered")


def test_serve_with_a_key_answers_only_requests_that_bear_it(trained):
    root, port = str(trained.root), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "slmtui.cli", "-w", root, "serve", "--model", "adapter",
         "--port", str(port), "--api-key", "sesame"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "requests need the key" in server.stdout.readline()
        base = f"http://127.0.0.1:{port}/v1"
        chat = {"model": "slmtui", "max_tokens": 2, "messages": [
            {"role": "user", "content": "What happened to the causeway in the December storm?"}
        ]}  # fmt: skip
        deadline = time.monotonic() + 120
        while True:  # the server is up once it answers at all, 401 included
            try:
                post_for_headers(f"{base}/chat/completions", chat)
                raise AssertionError("answered without the key")
            except urllib.error.HTTPError as refused:
                assert refused.code == 401
                assert "x-slmtui-sources" not in refused.headers  # no notes without the key
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.5)
        request = urllib.request.Request(
            f"{base}/chat/completions", json.dumps(chat).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer sesame"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200
            assert json.loads(response.headers["x-slmtui-sources"])
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)


def test_serve_answers_openai_chat_streams_and_refuses_a_taken_port(trained):
    root, port = str(trained.root), free_port()
    command = [sys.executable, "-m", "slmtui.cli", "-w", root, "serve", "--model", "adapter"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        said = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in said and "(adapter)" in said
        assert "only this machine" in said and "with notes from your writing" in said
        base = f"http://127.0.0.1:{port}/v1"
        models = wait_for_server(f"{base}/models", server)
        assert [m["id"] for m in models["data"]] == ["slmtui"]

        chat = {"model": "slmtui", "messages": [{"role": "user", "content": "Hello there"}]}
        # Forcing the turn-end token (<|im_end|>, id 2) first: the reply must end there.
        ended = json.loads(post(f"{base}/chat/completions", {**chat, "logit_bias": {"2": 100}}))
        choice = ended["choices"][0]
        assert choice["finish_reason"] == "stop" and choice["message"]["content"] == ""
        # Otherwise the tiny tuned model talks until max_tokens.
        long = json.loads(post(f"{base}/chat/completions", {**chat, "max_tokens": 6}))
        assert long["choices"][0]["finish_reason"] == "length"
        assert long["usage"]["completion_tokens"] == 6

        # On this machine recall is on: a request about the journal's storm gets notes (a
        # longer prompt) and the response names their sources; one matching nothing, none.
        storm = {"model": "slmtui", "max_tokens": 2, "messages": [
            {"role": "user", "content": "What happened to the causeway in the December storm?"}
        ]}  # fmt: skip
        body, headers = post_for_headers(f"{base}/chat/completions", storm)
        sources = json.loads(headers["x-slmtui-sources"])
        assert "journal/2024-12-07.txt (2024-12-07)" in sources
        plain = {**storm, "messages": [{"role": "user", "content": "Zyzzyva qwertyuiop"}]}
        unnoted, plain_headers = post_for_headers(f"{base}/chat/completions", plain)
        assert json.loads(plain_headers["x-slmtui-sources"]) == []
        noted_tokens = json.loads(body)["usage"]["prompt_tokens"]
        assert noted_tokens > json.loads(unnoted)["usage"]["prompt_tokens"] + 100

        streamed = post(f"{base}/chat/completions", {**chat, "max_tokens": 4, "stream": True})
        events = [line[6:] for line in streamed.decode().splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and len(events) >= 3
        chunks = [json.loads(event) for event in events[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)

        taken = subprocess.run(
            [*command, "--port", str(port)], capture_output=True, text=True, timeout=120
        )
        assert taken.returncode == 2 and f"Port {port} on 127.0.0.1 is already taken" in (
            taken.stderr
        )
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=60)
    assert server.returncode == 0 and "server stopped" in out
