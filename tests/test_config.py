import tomllib

import pytest

from slmtui.config import Config, ConfigError
from slmtui.config_file import config_from_dict, load_config, render_default_toml
from slmtui.workspace import Workspace, WorkspaceError


def test_default_file_lists_every_setting_and_reads_back_as_defaults(tmp_path):
    text = render_default_toml()
    data = tomllib.loads(text)
    assert set(data) == {
        "model", "identity", "ingest", "watch", "dataset", "train", "chat", "recall", "export",
        "ui", "keys",
    }  # fmt: skip
    assert data["keys"]["library"] == "l"
    assert data["export"]["quants"] == ["F16"] and data["export"]["q4_k_m_max_ppl_increase"] > 0
    assert data["ingest"]["chunk_tokens"] == 384
    assert data["recall"] == {"enabled": True, "passages": 4, "tokens": 900, "turns": 3}
    assert "# Target size of a chunk in base-model tokens." in text
    path = tmp_path / "slmtui.toml"
    path.write_text(text)
    assert load_config(path) == Config()


def test_unknown_key_names_key_file_and_known_keys():
    with pytest.raises(ConfigError) as error:
        config_from_dict({"ingest": {"chunk_token": 10}}, source="/w/slmtui.toml")
    message = str(error.value)
    assert "/w/slmtui.toml" in message
    assert "'ingest.chunk_token'" in message
    assert "ingest.chunk_tokens" in message


def test_unknown_section_is_an_error():
    with pytest.raises(ConfigError, match="unknown key 'trian'"):
        config_from_dict({"trian": {}})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"ingest": {"chunk_tokens": "big"}}, "'ingest.chunk_tokens' must be an integer from 32"),
        ({"ingest": {"chunk_tokens": 8}}, "from 32 to 8192, got 8"),
        ({"ingest": {"scrub_pii": "yes"}}, "must be true or false"),
        ({"ingest": {"scrub": ["emails", "names"]}}, "allowed values: 'emails', 'phones'"),
        ({"watch": {"debounce_seconds": True}}, "must be a number"),
        ({"ingest": 3}, "[ingest] must be a table"),
    ],
)
def test_bad_values_explain_what_is_allowed(data, expected):
    with pytest.raises(ConfigError) as error:
        config_from_dict(data)
    assert expected in str(error.value)


def test_ints_are_accepted_for_floats():
    config = config_from_dict({"ingest": {"max_file_mb": 5}})
    assert config.ingest.max_file_mb == 5.0
    assert isinstance(config.ingest.max_file_mb, float)


def test_broken_toml_names_the_file(tmp_path):
    path = tmp_path / "slmtui.toml"
    path.write_text("[ingest\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_init_makes_the_layout_and_refuses_twice(tmp_path):
    workspace = Workspace.init(tmp_path / "mine")
    assert workspace.writing.is_dir()
    assert workspace.config_path.is_file()
    assert workspace.runs.is_dir() and workspace.models.is_dir() and workspace.cache.is_dir()
    with pytest.raises(WorkspaceError, match="already a workspace"):
        Workspace.init(tmp_path / "mine")


def test_find_walks_up_and_explains_when_absent(tmp_path):
    workspace = Workspace.init(tmp_path / "mine")
    inner = workspace.writing / "deep" / "er"
    inner.mkdir(parents=True)
    assert Workspace.find(inner).root == workspace.root
    with pytest.raises(WorkspaceError, match="slmtui init"):
        Workspace.find(tmp_path / "elsewhere")


def test_default_keys_are_the_ones_hands_learn():
    keys = Config().keys
    assert (keys.library, keys.train, keys.models, keys.chat) == ("l", "t", "m", "c")
    assert (keys.compare, keys.retrain, keys.help, keys.quit) == (
        "v",
        "r",
        "question_mark",
        "ctrl+q",
    )
    text = render_default_toml()
    assert "\n# Keys for the app's screens and jobs" in text
    assert 'help = "question_mark"' in text


def test_keys_take_textual_names_and_alternatives():
    config = config_from_dict({"keys": {"library": "f2", "help": "f1, question_mark", "quit": "+"}})
    assert config.keys.library == "f2"
    assert config.keys.help == "f1, question_mark"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"library": ""}, "'keys.library' names no key"),
        ({"library": "  "}, "'keys.library' names no key"),
        ({"chat": "f1,"}, "'keys.chat' has an empty key in 'f1,'"),
        ({"chat": "page up"}, "'keys.chat' has 'page up'; key names have no spaces"),
        ({"chat": "Ctrl+g"}, "'keys.chat' has 'Ctrl+g'; write modifiers in lower case"),
        ({"chat": "ctrl+"}, "'keys.chat' has 'ctrl+'"),
        ({"chat": "ctrl-g"}, "'keys.chat' has 'ctrl-g', which is not a key name"),
        ({"chat": 3}, "'keys.chat' must be a string"),
        ({"library": "g", "chat": "f3,g"}, "'keys.library' and 'keys.chat' both use 'g'"),
        ({"library": "c"}, "'keys.library' and 'keys.chat' both use 'c'"),
    ],
)
def test_bad_keys_name_the_key_and_the_file(keys, expected):
    with pytest.raises(ConfigError) as error:
        config_from_dict({"keys": keys}, source="/w/slmtui.toml")
    assert str(error.value).startswith("/w/slmtui.toml: ")
    assert expected in str(error.value)


def test_write_identity_changes_only_its_two_lines(tmp_path):
    from slmtui.config_file import write_identity

    workspace = Workspace.init(tmp_path / "mine")
    text = workspace.config_path.read_text().replace(
        "chunk_tokens = 384", "chunk_tokens = 256  # mine"
    )
    workspace.config_path.write_text(text)
    config = write_identity(workspace.config_path, 'Odile "O" Marchbank')
    assert config.identity.names == ['Odile "O" Marchbank']
    assert config.identity.system_prompt.startswith('You are Odile "O" Marchbank.')
    after = workspace.config_path.read_text()
    assert "chunk_tokens = 256  # mine" in after  # the person's own edit stays
    changed = [line for line in after.splitlines() if line not in text.splitlines()]
    assert len(changed) == 2 and all(
        line.startswith(("names =", "system_prompt =")) for line in changed
    )
    assert workspace.load_config() == config


def test_export_types_and_budgets_are_checked():
    config = config_from_dict(
        {"export": {"quants": ["Q8_0", "Q4_K_M"], "q8_0_max_ppl_increase": 2}}
    )
    assert config.export.quants == ["Q8_0", "Q4_K_M"]
    assert config.export.budget("Q8_0") == 2.0 and config.export.budget("F16") is None
    assert config.export.budget("Q4_K_M") == Config().export.q4_k_m_max_ppl_increase
    with pytest.raises(ConfigError, match=r"'export\.quants' has 'Q3_K'"):
        config_from_dict({"export": {"quants": ["Q3_K"]}})
    with pytest.raises(ConfigError, match="names no type"):
        config_from_dict({"export": {"quants": []}})
    with pytest.raises(ConfigError, match="q4_k_m_max_ppl_increase"):
        config_from_dict({"export": {"q4_k_m_max_ppl_increase": -1}})
