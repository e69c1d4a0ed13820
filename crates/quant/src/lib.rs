//! quant: (stub, being written)
