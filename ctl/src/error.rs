//! Errors of the client library.
