"""Where vectors live: the FAISS index over keyframe embeddings (see :mod:`.vector`)."""

from media_ml.indexes.vector import VectorIndex, choose_factory, ivf_lists

__all__ = ["VectorIndex", "choose_factory", "ivf_lists"]
