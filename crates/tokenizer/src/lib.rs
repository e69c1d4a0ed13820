//! tokenizer: (stub, being written)
