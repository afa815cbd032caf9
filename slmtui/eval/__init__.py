"""How well a model writes like its author: perplexity on held-out writing and a stylometric
comparison of its generations, for `slmtui eval` and the Models screen.

Runs on the GGUF files chat uses (through llama-cpp-python), so what is measured is what the user
talks to; no torch is imported here.
"""
