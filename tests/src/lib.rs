//! Helpers for the end-to-end tests: the test rig, temp dirs, the real binaries.
