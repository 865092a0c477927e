"""Prioritised screening: the ranker, its learners and combiners, the stopping rule and the session."""
