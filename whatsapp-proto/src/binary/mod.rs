//! The binary-XML node model, encoder and decoder.
