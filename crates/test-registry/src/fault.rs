//! Scripted failures: a fault matches request paths (substring, or a glob when the pattern
//! holds `*`) and fires on every match, or on the next N matches only. Faults are tried in
//! the order they were injected, so "500, then 503, then success" is two one-shot faults.

use std::time::Duration;

/// What the server does instead of (or on top of) a normal response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Respond with this status and a small JSON body; `retry_after` adds a `Retry-After`
    /// header (seconds).
    Status { code: u16, retry_after: Option<u64> },
    /// Wait, then serve normally.
    Delay(Duration),
    /// Declare the full `Content-Length`, send only the first `send` body bytes, then close.
    Truncate { send: usize },
    /// Flip the bits of one body byte (the middle one) without changing the length.
    Corrupt,
    /// Reset the connection (RST) right after reading the request.
    Reset,
    /// Send the headers and `after` body bytes, then reset the connection.
    ResetAfter { after: usize },
    /// Send the body `bytes` at a time with a pause of `every` between chunks.
    SlowDrip { bytes: usize, every: Duration },
    /// Status 200 with an HTML error page instead of the resource.
    HtmlPage,
    /// This status with this HTML page, as a front server (nginx) sends its own errors.
    Page { code: u16, html: String },
    /// Send the whole body under this `Content-Length`, then close the connection.
    WrongContentLength { declared: u64 },
    /// Answer `302 Found` with `Location: <to><the request's path>`: the same resource on
    /// another server (`to` is its base URL, without a trailing `/`).
    Redirect { to: String },
}

impl FaultKind {
    /// A short stable name for request logs.
    pub fn label(&self) -> &'static str {
        match self {
            FaultKind::Status { .. } => "status",
            FaultKind::Delay(_) => "delay",
            FaultKind::Truncate { .. } => "truncate",
            FaultKind::Corrupt => "corrupt",
            FaultKind::Reset => "reset",
            FaultKind::ResetAfter { .. } => "reset-after",
            FaultKind::SlowDrip { .. } => "slow-drip",
            FaultKind::HtmlPage => "html-page",
            FaultKind::Page { .. } => "page",
            FaultKind::WrongContentLength { .. } => "wrong-content-length",
            FaultKind::Redirect { .. } => "redirect",
        }
    }
}

/// A fault and the requests it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Matched against the request path (as sent and percent-decoded): a substring, or a
    /// glob where `*` matches any run of characters when the pattern contains `*`.
    pub pattern: String,
    pub kind: FaultKind,
    /// Fire on the next `n` matching requests only; `None` fires forever.
    pub times: Option<usize>,
}

impl Fault {
    /// A fault that fires on every matching request.
    pub fn new(pattern: impl Into<String>, kind: FaultKind) -> Self {
        Fault {
            pattern: pattern.into(),
            kind,
            times: None,
        }
    }

    /// Limits the fault to the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    /// A status fault.
    pub fn status(pattern: impl Into<String>, code: u16) -> Self {
        Fault::new(
            pattern,
            FaultKind::Status {
                code,
                retry_after: None,
            },
        )
    }

    pub fn matches(&self, path: &str) -> bool {
        if self.pattern.contains('*') {
            glob_match(self.pattern.as_bytes(), path.as_bytes())
        } else {
            path.contains(&self.pattern)
        }
    }
}

/// The live list of faults.
#[derive(Debug, Default)]
pub struct FaultTable {
    faults: Vec<Fault>,
}

impl FaultTable {
    pub fn push(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// The first fault matching any of `paths`, consuming one of its uses.
    pub fn take(&mut self, paths: &[&str]) -> Option<FaultKind> {
        let idx = self
            .faults
            .iter()
            .position(|f| f.times.is_none_or(|n| n > 0) && paths.iter().any(|p| f.matches(p)))?;
        let fault = &mut self.faults[idx];
        let kind = fault.kind.clone();
        if let Some(n) = fault.times.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.faults.remove(idx);
            }
        }
        Some(kind)
    }
}

/// `*` matches any run of bytes; the pattern must cover the whole text.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::{glob_match, Fault, FaultKind, FaultTable};

    #[test]
    fn glob_and_substring() {
        assert!(glob_match(b"/is-*/-/*.tgz", b"/is-odd/-/is-odd-3.0.1.tgz"));
        assert!(!glob_match(b"/is-*/-/*.tgz", b"/is-odd"));
        assert!(Fault::status("is-odd", 500).matches("/is-odd/-/is-odd-3.0.1.tgz"));
        assert!(!Fault::status("is-even", 500).matches("/is-odd"));
    }

    #[test]
    fn one_shot_faults_fire_in_order() {
        let mut t = FaultTable::default();
        t.push(Fault::status("x", 500).times(1));
        t.push(Fault::status("x", 503).times(1));
        let code = |k: Option<FaultKind>| match k {
            Some(FaultKind::Status { code, .. }) => Some(code),
            _ => None,
        };
        assert_eq!(code(t.take(&["/x"])), Some(500));
        assert_eq!(code(t.take(&["/x"])), Some(503));
        assert_eq!(code(t.take(&["/x"])), None);
    }
}
