//! A message's priority, as `messages.priority` stores it and every answer and change event
//! carries it.

/// How loudly a message asks for attention; chosen by its sender at insert, never changed
/// after. On the wire: `"routine"` (the default) or `"urgent"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Priority {
    /// The default.
    #[default]
    Routine,
    /// Needs an explicit acknowledgement from the receiving side.
    Urgent,
}

impl Priority {
    /// The stored and wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Routine => "routine",
            Priority::Urgent => "urgent",
        }
    }

    /// The priority a wire value names; `None` for anything else (the caller decides how
    /// to refuse it).
    pub fn parse(value: &str) -> Option<Priority> {
        match value {
            "routine" => Some(Priority::Routine),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

impl serde::Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Priority::parse(&text)
            .ok_or_else(|| serde::de::Error::unknown_variant(&text, &["routine", "urgent"]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_two_wire_values() {
        for p in [Priority::Routine, Priority::Urgent] {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Priority>(&json).unwrap(), p);
        }
        assert_eq!(
            serde_json::to_string(&Priority::Urgent).unwrap(),
            "\"urgent\""
        );
        assert_eq!(Priority::parse("URGENT"), None, "values are lower case");
        assert!(serde_json::from_str::<Priority>("\"high\"").is_err());
        assert_eq!(Priority::default(), Priority::Routine);
    }
}
