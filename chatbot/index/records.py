"""Small JSON records kept with the store (feed subscriptions, watched questions): one Chroma
collection each, next to the articles, so they live wherever the store lives (a folder or a
Chroma server) and every process using the store sees the same ones. Records carry a constant
1-d vector (Chroma wants one); the state is the JSON document."""

from __future__ import annotations

from typing import Any


class JsonRecords:
    def __init__(self, client: Any, name: str, *, kind: str, label: str) -> None:
        self._client = client
        self._name = name
        self._kind = kind
        self._label = label  # the metadata field that names a record for people (url, question)
        self._collection: Any = None  # created on first use: stores without any stay as they were

    def _records(self) -> Any:
        if self._collection is None:
            self._collection = self._client.get_or_create_collection(
                self._name, embedding_function=None, metadata={"kind": self._kind}
            )
        return self._collection

    def put(self, key: str, label: str, state: str) -> None:
        """Create or replace one record (``state`` is its JSON)."""
        self._records().upsert(
            ids=[key], embeddings=[[1.0]], documents=[state], metadatas=[{self._label: label}]
        )

    def states(self) -> dict[str, str]:
        """Every record: key -> its JSON state."""
        page = self._records().get(include=["documents"])
        return dict(zip(page["ids"], page["documents"], strict=True))

    def delete(self, key: str) -> bool:
        records = self._records()
        found = records.get(ids=[key], include=[])["ids"]
        records.delete(ids=[key])
        return bool(found)
