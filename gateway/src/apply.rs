//! `lgsp apply FILE`: declare agencies, systems and services in a TOML file
//! and make the store hold them. Idempotent: applying the same file twice
//! changes nothing the second time and leaves the registry version alone.

use crate::registry::consumers::parse_block;
use crate::registry::model::RegistryData;
use lgsp_policies::PolicySet;
use std::path::Path;

/// Why a registry file cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyFileError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The declaration parses but cannot be applied.
    #[error("{path}: {what}: {problem}")]
    Invalid {
        /// The file.
        path: String,
        /// The entity, e.g. `system motcua-xa-a`.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// The file is not a valid registry declaration.
    #[error("{path} is not a valid registry file: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
}

/// Reads and validates a registry file (TOML; `.json` files are read as JSON).
pub fn read_registry_file(path: &Path) -> Result<RegistryData, ApplyFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ApplyFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        toml::from_str(&text).map_err(|e| e.to_string())
    };
    let data: RegistryData = parsed.map_err(|message| ApplyFileError::Parse {
        path: shown.clone(),
        message,
    })?;
    validate(&data).map_err(|(what, problem)| ApplyFileError::Invalid {
        path: shown,
        what,
        problem,
    })?;
    Ok(data)
}

/// A deprecated service must announce its sunset; lifecycle days must be real days.
fn check_lifecycle(service: &crate::registry::model::Service) -> Result<(), String> {
    use crate::admin::timestamps::local_day_start;
    use crate::registry::model::ServiceState;
    for (key, day) in [
        ("deprecated_on", &service.deprecated_on),
        ("sunset_on", &service.sunset_on),
    ] {
        if let Some(day) = day
            && local_day_start(day).is_none()
        {
            return Err(format!("{key} {day:?} must be a day, YYYY-MM-DD"));
        }
    }
    if service.state == ServiceState::Deprecated
        && (service.deprecated_on.is_none() || service.sunset_on.is_none())
    {
        return Err(
            "a deprecated service announces when it was deprecated and its sunset: set deprecated_on and sunset_on (YYYY-MM-DD)".into(),
        );
    }
    Ok(())
}

/// Checks what serde cannot: allow-list entries, plans and the policy bundle.
pub fn validate(data: &RegistryData) -> Result<(), (String, String)> {
    for system in &data.systems {
        if let Some(bad) = system.ip_allow.iter().find(|e| parse_block(e).is_none()) {
            return Err((
                format!("system {}", system.slug),
                format!("ip_allow entry {bad:?} is not an address or CIDR block"),
            ));
        }
    }
    for service in &data.services {
        check_lifecycle(service).map_err(|problem| {
            (
                format!("service {}/{}", service.slug, service.version),
                problem,
            )
        })?;
        crate::upstream::check_service(service).map_err(|problem| {
            (
                format!("service {}/{}", service.slug, service.version),
                problem,
            )
        })?;
        if let Some(path) = &service.upstream.health_path
            && !crate::channels::is_health_path(path)
        {
            return Err((
                format!("service {}/{}", service.slug, service.version),
                format!(
                    "upstream.health_path {path:?} must be a path on the upstream's origin, \
                     starting with '/', without query or fragment"
                ),
            ));
        }
    }
    for sub in &data.subscriptions {
        let what = || format!("subscription {}/{}", sub.system, sub.service);
        if !(sub.plan.rate_per_second.is_finite() && sub.plan.rate_per_second > 0.0) {
            return Err((
                what(),
                "plan.rate_per_second must be a positive number".into(),
            ));
        }
        if sub
            .purposes
            .iter()
            .any(|p| p.trim().is_empty() || p.len() > 64)
        {
            return Err((
                what(),
                "purposes must be non-empty codes of at most 64 characters".into(),
            ));
        }
    }
    if let Some(bundle) = &data.policy {
        PolicySet::parse(&bundle.version, &bundle.cedar, &bundle.fields)
            .map_err(|e| (format!("policy {}", bundle.version), e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_full_declaration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            r#"
[[agencies]]
code = "000.00.00.H29"
name = "UBND tỉnh Đồng Tháp"

[[systems]]
slug = "motcua-xa-a"
agency = "000.00.00.H29"
name = "Một cửa xã A"
security_level = 3

[[services]]
slug = "population"
version = "v1"
name = "Tra cứu dân cư"
owner = "000.00.00.H29"
personal_data = true
data_class = "confidential"
security_level = 3
upstream = { url = "http://127.0.0.1:9000/population/v1", timeout_ms = 3000 }
operations = [{ method = "GET", path = "/citizens/{soDinhDanh}" }]
"#,
        )
        .expect("write");
        let data = read_registry_file(&path).expect("valid");
        assert_eq!(data.agencies[0].name, "UBND tỉnh Đồng Tháp");
        assert_eq!(data.services[0].upstream.timeout_ms, Some(3000));
        assert_eq!(data.systems[0].security_level.get(), 3);
    }

    #[test]
    fn bad_agency_code_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, "[[agencies]]\ncode = \"H29\"\nname = \"x\"\n").expect("write");
        let msg = read_registry_file(&path).expect_err("invalid").to_string();
        assert!(msg.contains("agency code must look like"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn bad_allow_list_and_plan_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            "[[systems]]\nslug='s'\nagency='000.00.00.H29'\nname='x'\nip_allow=['10.0.0.0/40']\n",
        )
        .expect("write");
        let msg = read_registry_file(&path).expect_err("invalid").to_string();
        assert!(
            msg.contains("system s") && msg.contains("10.0.0.0/40"),
            "{msg}"
        );
        std::fs::write(
            &path,
            "[[subscriptions]]\nsystem='s'\nservice='p'\nplan={rate_per_second=0.0, burst=1}\n",
        )
        .expect("write");
        let msg = read_registry_file(&path).expect_err("invalid").to_string();
        assert!(msg.contains("rate_per_second"), "{msg}");
    }

    #[test]
    fn credentials_parse_and_typos_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        let ok = "[[credentials]]\nid='a-oauth'\nsystem='a'\nkind='client_secret'\nclient_id='a'\nsecret_hash='$argon2id$x'\n\n\
                  [[credentials]]\nid='a-cert'\nsystem='a'\nkind='certificate'\nfingerprint='ab'\nrevoked=true\n";
        std::fs::write(&path, ok).expect("write");
        let data = read_registry_file(&path).expect("valid");
        assert_eq!(data.credentials.len(), 2);
        assert!(data.credentials[1].revoked);
        std::fs::write(&path, "[[credentials]]\nid='a-key'\nsystem='a'\nkind='api_key'\nkey_hash='ab'\nkey_hsah='x'\n").expect("write");
        assert!(
            read_registry_file(&path).is_err(),
            "a misspelt key is refused"
        );
    }

    #[test]
    fn the_documented_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/registry.example.toml");
        let data = read_registry_file(&path).expect("deploy/registry.example.toml must stay valid");
        assert!(!data.services.is_empty() && !data.systems.is_empty());
    }

    #[test]
    fn uncompilable_policy_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            "[policy]\nversion='v2'\ncedar='permit(principal, action, resource'\n",
        )
        .expect("write");
        let msg = read_registry_file(&path).expect_err("invalid").to_string();
        assert!(msg.contains("policy v2"), "{msg}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            "[[agencies]]\ncode = \"000.00.00.H29\"\nname = \"x\"\ncolour = \"red\"\n",
        )
        .expect("write");
        assert!(read_registry_file(&path).is_err());
    }

    #[test]
    fn deprecation_needs_real_days_and_a_sunset() {
        let service = |extra: &str| -> crate::registry::model::Service {
            toml::from_str(&format!(
                "slug='x'\nversion='v1'\nname='x'\nowner='000.00.00.H29'\nupstream={{ url='http://127.0.0.1:1' }}\n{extra}"
            ))
            .expect("service")
        };
        assert!(check_lifecycle(&service("")).is_ok());
        assert!(check_lifecycle(&service("state='deprecated'")).is_err());
        assert!(
            check_lifecycle(&service("state='deprecated'\ndeprecated_on='2026-11-01'")).is_err()
        );
        assert!(
            check_lifecycle(&service(
                "state='deprecated'\ndeprecated_on='2026-11-01'\nsunset_on='2027-06-30'"
            ))
            .is_ok()
        );
        let bad = check_lifecycle(&service("sunset_on='2027-13-40'")).expect_err("no such day");
        assert!(bad.contains("sunset_on"), "{bad}");
    }
}

/// What applying a file would do to one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedChange {
    /// The entity does not exist yet.
    Create(String),
    /// The entity exists and differs: the members that change, `(member, before, after)`.
    Update(String, Vec<(String, String, String)>),
    /// The entity is stored exactly as declared.
    Unchanged(String),
}

/// Compares the declared entities with the stored ones, as `lgsp apply
/// --dry-run` shows it. Entities the file does not declare are left alone
/// by an apply, so they are not listed.
pub fn plan(stored: &RegistryData, desired: &RegistryData) -> Vec<PlannedChange> {
    use serde_json::Value;
    fn keyed<T: serde::Serialize>(items: &[T], key: impl Fn(&T) -> String) -> Vec<(String, Value)> {
        items
            .iter()
            .map(|item| (key(item), serde_json::to_value(item).unwrap_or(Value::Null)))
            .collect()
    }
    let pairs = |kind: &str, stored: Vec<(String, Value)>, desired: Vec<(String, Value)>| {
        desired
            .into_iter()
            .map(|(key, want)| {
                let label = format!("{kind} {key}");
                match stored.iter().find(|(k, _)| *k == key) {
                    None => PlannedChange::Create(label),
                    Some((_, have)) if *have == want => PlannedChange::Unchanged(label),
                    Some((_, have)) => PlannedChange::Update(label, member_changes(have, &want)),
                }
            })
            .collect::<Vec<_>>()
    };
    let mut changes = Vec::new();
    changes.extend(pairs(
        "agency",
        keyed(&stored.agencies, |a| a.code.to_string()),
        keyed(&desired.agencies, |a| a.code.to_string()),
    ));
    changes.extend(pairs(
        "system",
        keyed(&stored.systems, |s| s.slug.to_string()),
        keyed(&desired.systems, |s| s.slug.to_string()),
    ));
    let service_key = |s: &crate::registry::model::Service| format!("{}/{}", s.slug, s.version);
    changes.extend(pairs(
        "service",
        keyed(&stored.services, service_key),
        keyed(&desired.services, service_key),
    ));
    changes.extend(pairs(
        "credential",
        keyed(&stored.credentials, |c| c.id.to_string()),
        keyed(&desired.credentials, |c| c.id.to_string()),
    ));
    let subscription_key =
        |s: &crate::registry::model::Subscription| format!("{}/{}", s.system, s.service);
    changes.extend(pairs(
        "subscription",
        keyed(&stored.subscriptions, subscription_key),
        keyed(&desired.subscriptions, subscription_key),
    ));
    changes.extend(pairs(
        "policy",
        keyed(stored.policy.as_slice(), |p| p.version.clone()),
        keyed(desired.policy.as_slice(), |p| p.version.clone()),
    ));
    changes
}

/// The top-level members that differ, with their values as compact JSON
/// (secret hashes masked), `-` for an absent member.
fn member_changes(
    have: &serde_json::Value,
    want: &serde_json::Value,
) -> Vec<(String, String, String)> {
    let empty = serde_json::Map::new();
    let have = have.as_object().unwrap_or(&empty);
    let want = want.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = have.keys().chain(want.keys()).collect();
    keys.sort();
    keys.dedup();
    let shown = |key: &str, value: Option<&serde_json::Value>| match value {
        None => "-".to_string(),
        Some(_) if key.ends_with("_hash") => "***".to_string(),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() > 120 {
                format!("{}…", text.chars().take(120).collect::<String>())
            } else {
                text
            }
        }
    };
    keys.into_iter()
        .filter(|key| have.get(*key) != want.get(*key))
        .map(|key| {
            (
                key.clone(),
                shown(key, have.get(key)),
                shown(key, want.get(key)),
            )
        })
        .collect()
}

/// The plan as `lgsp apply --dry-run` prints it: `+` create, `~` update
/// with each member's change, `=` unchanged, and a summary line.
pub fn render_plan(changes: &[PlannedChange]) -> String {
    let mut out = String::new();
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    for change in changes {
        match change {
            PlannedChange::Create(label) => {
                created += 1;
                out.push_str(&format!("+ {label}\n"));
            }
            PlannedChange::Update(label, members) => {
                updated += 1;
                out.push_str(&format!("~ {label}\n"));
                for (member, before, after) in members {
                    out.push_str(&format!("    {member}: {before} → {after}\n"));
                }
            }
            PlannedChange::Unchanged(label) => {
                unchanged += 1;
                out.push_str(&format!("= {label}\n"));
            }
        }
    }
    out.push_str(&format!(
        "dry run: {created} to create, {updated} to update, {unchanged} unchanged; nothing was written\n"
    ));
    out
}
