//! model: (stub, being written)
