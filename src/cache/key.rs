//! Hierarchical query keys: `["messages", id]` is matched by the prefix `["messages"]`.

use std::fmt;

/// A query key: a path of string segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryKey(pub Vec<String>);

impl QueryKey {
    /// Builds a key from segments.
    pub fn new<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        QueryKey(segments.into_iter().map(Into::into).collect())
    }

    /// Whether `prefix` is this key or one of its ancestors.
    pub fn starts_with(&self, prefix: &QueryKey) -> bool {
        self.0.len() >= prefix.0.len() && self.0.iter().zip(&prefix.0).all(|(a, b)| a == b)
    }

    /// `["conversations"]`: the list with unread counts.
    pub fn conversations() -> Self {
        Self::new(["conversations"])
    }

    /// `["messages", id]`: one thread.
    pub fn messages(conversation_id: &str) -> Self {
        Self::new(["messages", conversation_id])
    }

    /// `["unread_total"]`: the badge.
    pub fn unread_total() -> Self {
        Self::new(["unread_total"])
    }
}

impl fmt::Display for QueryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_descendants_only() {
        let thread = QueryKey::messages("c1");
        assert!(thread.starts_with(&QueryKey::new(["messages"])));
        assert!(thread.starts_with(&thread));
        assert!(
            thread.starts_with(&QueryKey::new(Vec::<String>::new())),
            "the empty prefix is everything"
        );
        assert!(!thread.starts_with(&QueryKey::messages("c2")));
        assert!(!QueryKey::new(["messages"]).starts_with(&thread));
        assert!(!QueryKey::new(["messages_archive"]).starts_with(&QueryKey::new(["messages"])));
    }
}
