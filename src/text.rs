//! Words people read: counts with the right plural.

/// `1 step`, `2 steps`, `0 steps`.
pub fn counted(n: impl Into<i64>, singular: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("{n} {singular}")
    } else {
        format!("{n} {singular}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(super::counted(1, "user"), "1 user");
        assert_eq!(super::counted(0, "user"), "0 users");
        assert_eq!(super::counted(2u32, "warning"), "2 warnings");
    }
}
