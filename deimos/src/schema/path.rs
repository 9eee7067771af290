//! Field paths for errors (`order.items[2].price`, `attrs["k"]`), built as a borrowed chain
//! while walking a value so the happy path allocates nothing.

use std::fmt;

/// One step from a parent value to a child.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    /// A record field.
    Field(&'a str),
    /// An array index.
    Index(usize),
    /// A map key.
    Key(&'a str),
}

/// A path: this step plus the parent's path; `None` is the root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

/// Extends `parent` (`None` = the root) by one step.
pub(crate) fn child<'a>(parent: Option<&'a Path<'a>>, seg: Seg<'a>) -> Path<'a> {
    Path { parent, seg }
}

/// Renders a path: fields joined by `.`, indexes as `[i]`, map keys as `["k"]`; the root is
/// the empty string.
pub(crate) fn render(path: Option<&Path<'_>>) -> String {
    let mut segs = Vec::new();
    let mut at = path;
    while let Some(p) = at {
        segs.push(p.seg);
        at = p.parent;
    }
    let mut out = String::new();
    for seg in segs.into_iter().rev() {
        match seg {
            Seg::Field(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) => out.push_str(&format!("[{k:?}]")),
        }
    }
    out
}

/// The path as errors print it: `<root>` for the empty path.
pub(crate) fn display(path: &str) -> impl fmt::Display + '_ {
    struct D<'a>(&'a str);
    impl fmt::Display for D<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.0.is_empty() {
                f.write_str("<root>")
            } else {
                f.write_str(self.0)
            }
        }
    }
    D(path)
}

/// `: detail` when there is one.
pub(crate) fn detail(detail: &Option<String>) -> String {
    match detail {
        Some(d) => format!(" ({d})"),
        None => String::new(),
    }
}
