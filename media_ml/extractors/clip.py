"""open_clip image and text embedder: weights resolution, device, batching, mixed precision.

Model specs::

    ViT-B-32:laion2b_s34b_b79k     open_clip architecture and pretrained tag (its HF cache)
    ViT-B-32:/path/to/model.pt     architecture and a local checkpoint file
    /path/to/model.pt              a local checkpoint file for the default architecture
    untrained | ViT-B-32:untrained seeded random init: smoke runs and tests only, labelled so

A model is loaded once per process (``load_embedder`` caches), so Dask workers load it once and
every task on them reuses it. Outputs are float32 and L2-normalised.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media_ml.errors import ModelLoadError, UsageError

log = logging.getLogger(__name__)

# Decoding threads run beside inference (``embed_frames_task``); OpenMP threads that spin while
# idle starve them (measured: 0.41 → 0.86 of the forward-pass rate on 2 cores). Must be set
# before torch is first imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_MODEL = "ViT-B-32:laion2b_s34b_b79k"
DEFAULT_ARCH = "ViT-B-32"
UNTRAINED = "untrained"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``config`` is an optional open_clip model-config JSON to register."""

    arch: str
    pretrained: str | None = None  # an open_clip tag
    checkpoint: str | None = None  # a local file
    seed: int = 0
    config: str | None = None

    @classmethod
    def parse(cls, text: str, config: str | None = None, seed: int = 0) -> ModelSpec:
        text = text.strip()
        if not text:
            raise UsageError("empty model spec")
        if text == UNTRAINED:
            return cls(DEFAULT_ARCH, seed=seed, config=config)
        if ":" in text and not Path(text).exists():
            arch, _, rest = text.partition(":")
            if rest == UNTRAINED:
                return cls(arch, seed=seed, config=config)
            if Path(rest).expanduser().exists() or rest.endswith((".pt", ".bin", ".safetensors")):
                return cls(arch, checkpoint=_absolute(rest), config=config)
            return cls(arch, pretrained=rest, config=config)
        return cls(DEFAULT_ARCH, checkpoint=_absolute(text), config=config)

    @property
    def untrained(self) -> bool:
        return self.pretrained is None and self.checkpoint is None

    @property
    def name(self) -> str:
        """The spec as users write it (and as libraries record it)."""
        if self.checkpoint:
            return f"{self.arch}:{self.checkpoint}"
        return f"{self.arch}:{self.pretrained or UNTRAINED}"


def _absolute(path: str) -> str:
    """Checkpoint paths are stored absolute, so a library means the same file wherever it is
    opened from."""
    return str(Path(path).expanduser().resolve())


_IDENTITY_CACHE: dict[tuple[str, int, int], str] = {}


def weights_identity(spec: ModelSpec) -> str:
    """What made the vectors: a file's SHA-256, an open_clip tag, or the untrained seed.

    A checkpoint is hashed again whenever its size or modification time differ from the last
    hash this process made of it, so a file replaced on disk is never taken for the old one.
    """
    if spec.checkpoint:
        st = os.stat(spec.checkpoint)
        key = (spec.checkpoint, st.st_size, st.st_mtime_ns)
        if key not in _IDENTITY_CACHE:
            h = hashlib.sha256()
            with open(spec.checkpoint, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            _IDENTITY_CACHE[key] = f"sha256:{h.hexdigest()}"
        return _IDENTITY_CACHE[key]
    if spec.pretrained:
        return f"open_clip:{spec.arch}:{spec.pretrained}"
    return f"untrained:seed={spec.seed}"


def _how_to_provide(spec: ModelSpec) -> str:
    return (
        f"weights for {spec.name} are not in the local cache. Either download them once with "
        f"network access (set MEDIA_ML_ALLOW_DOWNLOAD=1 and run the command again; it fills "
        f"the Hugging Face cache), or pass a local checkpoint file "
        f"(--model {spec.arch}:/path/to/open_clip_model.bin), or use --model untrained for a "
        f"smoke run (random weights, meaningless similarities)"
    )


def downloads_allowed() -> bool:
    """Whether a pretrained tag missing from the local cache may be fetched from the network
    (``MEDIA_ML_ALLOW_DOWNLOAD=1``). Off by default: without a network, the hub's retries
    would keep a user waiting most of a minute before the same error."""
    return os.environ.get("MEDIA_ML_ALLOW_DOWNLOAD", "").strip().lower() in ("1", "true", "yes")


def cached_weights(spec: ModelSpec) -> tuple[str, dict[str, Any]] | None:
    """``(local file, preprocessing config)`` of a pretrained tag found in the local caches
    (Hugging Face hub cache, open_clip's URL cache), without touching the network."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained or "")
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(spec.arch)
        raise ModelLoadError(f"{spec.arch} has no pretrained tag {spec.pretrained!r} in open_clip "
                             f"(known: {', '.join(tags) or 'none'})")
    preprocess = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode")
                  if cfg.get(k) is not None}
    if cfg.get("file"):
        return (str(cfg["file"]), preprocess) if Path(cfg["file"]).is_file() else None
    hub = cfg.get("hf_hub") or ""
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors",
                                             "open_clip_pytorch_model.bin"]
        if filename and not filename.endswith(".safetensors"):
            names.insert(0, str(Path(filename).with_suffix(".safetensors")))
        for name in names:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str) and Path(found).is_file():
                return found, preprocess
        return None
    url = cfg.get("url") or ""
    if url:
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        return (str(local), preprocess) if local.is_file() else None
    return None


class ClipEmbedder:
    """Embeds RGB images and texts with one open_clip model on one device."""

    def __init__(self, spec: ModelSpec, device: str | None = None, threads: int | None = None):
        import open_clip
        import torch

        self.spec = spec
        if spec.config:
            open_clip.add_model_config(spec.config)
        if spec.arch not in open_clip.list_models():
            raise ModelLoadError(f"unknown open_clip architecture {spec.arch!r} (known: e.g. "
                                 f"{', '.join(open_clip.list_models()[:5])}, …)")
        if spec.checkpoint and not Path(spec.checkpoint).is_file():
            raise ModelLoadError(f"checkpoint file {spec.checkpoint} does not exist")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu" and threads:
            torch.set_num_threads(max(1, threads))
        precision = "fp16" if self.device.startswith("cuda") else "fp32"
        if spec.untrained:
            torch.manual_seed(spec.seed)
        source = spec.checkpoint or spec.pretrained
        preprocess: dict[str, Any] | None = None
        if spec.pretrained and not downloads_allowed():
            found = cached_weights(spec)
            if found is None:
                raise ModelLoadError(_how_to_provide(spec))
            source, preprocess = found
        try:
            model = open_clip.create_model(
                spec.arch, pretrained=source, precision=precision, device=self.device,
                require_pretrained=not spec.untrained, force_preprocess_cfg=preprocess,
            )
        except (RuntimeError, OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError,
                EOFError) as e:
            if spec.checkpoint:
                raise ModelLoadError(f"cannot load checkpoint {spec.checkpoint} into "
                                     f"{spec.arch}: {e}") from e
            raise ModelLoadError(_how_to_provide(spec)) from e
        model.eval()
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(spec.arch)
        self.context_length = int(getattr(self.tokenizer, "context_length", 77))
        self.preprocess_cfg, self._transform = _model_transform(spec, model)
        size = self.preprocess_cfg.size
        self.image_size = int(size[0] if isinstance(size, tuple | list) else size)
        self.dim = int(model.text_projection.shape[1] if getattr(model, "text_projection", None)
                       is not None else self._probe_dim())
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self._lock = threading.Lock()
        self._text_cache: dict[str, np.ndarray] = {}
        if spec.untrained:
            log.warning("model %s has RANDOM weights: similarities are meaningless", spec.name)

    def _probe_dim(self) -> int:
        return int(self._embed_texts(["a"]).shape[1])

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """The model's own open_clip transform (its ``preprocess_val``) on an RGB uint8 image.

        Size, resize mode (shortest side then centre crop, longest side then pad, or squash),
        interpolation, mean and std all come from the loaded model's preprocessing config, so the
        pixels equal open_clip's bit for bit. Returns CHW float32. Safe to call from a thread
        other than the one running the model.
        """
        from PIL import Image

        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise UsageError(f"expected an RGB uint8 image of shape (H, W, 3), got {rgb.dtype} "
                             f"{rgb.shape}")
        pixels: np.ndarray = self._transform(Image.fromarray(rgb)).numpy()
        return pixels

    def embed_images(self, images: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 embeddings of RGB uint8 images (any sizes)."""
        if not images:
            return np.zeros((0, self.dim), np.float32)
        out = []
        for i in range(0, len(images), batch_size):
            batch = np.stack([self.preprocess(im) for im in images[i : i + batch_size]])
            out.append(self.embed_pixels(batch))
        return np.concatenate(out)

    def embed_pixels(self, batch: np.ndarray) -> np.ndarray:
        """Embeddings of an already preprocessed ``(n, 3, S, S)`` float32 batch."""
        import torch

        t = torch.from_numpy(batch)
        if self.device.startswith("cuda"):
            t = t.pin_memory().to(self.device, non_blocking=True)
        with self._lock, torch.inference_mode():
            feats = self.model.encode_image(t.to(self.dtype), normalize=True)
        return feats.float().cpu().numpy()

    def tokenize(self, texts: list[str]) -> tuple[Any, list[bool]]:
        """Tokens for ``texts`` and which of them were truncated to the context length."""
        truncated = []
        for t in texts:
            if not t.strip():
                raise UsageError("empty text query")
            n = len(self.tokenizer.encode(t)) if hasattr(self.tokenizer, "encode") else 0
            truncated.append(n + 2 > self.context_length)
        return self.tokenizer(texts), truncated

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings of texts (truncated to the context, with a warning).

        Results are cached per text (context prompts are asked for on every ``suggest``).
        """
        missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        if missing:
            for t, v in zip(missing, self._embed_texts(missing), strict=True):
                if len(self._text_cache) >= 4096:
                    self._text_cache.pop(next(iter(self._text_cache)))
                self._text_cache[t] = v
        return np.stack([self._text_cache[t] for t in texts])

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        tokens, truncated = self.tokenize(texts)
        for t, cut in zip(texts, truncated, strict=True):
            if cut:
                log.warning("text truncated to the model's %d-token context: %.60s…",
                            self.context_length, t)
        with self._lock, torch.inference_mode():
            feats = encode_text_to_end(self.model, tokens.to(self.device))
        return feats.float().cpu().numpy()


def encode_text_to_end(model: Any, tokens: Any) -> Any:
    """``model.encode_text(tokens, normalize=True)``, computed on the tokens up to the last
    end-of-text token of the batch only.

    CLIP's text tower is causal and pools at the end-of-text token, so the padding after it
    cannot change the result: a 10-token query costs 10 positions instead of 77 (several times
    faster on a CPU). Models this does not hold for (non-causal, other pooling, another text
    tower) take open_clip's own path.
    """
    import torch
    import torch.nn.functional as F
    from open_clip.model import CLIP
    from open_clip.transformer import text_global_pool

    mask = getattr(model, "attn_mask", None)
    pool = getattr(model, "text_pool_type", None)
    if (not isinstance(model, CLIP) or mask is None or pool not in ("argmax", "eos")
            or getattr(model, "text_eos_id", None) is None and pool == "eos"):
        return model.encode_text(tokens, normalize=True)
    if pool == "argmax":
        ends = tokens.argmax(dim=-1)
    else:
        ends = (tokens == model.text_eos_id).int().argmax(dim=-1)
    n = int(ends.max()) + 1
    short = tokens[:, :n]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(short).to(cast)
    x = x + model.positional_embedding[:n].to(cast)
    x = model.transformer(x, attn_mask=mask[:n, :n])
    x = model.ln_final(x)
    x = text_global_pool(x, short, pool, eos_token_id=getattr(model, "text_eos_id", None))
    if model.text_projection is not None:
        x = (model.text_projection(x) if isinstance(model.text_projection, torch.nn.Linear)
             else x @ model.text_projection)
    return F.normalize(x, dim=-1)


def _model_transform(spec: ModelSpec, model: Any) -> tuple[Any, Any]:
    """``(PreprocessCfg, transform)`` of ``model``: the evaluation transform open_clip's
    ``create_model_and_transforms`` builds from ``model.visual.preprocess_cfg`` (set from the
    pretrained tag or ``force_preprocess_cfg``)."""
    from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict

    found = getattr(model.visual, "preprocess_cfg", None) or {"size": model.visual.image_size}
    try:
        cfg = PreprocessCfg(**merge_preprocess_dict(PreprocessCfg(), found))
        return cfg, image_transform_v2(cfg, is_train=False)
    except (AssertionError, TypeError, ValueError) as e:  # open_clip asserts on unknown modes
        raise ModelLoadError(f"{spec.name} has a preprocessing config open_clip cannot build "
                             f"({found}): {e!r}") from e


_LOAD_LOCK = threading.Lock()


def load_embedder(spec: ModelSpec, device: str | None = None,
                  threads: int | None = None) -> ClipEmbedder:
    """The process-wide embedder for ``spec``: loaded on first use, then reused by every task.

    ``threads`` caps torch's CPU threads so that worker processes sharing a machine do not
    oversubscribe it (``MEDIA_ML_TORCH_THREADS`` overrides).
    """
    env = int(os.environ.get("MEDIA_ML_TORCH_THREADS", "0")) or None
    with _LOAD_LOCK:
        return _cached_embedder(spec, device, env or threads)


@functools.lru_cache(maxsize=2)
def _cached_embedder(spec: ModelSpec, device: str | None, threads: int | None) -> ClipEmbedder:
    return ClipEmbedder(spec, device=device, threads=threads)
