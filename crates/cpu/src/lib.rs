//! cpu: (stub, being written)
