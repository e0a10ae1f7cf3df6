//! Placeholder: this crate is built by a later issue (see DESIGN.md).
