"""Training-side code: imports torch and transformers, so it is only imported in child processes."""
