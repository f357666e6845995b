//! Who may see which field: see issue 3.
