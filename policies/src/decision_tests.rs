//! Decisions of the default bundle, rule by rule, plus custom bundles and the
//! decision cache.

use std::sync::Arc;

use lgsp_contracts::ErrorCode;

use crate::{
    AccessRequest, DataClass, Decision, FieldFilter, PolicyEngine, PolicyError, PolicySet,
    SubscriptionView,
};

const BIRTH: &str = "1.001612";
const MARRIAGE: &str = "1.000894";
const LINKED_BIRTH: &str = "2.000986";

fn purposes() -> Vec<String> {
    vec![BIRTH.to_string(), MARRIAGE.to_string()]
}

/// A level-3 commune system calling the level-3 population service with an
/// approved subscription, for birth registration, with an officer named.
fn population<'a>(purposes: &'a [String]) -> AccessRequest<'a> {
    AccessRequest {
        system: "motcua-xa-my-hiep",
        agency: "000.01.00.H29",
        system_level: 3,
        service: "population",
        service_level: 3,
        data_class: DataClass::Confidential,
        personal_data: true,
        subscription: Some(SubscriptionView {
            approved: true,
            purposes,
        }),
        purpose: Some(BIRTH),
        user_present: true,
    }
}

fn enterprise<'a>() -> AccessRequest<'a> {
    AccessRequest {
        system: "motcua-xa-my-hiep",
        agency: "000.01.00.H29",
        system_level: 1,
        service: "enterprise",
        service_level: 1,
        data_class: DataClass::Public,
        personal_data: false,
        subscription: None,
        purpose: None,
        user_present: false,
    }
}

fn builtin() -> PolicyEngine {
    PolicyEngine::new(PolicySet::builtin())
}

fn fields(list: &[&str]) -> FieldFilter {
    FieldFilter::Only(Arc::new(list.iter().map(|f| f.to_string()).collect()))
}

/// The code and determining policy of a denial, or a failure naming the allow.
fn denial(decision: Decision) -> (ErrorCode, String) {
    match decision {
        Decision::Deny {
            code,
            policy,
            reason,
        } => {
            assert!(!reason.trim().is_empty(), "{policy} gave no reason");
            (code, policy)
        }
        allow => panic!("expected a denial, got {allow:?}"),
    }
}

fn assert_denied(request: &AccessRequest<'_>, code: ErrorCode, policy: &str) {
    let (got_code, got_policy) = denial(builtin().decide(request));
    assert_eq!(
        (got_code, got_policy.as_str()),
        (code, policy),
        "{request:?}"
    );
}

#[test]
fn public_data_needs_no_subscription() {
    let decision = builtin().decide(&enterprise());
    assert_eq!(
        decision,
        Decision::Allow {
            fields: FieldFilter::All
        }
    );
}

#[test]
fn confidential_data_without_subscription_is_refused() {
    let mut request = enterprise();
    request.data_class = DataClass::Confidential;
    assert_denied(
        &request,
        ErrorCode::SubscriptionRequired,
        "subscription-required",
    );

    let purposes = purposes();
    let mut request = population(&purposes);
    request.subscription = None;
    assert_denied(
        &request,
        ErrorCode::SubscriptionRequired,
        "subscription-required",
    );
}

#[test]
fn only_an_approved_subscription_counts() {
    // Requested, rejected and revoked subscriptions all reach the engine as not approved.
    let purposes = purposes();
    let mut request = population(&purposes);
    request.subscription = Some(SubscriptionView {
        approved: false,
        purposes: &purposes,
    });
    assert_denied(
        &request,
        ErrorCode::SubscriptionRequired,
        "subscription-required",
    );
}

#[test]
fn secret_data_is_never_shared() {
    let purposes = purposes();
    let mut request = population(&purposes);
    request.data_class = DataClass::Secret;
    assert_denied(
        &request,
        ErrorCode::SubscriptionRequired,
        "secret-data-never-shared",
    );
    request.personal_data = false;
    request.system_level = 5;
    assert_denied(
        &request,
        ErrorCode::SubscriptionRequired,
        "secret-data-never-shared",
    );
    // Even unsubscribed, where "subscription-required" also applies, the secret rule speaks.
    request.personal_data = true;
    request.subscription = None;
    assert_denied(
        &request,
        ErrorCode::SubscriptionRequired,
        "secret-data-never-shared",
    );
    match builtin().decide(&request) {
        Decision::Deny { reason, .. } => assert!(reason.contains("never shared"), "{reason}"),
        allow => panic!("{allow:?}"),
    }
}

#[test]
fn a_level_2_system_cannot_call_a_level_3_service() {
    let purposes = purposes();
    let mut request = population(&purposes);
    request.system_level = 2;
    assert_denied(
        &request,
        ErrorCode::SecurityLevelInsufficient,
        "security-level-insufficient",
    );
    // The rule compares numbers; it applies to public services as well.
    let mut public = enterprise();
    public.service_level = 2;
    assert_denied(
        &public,
        ErrorCode::SecurityLevelInsufficient,
        "security-level-insufficient",
    );
    request.system_level = 4;
    assert!(builtin().decide(&request).is_allowed());
}

#[test]
fn personal_data_requires_a_purpose_and_an_officer() {
    let purposes = purposes();
    let mut request = population(&purposes);
    request.purpose = None;
    assert_denied(&request, ErrorCode::PurposeRequired, "purpose-required");
    request.purpose = Some("   ");
    assert_denied(&request, ErrorCode::PurposeRequired, "purpose-required");
    request.user_present = false;
    assert_denied(&request, ErrorCode::PurposeRequired, "purpose-required");

    request.purpose = Some(BIRTH);
    assert_denied(&request, ErrorCode::PurposeRequired, "officer-required");
    match builtin().decide(&request) {
        Decision::Deny { reason, .. } => assert!(reason.contains("X-LGSP-User"), "{reason}"),
        allow => panic!("{allow:?}"),
    }
}

#[test]
fn a_purpose_outside_the_subscription_is_refused() {
    let purposes = purposes();
    let mut request = population(&purposes);
    request.purpose = Some(LINKED_BIRTH);
    assert_denied(
        &request,
        ErrorCode::PurposeNotAllowed,
        "purpose-not-allowed",
    );
    let none: Vec<String> = Vec::new();
    let mut request = population(&none);
    request.purpose = Some(BIRTH);
    assert_denied(
        &request,
        ErrorCode::PurposeNotAllowed,
        "purpose-not-allowed",
    );
}

#[test]
fn an_allowed_purpose_sees_its_fields() {
    let purposes = purposes();
    let engine = builtin();
    let birth = engine.decide(&population(&purposes));
    assert_eq!(
        birth,
        Decision::Allow {
            fields: fields(&[
                "soDinhDanh",
                "hoTen",
                "ngaySinh",
                "gioiTinh",
                "noiThuongTru",
                "noiOHienTai",
                "queQuan",
                "danToc",
                "tonGiao",
                "quocTich",
                "tinhTrangHonNhan",
                "noiSinh",
            ])
        }
    );
    let mut marriage = population(&purposes);
    marriage.purpose = Some(MARRIAGE);
    match engine.decide(&marriage) {
        Decision::Allow {
            fields: FieldFilter::Only(list),
        } => {
            assert!(list.iter().any(|f| f == "tinhTrangHonNhan"));
            assert!(!list.iter().any(|f| f == "tonGiao"), "{list:?}");
        }
        other => panic!("{other:?}"),
    }

    // A purpose the table does not list gets "*".
    let other = vec!["1.000656".to_string()];
    let mut household = population(&other);
    household.service = "social-insurance";
    household.service_level = 2;
    household.purpose = Some("1.000656");
    assert_eq!(
        engine.decide(&household),
        Decision::Allow {
            fields: fields(&[
                "maHoGiaDinh",
                "diaChi",
                "thanhVien.hoTen",
                "thanhVien.maSoBhxh",
                "thanhVien.quanHeVoiChuHo"
            ])
        }
    );

    // A personal-data service without field rules is answered whole.
    let mut civil = population(&purposes);
    civil.service = "civil-status";
    assert_eq!(
        engine.decide(&civil),
        Decision::Allow {
            fields: FieldFilter::All
        }
    );
}

#[test]
fn denials_report_the_most_fundamental_problem_first() {
    let purposes = purposes();
    // Everything wrong at once: no subscription, level too low, no purpose, no officer.
    let mut request = population(&purposes);
    request.subscription = None;
    request.system_level = 1;
    request.purpose = None;
    request.user_present = false;
    assert_denied(
        &request,
        ErrorCode::SubscriptionRequired,
        "subscription-required",
    );
    // Subscribed: the level comes next.
    request.subscription = Some(SubscriptionView {
        approved: true,
        purposes: &purposes,
    });
    assert_denied(
        &request,
        ErrorCode::SecurityLevelInsufficient,
        "security-level-insufficient",
    );
    // Level fixed: the missing purpose.
    request.system_level = 3;
    assert_denied(&request, ErrorCode::PurposeRequired, "purpose-required");
    // A purpose not allowed and no officer: the missing officer first.
    request.purpose = Some(LINKED_BIRTH);
    assert_denied(&request, ErrorCode::PurposeRequired, "officer-required");
    request.user_present = true;
    assert_denied(
        &request,
        ErrorCode::PurposeNotAllowed,
        "purpose-not-allowed",
    );
}

#[test]
fn a_stricter_bundle_changes_the_decision() {
    let purposes = purposes();
    let request = population(&purposes);
    assert!(builtin().decide(&request).is_allowed());

    // Hot reload: the same request under a bundle that also stops birth
    // registration from reaching population data, and trims its fields.
    let stricter = format!(
        "{}\n@id(\"no-birth-lookups\")\n@code(\"PURPOSE_NOT_ALLOWED\")\n@reason(\"Tạm ngừng tra cứu cho khai sinh.\")\n\
         forbid (principal, action, resource == Service::\"population\")\nwhen {{ context.purpose == \"{BIRTH}\" }};\n",
        include_str!("../default/policy.cedar")
    );
    let set = PolicySet::parse(
        "province-2",
        &stricter,
        "[population]\n\"*\" = [\"hoTen\"]\n",
    );
    let set = match set {
        Ok(set) => set,
        Err(e) => panic!("{e}"),
    };
    let engine = PolicyEngine::new(set);
    assert_eq!(engine.version(), "province-2");
    assert_eq!(
        engine.decide(&request),
        Decision::Deny {
            code: ErrorCode::PurposeNotAllowed,
            policy: "no-birth-lookups".into(),
            reason: "Tạm ngừng tra cứu cho khai sinh.".into(),
        }
    );
    let mut marriage = request;
    marriage.purpose = Some(MARRIAGE);
    assert_eq!(
        engine.decide(&marriage),
        Decision::Allow {
            fields: fields(&["hoTen"])
        }
    );
}

#[test]
fn a_bundle_that_permits_nothing_denies_with_subscription_required() {
    let set = PolicySet::parse("empty", "// nothing\n", "");
    let engine = PolicyEngine::new(set.unwrap_or_else(|e| panic!("{e}")));
    let (code, policy) = denial(engine.decide(&enterprise()));
    assert_eq!(
        (code, policy.as_str()),
        (ErrorCode::SubscriptionRequired, "default-deny")
    );
}

#[test]
fn custom_codes_rank_after_the_access_codes() {
    let cedar = "@id(\"open\") permit (principal, action, resource);\n\
                 @id(\"closed-for-maintenance\") @code(\"MAINTENANCE\") forbid (principal, action, resource);\n\
                 @id(\"low\") @code(\"SECURITY_LEVEL_INSUFFICIENT\") forbid (principal, action, resource) when { principal.level < resource.level };";
    let set = PolicySet::parse("c", cedar, "").unwrap_or_else(|e| panic!("{e}"));
    let mut request = enterprise();
    let (code, policy) = denial(PolicyEngine::new(set.clone()).decide(&request));
    assert_eq!(
        (code, policy.as_str()),
        (ErrorCode::Maintenance, "closed-for-maintenance")
    );
    // A level change is a registry change: the gateway builds a new engine.
    request.service_level = 3;
    let (code, _) = denial(PolicyEngine::new(set).decide(&request));
    assert_eq!(code, ErrorCode::SecurityLevelInsufficient);
}

#[test]
fn a_forbid_that_fails_to_evaluate_still_denies() {
    // Overflow is an evaluation error the validator cannot see.
    let cedar = "@id(\"open\") permit (principal, action, resource);\n\
                 @id(\"overflows\") @code(\"PURPOSE_REQUIRED\")\n\
                 forbid (principal, action, resource) when { principal.level * 9223372036854775807 > 0 };";
    let engine =
        PolicyEngine::new(PolicySet::parse("e", cedar, "").unwrap_or_else(|e| panic!("{e}")));
    let (code, policy) = denial(engine.decide(&enterprise()));
    assert_eq!(
        (code, policy.as_str()),
        (ErrorCode::PurposeRequired, "overflows")
    );
}

#[test]
fn refused_bundles_say_why() {
    let no_code = "@id(\"open\") permit (principal, action, resource);\n@id(\"silent\") forbid (principal, action, resource);";
    assert!(matches!(
        PolicySet::parse("x", no_code, ""),
        Err(PolicyError::MissingCode { .. })
    ));
    let garbage = "permit everything for everyone, thanks";
    let error = PolicySet::parse("x", garbage, "").err();
    assert!(
        matches!(error, Some(PolicyError::Syntax { line: 1, .. })),
        "{error:?}"
    );
}

#[test]
fn odd_slugs_and_purposes_are_just_data() {
    let purposes = vec!["\"; forbid".to_string()];
    let mut request = population(&purposes);
    request.system = "\"::\\\u{0}💥";
    request.service = "";
    request.agency = "\n";
    request.purpose = Some("\"; forbid");
    assert!(builtin().decide(&request).is_allowed());
}

#[test]
fn a_cache_hit_does_not_evaluate_again() {
    let purposes = purposes();
    let engine = builtin();
    let request = population(&purposes);
    let first = engine.decide(&request);
    assert_eq!(engine.evaluations(), 1);
    for _ in 0..10 {
        assert_eq!(engine.decide(&request), first);
    }
    assert_eq!(engine.evaluations(), 1);
    // Surrounding blanks in the purpose are the same purpose.
    let mut padded = request;
    padded.purpose = Some(" 1.001612 ");
    assert_eq!(engine.decide(&padded), first);
    assert_eq!(engine.evaluations(), 1);
}

#[test]
fn the_cache_is_keyed_by_system_service_purpose_and_officer() {
    let purposes = purposes();
    let engine = builtin();
    let request = population(&purposes);
    assert!(engine.decide(&request).is_allowed());

    let mut other_purpose = request;
    other_purpose.purpose = Some(LINKED_BIRTH);
    assert_eq!(
        denial(engine.decide(&other_purpose)).0,
        ErrorCode::PurposeNotAllowed
    );

    let mut no_purpose = request;
    no_purpose.purpose = None;
    assert_eq!(
        denial(engine.decide(&no_purpose)).0,
        ErrorCode::PurposeRequired
    );

    let mut no_officer = request;
    no_officer.user_present = false;
    assert_eq!(
        denial(engine.decide(&no_officer)).0,
        ErrorCode::PurposeRequired
    );

    let mut other_system = request;
    other_system.system = "motcua-xa-tan-phu-dong";
    other_system.subscription = None;
    assert_eq!(
        denial(engine.decide(&other_system)).0,
        ErrorCode::SubscriptionRequired
    );

    let mut other_service = request;
    other_service.service = "civil-status";
    assert_eq!(
        engine.decide(&other_service),
        Decision::Allow {
            fields: FieldFilter::All
        }
    );

    assert_eq!(engine.evaluations(), 6);
    // Each was cached under its own key: asking again changes nothing.
    assert!(engine.decide(&request).is_allowed());
    assert_eq!(
        denial(engine.decide(&other_purpose)).0,
        ErrorCode::PurposeNotAllowed
    );
    assert_eq!(engine.evaluations(), 6);
}

#[test]
fn the_engine_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<PolicyEngine>();
    shareable::<PolicySet>();

    let engine = Arc::new(builtin());
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                let purposes = purposes();
                let mut request = population(&purposes);
                let purpose = format!("purpose-{worker}");
                request.purpose = Some(&purpose);
                (0..100).all(|_| !engine.decide(&request).is_allowed())
            })
        })
        .collect();
    for worker in workers {
        assert_eq!(worker.join().ok(), Some(true));
    }
    assert_eq!(engine.evaluations(), 4);
}
