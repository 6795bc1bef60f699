"""The shells people use: the CLI, the web UI and the HTTP service."""
