"""Authoring and maintenance tools for the course (not part of the learner-facing package)."""
