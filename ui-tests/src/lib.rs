//! trybuild cases for deimos-macros live in tests/ui.
