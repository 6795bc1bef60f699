"""Failures a real server cannot produce on demand, from a scripted HTTP server on 127.0.0.1.

Every failure must end as an LLMError a user can act on, within bounded time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from chatbot.config import Settings
from chatbot.llm.base import LLMError, Message
from chatbot.llm.openai_backend import OpenAIBackend, OpenAICompatibleBackend
from tests.llm_fixtures import FakeLLMServer, FakeReply, chunk_event, stream_events

HELLO = [Message("user", "Hello")]
OK = FakeReply(events=stream_events(["Hel", "lo", "!"]))

MakeSettings = Callable[..., Settings]


def _backend(
    server: FakeLLMServer, make: MakeSettings, **fields: object
) -> OpenAICompatibleBackend:
    fields.setdefault("llm_model", "fake-model")
    return OpenAICompatibleBackend(make(llm_base_url=server.url, **fields))


def test_plain_stream_and_request_shape(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(OK)
    backend = _backend(
        fake_llm_server, llm_settings, llm_extra_headers={"X-Team": "news"}, llm_max_tokens=7
    )
    assert list(backend.stream(HELLO, temperature=0.3, stop=["\n\n"])) == ["Hel", "lo", "!"]
    (request,) = fake_llm_server.chat_requests()
    assert request.headers["Authorization"] == "Bearer not-needed"
    assert request.headers["X-Team"] == "news"
    assert request.body["model"] == "fake-model"
    assert request.body["messages"] == [{"role": "user", "content": "Hello"}]
    assert request.body["max_tokens"] == 7
    assert request.body["temperature"] == 0.3
    assert request.body["stop"] == ["\n\n"]
    assert request.body["stream"] is True


def test_429_waits_for_retry_after_then_succeeds(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(
        FakeReply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"}), OK
    )
    assert _backend(fake_llm_server, llm_settings).complete(HELLO) == "Hello!"
    first, second = fake_llm_server.chat_requests()
    assert 0.9 <= second.at - first.at < 3.0


def test_429_after_all_retries(fake_llm_server: FakeLLMServer, llm_settings: MakeSettings) -> None:
    fake_llm_server.script(
        FakeReply(429, {"error": {"message": "quota exceeded"}}, headers={"Retry-After": "0"})
    )
    with pytest.raises(LLMError, match=r"rate-limiting.*quota exceeded"):
        _backend(fake_llm_server, llm_settings, llm_retries=1).complete(HELLO)
    assert len(fake_llm_server.chat_requests()) == 2


def test_500_then_success(fake_llm_server: FakeLLMServer, llm_settings: MakeSettings) -> None:
    fake_llm_server.script(FakeReply(500, {"error": {"message": "oops"}}), OK)
    assert _backend(fake_llm_server, llm_settings).complete(HELLO) == "Hello!"
    assert len(fake_llm_server.chat_requests()) == 2


def test_500_every_time(fake_llm_server: FakeLLMServer, llm_settings: MakeSettings) -> None:
    fake_llm_server.script(FakeReply(503, {"error": {"message": "overloaded"}}))
    with pytest.raises(LLMError, match=r"failed \(503, after up to 2 attempts\): overloaded"):
        _backend(fake_llm_server, llm_settings, llm_retries=1).complete(HELLO)


def test_401_names_the_key_and_does_not_retry(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(FakeReply(401, {"error": {"message": "Invalid API key"}}))
    backend = _backend(fake_llm_server, llm_settings, llm_api_key="wrong")
    with pytest.raises(LLMError) as info:
        backend.complete(HELLO)
    assert "API key" in str(info.value)
    assert "CHATBOT_LLM_API_KEY" in str(info.value)
    assert len(fake_llm_server.chat_requests()) == 1
    assert fake_llm_server.requests[0].headers["Authorization"] == "Bearer wrong"


def test_slow_server_times_out_after_retries(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(FakeReply(delay=3.0, events=stream_events(["late"])))
    backend = _backend(fake_llm_server, llm_settings, llm_timeout=0.5, llm_retries=1)
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"did not answer within 0\.5 s \(2 attempts\)"):
        backend.complete(HELLO)
    assert time.monotonic() - started < 5
    assert len(fake_llm_server.chat_requests()) == 2


def test_stream_that_stalls_times_out(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(FakeReply(events=stream_events(["a", "b"]), event_delay=2.0))
    backend = _backend(fake_llm_server, llm_settings, llm_timeout=0.5, llm_retries=0)
    pieces: list[str] = []
    with pytest.raises(LLMError, match="stopped sending"):
        for piece in backend.stream(HELLO):
            pieces.append(piece)
    assert pieces == ["a"]


def test_malformed_json_in_stream(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(FakeReply(events=["{this is not json"]))
    with pytest.raises(LLMError, match="not valid JSON"):
        _backend(fake_llm_server, llm_settings).complete(HELLO)


def test_malformed_json_from_models_list(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(FakeReply(body="<html>not an API</html>"))
    backend = _backend(fake_llm_server, llm_settings, llm_model=None)
    with pytest.raises(LLMError, match="not valid JSON") as info:
        backend.complete(HELLO)
    assert fake_llm_server.url in str(info.value)


def test_stream_dies_midway(fake_llm_server: FakeLLMServer, llm_settings: MakeSettings) -> None:
    fake_llm_server.script(FakeReply(events=stream_events(["one", " two", " three"]), cut_after=2))
    pieces: list[str] = []
    with pytest.raises(LLMError, match="broke off mid-answer"):
        for piece in _backend(fake_llm_server, llm_settings).stream(HELLO):
            pieces.append(piece)
    assert pieces == ["one", " two"]


def test_stream_ends_without_finish_reason(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(FakeReply(events=[chunk_event("half"), "[DONE]"]))
    pieces: list[str] = []
    with pytest.raises(LLMError, match="before it was complete"):
        for piece in _backend(fake_llm_server, llm_settings).stream(HELLO):
            pieces.append(piece)
    assert pieces == ["half"]


def test_error_event_inside_stream(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    events = [chunk_event("par"), '{"error": {"message": "context length exceeded"}}']
    fake_llm_server.script(FakeReply(events=events))
    with pytest.raises(LLMError, match="context length exceeded"):
        _backend(fake_llm_server, llm_settings).complete(HELLO)


def test_unknown_model_passes_the_server_message(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    error = {"error": {"message": "model 'nope' not found, try pulling it first"}}
    fake_llm_server.script(FakeReply(404, error))
    with pytest.raises(LLMError) as info:
        _backend(fake_llm_server, llm_settings, llm_model="nope").complete(HELLO)
    assert "model 'nope' not found, try pulling it first" in str(info.value)
    assert len(fake_llm_server.chat_requests()) == 1


def test_first_listed_model_is_the_default(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    models = {
        "object": "list",
        "data": [
            {"id": "llama3.2:1b", "object": "model", "created": 0, "owned_by": "me"},
            {"id": "other", "object": "model", "created": 0, "owned_by": "me"},
        ],
    }
    fake_llm_server.script(FakeReply(body=models), OK)
    backend = _backend(fake_llm_server, llm_settings, llm_model=None)
    assert backend.complete(HELLO) == "Hello!"
    assert backend.model == "llama3.2:1b"
    assert fake_llm_server.chat_requests()[0].body["model"] == "llama3.2:1b"
    assert len(fake_llm_server.requests) == 2  # the list is asked once


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (FakeReply(body={"object": "list", "data": []}), "lists no models"),
        (FakeReply(404, {"detail": "Not Found"}), "set CHATBOT_LLM_MODEL"),
    ],
    ids=["empty", "no-endpoint"],
)
def test_model_list_problems(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings, reply: FakeReply, expected: str
) -> None:
    fake_llm_server.script(reply)
    backend = _backend(fake_llm_server, llm_settings, llm_model=None)
    with pytest.raises(LLMError, match=expected):
        backend.complete(HELLO)


def test_openai_backend_sends_its_key(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(OK)
    backend = OpenAIBackend(llm_settings(openai_api_key="sk-abc", llm_base_url=fake_llm_server.url))
    assert backend.complete(HELLO) == "Hello!"
    request = fake_llm_server.chat_requests()[0]
    assert request.headers["Authorization"] == "Bearer sk-abc"
    assert request.body["model"] == "gpt-4o-mini"


def test_openai_needs_a_key(llm_settings: MakeSettings) -> None:
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        OpenAIBackend(llm_settings())


def test_openai_key_from_environment(
    llm_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = llm_settings()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    backend = OpenAIBackend(settings)
    assert backend.base_url == "https://api.openai.com/v1"
    assert backend.context_window == 128_000
    assert backend.count_tokens("hello world") == 2


def test_compatible_needs_a_base_url(llm_settings: MakeSettings) -> None:
    with pytest.raises(LLMError, match="CHATBOT_LLM_BASE_URL"):
        OpenAICompatibleBackend(llm_settings())


def test_compatible_never_sends_the_openai_key(
    fake_llm_server: FakeLLMServer, llm_settings: MakeSettings
) -> None:
    fake_llm_server.script(OK)
    backend = _backend(fake_llm_server, llm_settings, openai_api_key="sk-secret")
    backend.complete(HELLO)
    assert fake_llm_server.requests[0].headers["Authorization"] == "Bearer not-needed"
    assert backend.context_window == 8192
