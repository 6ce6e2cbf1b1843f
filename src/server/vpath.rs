//! Virtual paths of the extended dialect: absolute, normalised paths under the served root,
//! where `..` at the top stays at the top, so a working directory can never leave the root.

/// An absolute path as the client sees it: starts with `/`, no `.`, `..` or empty parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualPath(Vec<u8>);

impl VirtualPath {
    pub fn root() -> VirtualPath {
        VirtualPath(b"/".to_vec())
    }

    /// `argument` taken relative to `self` (or from the root when it starts with `/`).
    pub fn join(&self, argument: &[u8]) -> VirtualPath {
        let mut parts: Vec<&[u8]> = Vec::new();
        let base: &[u8] = if argument.starts_with(b"/") { b"" } else { &self.0 };
        for part in base.split(|&b| b == b'/').chain(argument.split(|&b| b == b'/')) {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                part => parts.push(part),
            }
        }
        let mut path = Vec::with_capacity(self.0.len() + argument.len() + 1);
        for part in &parts {
            path.push(b'/');
            path.extend_from_slice(part);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        VirtualPath(path)
    }

    pub fn parent(&self) -> VirtualPath {
        self.join(b"..")
    }

    pub fn is_root(&self) -> bool {
        self.0 == b"/"
    }

    /// The last part (empty for the root).
    pub fn file_name(&self) -> &[u8] {
        let start = self.0.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        &self.0[start..]
    }

    /// The path relative to the root (empty for the root itself).
    pub fn relative(&self) -> &[u8] {
        &self.0[1..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> VirtualPath {
        VirtualPath::root().join(p.as_bytes())
    }

    fn shown(p: &VirtualPath) -> &str {
        std::str::from_utf8(p.as_bytes()).unwrap()
    }

    #[test]
    fn relative_arguments_extend_the_current_path() {
        assert_eq!(shown(&path("/a").join(b"b/c")), "/a/b/c");
    }

    #[test]
    fn absolute_arguments_start_from_the_root() {
        assert_eq!(shown(&path("/a/b").join(b"/c")), "/c");
    }

    #[test]
    fn dot_dot_goes_up_but_never_above_the_root() {
        assert_eq!(shown(&path("/a/b").join(b"..")), "/a");
        assert_eq!(shown(&path("/a").join(b"../../../etc/passwd")), "/etc/passwd");
        assert_eq!(shown(&VirtualPath::root().parent()), "/");
    }

    #[test]
    fn dots_and_repeated_slashes_vanish() {
        assert_eq!(shown(&path("//a/./b//")), "/a/b");
        assert_eq!(shown(&path("")), "/");
    }

    #[test]
    fn file_name_and_relative_parts() {
        let p = path("/a/b.txt");
        assert_eq!(p.file_name(), b"b.txt");
        assert_eq!(p.relative(), b"a/b.txt");
        assert!(VirtualPath::root().is_root());
        assert_eq!(VirtualPath::root().relative(), b"");
    }
}
