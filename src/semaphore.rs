//! Being built: see DESIGN.md.
