from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from chatbot.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert re.search(rf"`CHATBOT_{name.upper()}`", text), (
            f"CHATBOT_{name.upper()} not in README"
        )


def test_environment_overrides_config_file_and_flags_override_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text('chunk_size = 300\ntop_k = 7\nstore_path = "from-file"\n')
    monkeypatch.setenv("CHATBOT_CONFIG", str(config))
    monkeypatch.setenv("CHATBOT_TOP_K", "9")
    s = Settings()
    assert (s.chunk_size, s.top_k, s.store_path) == (300, 9, Path("from-file"))
    assert Settings(top_k=3).top_k == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 100, "chunk_overlap": 100}, "chunk_overlap"),
        ({"chroma_url": "localhost:8000"}, "http://"),
        ({"llm_backend": "gpt"}, "llm_backend"),
        ({"ui_username": "me"}, "ui_password"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_wrong_settings_are_refused_with_the_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**kwargs)


def test_wrong_environment_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_CHUNK_SIZE", "lots")
    with pytest.raises(ValidationError, match="chunk_size"):
        Settings()
