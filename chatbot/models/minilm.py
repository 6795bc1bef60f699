"""all-MiniLM-L6-v2 sentence embeddings in plain numpy (no torch, no transformers).

Why: importing sentence-transformers pulls in torch, transformers, scipy and sklearn (~10 s),
which dominates one-shot CLI commands such as ``chatbot ask`` that embed a single query. This
module reproduces the sentence-transformers pipeline of the packaged model (BERT encoder ->
mean pooling over the attention mask -> L2 normalisation) with numpy, the Rust ``tokenizers``
package and ``safetensors.numpy``. Output matches ``SentenceTransformer.encode(...,
normalize_embeddings=True)`` to ~1e-6 (float32 rounding; see test_minilm_numpy.py).

CPU only. Heavy imports (tokenizers, safetensors) and the 90 MB of weights are loaded on the
first ``embed`` call, so constructing the encoder is free.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["BertWeights", "BlasCap", "NumpyMiniLM", "bert_states", "gelu", "load_bert", "read_json"]

_F32 = np.float32
# Attention scores are computed for at most this many elements at once (~8 MB of float32):
# bounds memory for a batch of 32 x 256 tokens; measured ~1.5x faster than 16 MB (cache).
_ATTENTION_CHUNK = 2 * 1024 * 1024
# GELU is applied in slices of this many elements so the ~10 temporaries stay in L2 cache;
# a whole (batch x tokens x 1536) array at once is ~4x slower (memory bound).
_GELU_CHUNK = 1 << 15


# --- GELU ----------------------------------------------------------------------------------
# HF BERT's "gelu" is the exact x * Phi(x) = x/2 * (1 + erf(x / sqrt(2))). numpy has no erf
# and scipy is what we are avoiding, so Phi is tabulated once with math.erf (correctly rounded
# double) on a 2^-11 grid over [-8, 8] and linearly interpolated in float64. GELU error
# <= |x| * h^2/8 * max|Phi''| <= h^2/8 * max(x^2 phi(x)) ~ 6e-9, far below float32 rounding
# (torch's own CPU erf is a ~1e-7 approximation); Phi is 0/1 in float32 outside the grid.
_PHI_LO = 8.0
_PHI_STEP = 2.0**-11


@functools.cache  # ~10 ms, once
def _phi_table() -> tuple[np.ndarray, np.ndarray]:
    n = int(2 * _PHI_LO / _PHI_STEP) + 1
    grid = np.arange(n, dtype=np.float64) * _PHI_STEP - _PHI_LO
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    phi = np.array([0.5 * (1.0 + math.erf(v * inv_sqrt2)) for v in grid.tolist()])
    # slope[i] = phi[i+1] - phi[i]; last slope 0 so clipped inputs stay at phi(+LO) ~ 1.
    slope = np.append(np.diff(phi), 0.0)
    return phi, slope


def _gelu_slice(x: np.ndarray, out: np.ndarray) -> None:

    phi, slope = _phi_table()
    # float64 position: in float32, adding the offset would cost ~5e-7 absolute precision.
    t = x.astype(np.float64)
    t += _PHI_LO
    t *= 1.0 / _PHI_STEP
    np.clip(t, 0.0, len(phi) - 1.0, out=t)
    i = t.astype(np.intp)
    t -= i  # fractional part
    p = slope.take(i)
    p *= t
    p += phi.take(i)
    p *= x
    out[...] = p  # cast to float32


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU of a float32 array, to float32 rounding."""
    out = np.empty_like(x, dtype=_F32)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    for start in range(0, flat_x.size, _GELU_CHUNK):
        stop = start + _GELU_CHUNK
        _gelu_slice(flat_x[start:stop], flat_out[start:stop])
    return out


# --- model -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3*hidden); query columns pre-scaled by 1/sqrt(head_dim)
    qkv_b: np.ndarray
    out_w: np.ndarray  # (hidden, hidden)
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    ff1_w: np.ndarray  # (hidden, intermediate)
    ff1_b: np.ndarray
    ff2_w: np.ndarray  # (intermediate, hidden)
    ff2_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


@dataclass(frozen=True)
class BertWeights:
    """A BERT encoder's weights in float32, shared by the embedder and the cross-encoder."""

    tokenizer: Tokenizer
    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray  # (types, hidden): single sentences are type 0, a pair's second 1
    ln_w: np.ndarray
    ln_b: np.ndarray
    layers: tuple[_Layer, ...]
    heads: int
    eps: float
    lower_case: bool
    pad_id: int


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _check_pipeline(path: Path) -> None:
    """Refuse models whose sentence-transformers pipeline this module does not reproduce."""
    modules = read_json(path / "modules.json")
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        raise ValueError(f"{path}: unsupported sentence-transformers modules {kinds}")
    pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
    pooling = read_json(path / pooling_dir / "config.json")
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise ValueError(f"{path}: only mean pooling is supported, not {sorted(modes)}")


def _load(path: Path) -> BertWeights:
    # Imported here, not at module level, so that `import minilm_numpy` costs only numpy.
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    config = read_json(path / "config.json")
    _check_pipeline(path)
    st_config = read_json(path / "sentence_bert_config.json")
    max_len = min(int(st_config["max_seq_length"]), int(config["max_position_embeddings"]))

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    # sentence-transformers calls the HF tokenizer with truncation="longest_first",
    # max_length=max_seq_length and padding=True; tokenizer.json itself says 128 / fixed
    # padding, so override both. Padding is done per batch below (to the longest text).
    tokenizer.enable_truncation(max_length=max_len, strategy="longest_first")
    tokenizer.no_padding()
    tensors = load_file(str(path / "model.safetensors"))
    return load_bert(
        path, config, tensors, tokenizer, lower_case=bool(st_config.get("do_lower_case", False))
    )


def _key(name: str) -> str:
    # Some exports keep the "bert." prefix; old checkpoints (and transformers 5, which saves
    # them back under their original names) call LayerNorm's parameters gamma and beta.
    name = name.removeprefix("bert.")
    if name.endswith((".gamma", ".beta")):
        name = name.rsplit(".", 1)[0] + (".weight" if name.endswith(".gamma") else ".bias")
    return name


def load_bert(
    path: Path,
    config: dict[str, Any],
    tensors: dict[str, np.ndarray],
    tokenizer: Tokenizer,
    *,
    lower_case: bool = False,
) -> BertWeights:
    """The encoder's weights from a safetensors dict (``bert.`` prefix or not); tensors that
    are not the encoder's (a pooler, a head) are ignored."""
    if config.get("hidden_act") != "gelu" or config.get("model_type") != "bert":
        raise ValueError(f"{path}: expected a BERT model with exact GELU, got {config}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{path}: only absolute position embeddings are supported")
    # float32 whatever the file stores: numpy has no fast half-precision matrix products.
    w = {_key(k): v.astype(_F32) for k, v in tensors.items()}
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    scale = _F32(1.0 / math.sqrt(hidden // heads))

    def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
        # torch Linear stores (out, in); x @ W.T hands BLAS a transposed view, no copy.
        return w[f"{name}.weight"].T, w[f"{name}.bias"]

    layers = []
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        qw, qb = linear(p + "attention.self.query")
        kw, kb = linear(p + "attention.self.key")
        vw, vb = linear(p + "attention.self.value")
        ow, ob = linear(p + "attention.output.dense")
        f1w, f1b = linear(p + "intermediate.dense")
        f2w, f2b = linear(p + "output.dense")
        layers.append(
            _Layer(
                # One matmul for Q, K and V; folding the 1/sqrt(d) score scale into Q saves a
                # pass over the (heads x L x L) scores.
                qkv_w=np.concatenate([qw * scale, kw, vw], axis=1),
                qkv_b=np.concatenate([qb * scale, kb, vb]),
                out_w=ow,
                out_b=ob,
                ln1_w=w[p + "attention.output.LayerNorm.weight"],
                ln1_b=w[p + "attention.output.LayerNorm.bias"],
                ff1_w=f1w,
                ff1_b=f1b,
                ff2_w=f2w,
                ff2_b=f2b,
                ln2_w=w[p + "output.LayerNorm.weight"],
                ln2_b=w[p + "output.LayerNorm.bias"],
            )
        )
    return BertWeights(
        tokenizer=tokenizer,
        word=w["embeddings.word_embeddings.weight"],
        position=w["embeddings.position_embeddings.weight"],
        token_type=w["embeddings.token_type_embeddings.weight"],
        ln_w=w["embeddings.LayerNorm.weight"],
        ln_b=w["embeddings.LayerNorm.bias"],
        layers=tuple(layers),
        heads=heads,
        eps=float(config["layer_norm_eps"]),
        lower_case=lower_case,
        pad_id=int(config.get("pad_token_id", 0)),
    )


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(np.square(centred), axis=-1, keepdims=True)
    centred /= np.sqrt(var + _F32(eps))
    centred *= weight
    centred += bias
    return centred


def _attention(qkv: np.ndarray, bias: np.ndarray | None, heads: int) -> np.ndarray:
    """qkv: (B, L, 3*hidden); bias: (B, 1, 1, L) additive key mask or None when nothing is
    padded -> context (B*L, hidden)."""
    batch, length, three_hidden = qkv.shape
    hidden = three_hidden // 3
    split = qkv.reshape(batch, length, 3, heads, hidden // heads)
    # Contiguous (B, H, L, D) copies: numpy's stacked matmul on the strided views misses the
    # BLAS path and was ~3x slower; the copies are cheap. k.T below is a free BLAS transpose.
    q, k, v = (np.ascontiguousarray(split[:, :, j].transpose(0, 2, 1, 3)) for j in range(3))
    context = np.empty((batch, length, heads, hidden // heads), dtype=_F32)
    step = max(1, _ATTENTION_CHUNK // (heads * length * length))
    for s in range(0, batch, step):
        e = s + step
        scores = np.matmul(q[s:e], k[s:e].transpose(0, 1, 3, 2))
        if bias is not None:
            scores += bias[s:e]
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        # Softmax denominator applied to the (L x D) context, not the (L x L) probabilities.
        denominator = scores.sum(axis=-1, keepdims=True)
        chunk = np.matmul(scores, v[s:e])
        chunk /= denominator
        context[s:e] = chunk.transpose(0, 2, 1, 3)
    return context.reshape(batch * length, hidden)


def bert_states(
    m: BertWeights, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None = None
) -> np.ndarray:
    """ids, mask (and token types, default all 0): (B, L) -> last hidden states (B, L, hidden)
    float32."""
    batch, length = ids.shape
    x = m.word[ids] + m.position[:length]
    x += m.token_type[0] if types is None else m.token_type[types]
    # 2-D (B*L, hidden) activations: one BLAS call per dense layer (a 3-D @ loops over B).
    x = _layer_norm(x.reshape(batch * length, -1), m.ln_w, m.ln_b, m.eps)
    # HF adds the float32 minimum to padded keys; exp() of it underflows to exactly 0.
    bias = None
    if not mask.all():  # after sorting by length most batches have little or no padding
        bias = np.where(mask, _F32(0.0), np.finfo(_F32).min).astype(_F32)[:, None, None, :]
    for layer in m.layers:
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        attended = _attention(qkv.reshape(batch, length, -1), bias, m.heads) @ layer.out_w
        attended += layer.out_b
        attended += x
        x = _layer_norm(attended, layer.ln1_w, layer.ln1_b, m.eps)
        inner = x @ layer.ff1_w
        inner += layer.ff1_b
        out = gelu(inner) @ layer.ff2_w
        out += layer.ff2_b
        out += x
        x = _layer_norm(out, layer.ln2_w, layer.ln2_b, m.eps)
    return x.reshape(batch, length, -1)


def _encode_batch(m: BertWeights, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ids, mask: (B, L) -> mean-pooled, L2-normalised (B, hidden) float32."""
    x = bert_states(m, ids, mask)
    # sentence-transformers Pooling(mean): sum over real tokens / max(count, 1e-9).
    weights = mask.astype(_F32)[:, :, None]
    pooled = (x * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), _F32(1e-9))
    # Normalize module = torch.nn.functional.normalize (eps 1e-12).
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.maximum(norms, _F32(1e-12))


class NumpyMiniLM:
    """Sentence embeddings identical (to ~1e-6) to sentence-transformers for a BERT model
    with mean pooling, such as all-MiniLM-L6-v2; CPU, numpy only.

    Thread-safe: the weights are loaded once under a lock and never mutated afterwards.
    """

    def __init__(
        self, path: str | Path, *, batch_size: int = 32, blas_threads: int | None = 1
    ) -> None:
        """``blas_threads``: cap on numpy's BLAS threads while ``embed`` runs (process-wide,
        via threadpoolctl; skipped if that is not installed). OpenBLAS threads busy-wait: on a
        loaded 2-core machine, 1 thread was 1-5x faster than 2 for one query, and 3x for a
        batch. This encoder is for queries and small calls, where one thread loses nothing;
        None leaves BLAS as configured (e.g. by OPENBLAS_NUM_THREADS)."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if blas_threads is not None and blas_threads < 1:
            raise ValueError("blas_threads must be >= 1 or None")
        self.path = Path(path)
        self.batch_size = batch_size
        self.blas_threads = blas_threads
        self._blas_cap = BlasCap(blas_threads) if blas_threads is not None else None
        self._weights: BertWeights | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """Read from config.json, without loading the weights."""
        return int(read_json(self.path / "config.json")["hidden_size"])

    def _model(self) -> BertWeights:
        if self._weights is None:
            with self._lock:
                if self._weights is None:
                    self._weights = _load(self.path)
        return self._weights

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), hidden) float32, rows L2-normalised, in the order of ``texts``."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        if not texts:
            return np.zeros((0, self.dimension), dtype=_F32)
        m = self._model()
        if self._blas_cap is None:
            return self._embed(m, texts)
        with self._blas_cap():
            return self._embed(m, texts)

    def _embed(self, m: BertWeights, texts: Sequence[str]) -> np.ndarray:
        texts = [t.lower() for t in texts] if m.lower_case else list(texts)
        encodings = m.tokenizer.encode_batch(texts)
        token_ids = [e.ids for e in encodings]
        # Longest first, so each batch pads to a similar length (ST sorts by characters).
        order = sorted(range(len(texts)), key=lambda i: -len(token_ids[i]))
        out = np.empty((len(texts), m.word.shape[1]), dtype=_F32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            length = len(token_ids[chunk[0]])
            ids = np.full((len(chunk), length), m.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=bool)
            for row, i in enumerate(chunk):
                n = len(token_ids[i])
                ids[row, :n] = token_ids[i]
                mask[row, :n] = True
            out[chunk] = _encode_batch(m, ids, mask)
        return out


class BlasCap:
    """Caps BLAS threads while any embed of one encoder runs. Reference-counted so that
    overlapping calls from several threads do not restore each other's setting."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None
        self._controller: Any = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                if self._controller is None:
                    try:
                        from threadpoolctl import ThreadpoolController
                    except ImportError:
                        self._controller = False  # not installed: BLAS as configured
                    else:
                        self._controller = ThreadpoolController()  # ~10 ms, once
                if self._controller:
                    self._limiter = self._controller.limit(limits=self.limit, user_api="blas")
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._limiter is not None:
                    self._limiter.restore_original_limits()
                    self._limiter = None
