//! Which paths require an `Authorization` header, and which value is accepted.

/// Auth requirements: one for everything, plus per-path-prefix ones (longest prefix wins).
#[derive(Debug, Default, Clone)]
pub struct AuthRules {
    global: Option<String>,
    prefixes: Vec<(String, String)>,
}

impl AuthRules {
    pub fn set_global(&mut self, expected: Option<String>) {
        self.global = expected;
    }

    pub fn set_prefix(&mut self, prefix: String, expected: Option<String>) {
        self.prefixes.retain(|(p, _)| *p != prefix);
        if let Some(e) = expected {
            self.prefixes.push((prefix, e));
        }
    }

    /// True when a request for `path` carrying `header` may proceed. `expected` is either a
    /// whole header value (`Bearer …`, `Basic …`) or a bare token meaning `Bearer <token>`.
    pub fn allows(&self, path: &str, header: Option<&str>) -> bool {
        let rule = self
            .prefixes
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, e)| e)
            .or(self.global.as_ref());
        match (rule, header) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(expected), Some(got)) => {
                let got = got.trim();
                got == expected || got.strip_prefix("Bearer ") == Some(expected.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AuthRules;

    #[test]
    fn prefix_beats_global() {
        let mut a = AuthRules::default();
        assert!(a.allows("/x", None));
        a.set_global(Some("t".into()));
        assert!(!a.allows("/x", None));
        assert!(a.allows("/x", Some("Bearer t")));
        assert!(!a.allows("/x", Some("Bearer u")));
        a.set_prefix("/@private/".into(), Some("Basic dTpw".into()));
        assert!(a.allows("/@private/x", Some("Basic dTpw")));
        assert!(!a.allows("/@private/x", Some("Bearer t")));
    }
}
