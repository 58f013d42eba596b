//! pnpm's name matcher (`createMatcher`): behind `hoistPattern` and `publicHoistPattern` in
//! the linker, and `ignoredOptionalDependencies` in the frozen-lockfile check.
//!
//! pnpm's patterns are globs where `*` matches any run of characters (slashes included) and a
//! leading `!` negates. Patterns are applied in order: a positive match selects, a later
//! negative match deselects. A list that starts with a negation starts from "everything".

/// A compiled list of patterns.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<(bool, String)>,
}

impl Matcher {
    /// Compiles `patterns` (`["*"]`, `["*eslint*", "!eslint-scope"]`).
    pub fn new(patterns: &[String]) -> Self {
        Matcher {
            patterns: patterns
                .iter()
                .map(|p| match p.strip_prefix('!') {
                    Some(rest) => (true, rest.trim().to_string()),
                    None => (false, p.trim().to_string()),
                })
                .collect(),
        }
    }

    /// True when no pattern can ever match.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `alias` is selected.
    pub fn matches(&self, alias: &str) -> bool {
        let mut selected = self.patterns.first().is_some_and(|(neg, _)| *neg);
        for (negated, glob) in &self.patterns {
            if glob_match(glob, alias) {
                selected = !negated;
            }
        }
        selected
    }
}

/// `*`-only glob match, iterative with backtracking to the last `*`. Over bytes: `*` is
/// ASCII, and a literal run that matches at a char boundary cannot also match from inside a
/// multi-byte char (UTF-8 continuation bytes never start one), so this is the char match
/// without collecting either side. Hoisting asks it for every dependency edge.
fn glob_match(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &[&str]) -> Matcher {
        Matcher::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn globs_and_negation() {
        assert!(m(&["*"]).matches("@scope/x"));
        assert!(!m(&[]).matches("a"));
        let eslint = m(&["*eslint*", "*prettier*"]);
        assert!(eslint.matches("eslint-plugin-x") && eslint.matches("@x/prettier"));
        assert!(!eslint.matches("react"));
        let neg = m(&["*", "!react"]);
        assert!(neg.matches("react-dom") && !neg.matches("react"));
        assert!(m(&["!react"]).matches("vue"));
        assert!(!m(&["!react"]).matches("react"));
        assert!(m(&["a*b*c"]).matches("aXXbYc") && !m(&["a*b*c"]).matches("aXXbY"));
        // Multi-byte chars match as whole chars, on either side of a star.
        assert!(m(&["*é"]).matches("café") && !m(&["*é"]).matches("cafe"));
        assert!(m(&["*ü*"]).matches("aüb") && !m(&["*ü*"]).matches("aub"));
        assert!(m(&["ü*"]).matches("über") && !m(&["ü*"]).matches("uber"));
        assert!(!m(&["*é"]).matches("caféx") && m(&["*"]).matches("é"));
    }
}
