"""slmtui: train a small language model on your own writing and chat with it in the terminal."""

__version__ = "0.1.0"
