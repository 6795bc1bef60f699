"""Feed subscriptions kept with the store: one small Chroma collection next to the articles, so
subscriptions live wherever the store lives (a folder or a Chroma server) and every process
using the store sees the same feeds. Records carry a constant 1-d vector (Chroma wants one);
the state is the JSON document."""

from __future__ import annotations

from typing import Any


class FeedRecords:
    def __init__(self, client: Any, name: str = "feeds") -> None:
        self._client = client
        self._name = name
        self._collection: Any = None  # created on first use: stores without feeds stay as they were

    def _records(self) -> Any:
        if self._collection is None:
            self._collection = self._client.get_or_create_collection(
                self._name, embedding_function=None, metadata={"kind": "feed subscriptions"}
            )
        return self._collection

    def put(self, key: str, url: str, state: str) -> None:
        """Create or replace one subscription's record (``state`` is its JSON)."""
        self._records().upsert(
            ids=[key], embeddings=[[1.0]], documents=[state], metadatas=[{"url": url}]
        )

    def states(self) -> dict[str, str]:
        """Every subscription: key -> its JSON state."""
        page = self._records().get(include=["documents"])
        return dict(zip(page["ids"], page["documents"], strict=True))

    def delete(self, key: str) -> bool:
        records = self._records()
        found = records.get(ids=[key], include=[])["ids"]
        records.delete(ids=[key])
        return bool(found)
