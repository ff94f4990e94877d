//! Integration tests: writer.
