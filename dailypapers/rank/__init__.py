"""Ranking: the trending score (what is hot now), pure and explainable."""
