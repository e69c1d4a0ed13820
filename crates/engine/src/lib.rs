//! engine: (stub, being written)
