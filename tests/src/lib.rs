//! Shared harness for deimos integration tests.
