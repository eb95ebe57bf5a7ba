"""Personal recommendations: score candidate papers against the papers a reader liked (and turned down).

The model (:mod:`dailypapers.recommend.model`) is pure numpy over unit-length paper embeddings; the offline
benchmark that chose it is ``bench/recommend.py``.
"""
