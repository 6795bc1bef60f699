"""The models that run in-process: the packaged embedder, the cross-encoder engine and the
trained models whose weights ship in ``weights/``."""
