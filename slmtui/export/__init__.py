"""Export: a trained model becomes GGUF files that llama.cpp (and so Ollama, LM Studio) can run.

Three steps, one module each: `gguf_convert` writes a Hugging Face folder as a full-precision
GGUF, `lora_gguf` writes a PEFT adapter as a runtime LoRA GGUF (chat right after training,
without a merge), and `quantize` shrinks a GGUF with llama.cpp's own quantizer. Nothing heavy is
imported here, so that importing the package costs nothing until a step runs.
"""
