//! gguf: (stub, being written)
