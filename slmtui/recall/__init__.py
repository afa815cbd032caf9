"""Recall: finding what you wrote that bears on a message (`search.py`)."""
