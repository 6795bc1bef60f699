"""Articles into the store: chunks, vectors, Chroma, keyword search, ingest."""
