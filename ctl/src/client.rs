//! Blocking client for serd.
