//! End-to-end tests of Skiff live in `tests/`; this library is empty on purpose.
