"""Talking to models through llama-cpp-python: chat and generation, llama_cpp imported lazily."""
