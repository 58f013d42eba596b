//! `trustPolicy: no-downgrade`, as pnpm 11+ checks a lockfile against it: a version is
//! rejected when a version of the same package published before it carried stronger trust
//! evidence, since a package that loses its provenance from one release to the next may have
//! changed hands (a stolen token publishes without the maintainer's CI).
//!
//! Evidence, strongest first, read from the full packument's version objects: a staged
//! publish (`_npmUser.approver`), a trusted publisher (`_npmUser.trustedPublisher` with a
//! provenance attestation), a provenance attestation (`dist.attestations.provenance`), none.
//! Versions are compared by publish date, not semver; a prerelease published earlier does not
//! count against a release, and a version without a publish time is not compared.
//! A version the packument lists without its version object cannot be judged, and pnpm
//! refuses it. Exclusions, `trustPolicyIgnoreAfter` and missing publish times are handled by
//! the caller (`release_age.rs`).

use jiff::Timestamp;
use serde_json::Value;

/// How strong a version's trust evidence is: 0 (none) to 3 (a staged publish).
fn evidence(manifest: &Value) -> u8 {
    let present = |pointer: &str| {
        manifest
            .pointer(pointer)
            .is_some_and(|value| !value.is_null() && *value != Value::Bool(false))
    };
    let provenance = present("/dist/attestations/provenance");
    if present("/_npmUser/approver") {
        3
    } else if provenance && present("/_npmUser/trustedPublisher") {
        2
    } else if provenance {
        1
    } else {
        0
    }
}

/// Whether `version` is a prerelease (`1.0.0-beta.1`; build metadata aside).
fn is_prerelease(version: &str) -> bool {
    version
        .split('+')
        .next()
        .is_some_and(|core| core.contains('-'))
}

/// What the trust policy says of one locked version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TrustVerdict {
    /// No version published before it had stronger evidence.
    Kept,
    /// A version published before it had stronger evidence.
    Downgrade,
    /// The packument lists the version's publish time but not its version object, so there
    /// is no evidence to judge: pnpm refuses it ("could not be checked against trustPolicy").
    NoVersionObject,
}

/// Judges `version` of the package whose full packument is `packument`: whether it carries
/// weaker evidence than a version published before it. `published` gives each version's
/// publish time (the caller has checked that `version` has one).
pub(super) fn judge(
    packument: &Value,
    version: &str,
    published: &impl Fn(&str) -> Option<Timestamp>,
) -> TrustVerdict {
    let versions = packument.get("versions").and_then(Value::as_object);
    let Some(manifest) = versions.and_then(|versions| versions.get(version)) else {
        return TrustVerdict::NoVersionObject;
    };
    let Some(at) = published(version) else {
        return TrustVerdict::Kept;
    };
    let current = evidence(manifest);
    let prerelease = is_prerelease(version);
    let downgraded = versions
        .into_iter()
        .flatten()
        .any(|(other, other_manifest)| {
            other != version
                && (prerelease || !is_prerelease(other))
                && published(other).is_some_and(|other_at| other_at < at)
                && evidence(other_manifest) > current
        });
    if downgraded {
        TrustVerdict::Downgrade
    } else {
        TrustVerdict::Kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn times(version: &str) -> Option<Timestamp> {
        let at = match version {
            "1.0.0-beta.1" => "2020-01-01T00:00:00Z",
            "1.0.0" => "2020-02-01T00:00:00Z",
            "2.0.0" => "2020-03-01T00:00:00Z",
            "1.0.1" => "2020-04-01T00:00:00Z",
            "3.0.0-beta.1" => "2020-05-01T00:00:00Z",
            _ => return None,
        };
        at.parse().ok()
    }

    #[test]
    fn evidence_is_ranked_as_pnpm_ranks_it() {
        let provenance = json!({"provenance": {"predicateType": "x"}});
        assert_eq!(evidence(&json!({})), 0);
        assert_eq!(evidence(&json!({"dist": {"attestations": provenance}})), 1);
        assert_eq!(
            evidence(&json!({"_npmUser": {"trustedPublisher": {"id": "ci"}}})),
            0,
            "a trusted publisher without provenance counts for nothing"
        );
        assert_eq!(
            evidence(
                &json!({"_npmUser": {"trustedPublisher": {"id": "ci"}}, "dist": {"attestations": provenance}})
            ),
            2
        );
        assert_eq!(evidence(&json!({"_npmUser": {"approver": "someone"}})), 3);
    }

    #[test]
    fn only_versions_published_earlier_count_and_prereleases_only_for_prereleases() {
        let attested = json!({"dist": {"attestations": {"provenance": {}}}});
        let packument = json!({"versions": {
            "1.0.0-beta.1": attested,
            "1.0.0": {},
            "2.0.0": attested,
            "1.0.1": {},
            "3.0.0-beta.1": {},
        }});
        let judge = |version| judge(&packument, version, &times);
        // An attested prerelease published before does not count against a release.
        assert_eq!(judge("1.0.0"), TrustVerdict::Kept);
        // 2.0.0, published before 1.0.1 though higher, does.
        assert_eq!(judge("1.0.1"), TrustVerdict::Downgrade);
        // A prerelease is judged against the prereleases too.
        assert_eq!(judge("3.0.0-beta.1"), TrustVerdict::Downgrade);
        // Nothing before it: no downgrade.
        assert_eq!(judge("1.0.0-beta.1"), TrustVerdict::Kept);
        // Not described at all: nothing to judge it by.
        assert_eq!(judge("9.9.9"), TrustVerdict::NoVersionObject);
    }
}
