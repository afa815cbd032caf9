"""The style dataset: the store's chunks become training examples in a hashed snapshot."""
