//! The JSON Schemas (draft 2020-12) of the canonical national data, the
//! problem response and the V-APEX descriptor, and their validation.
//!
//! The schema files under `contracts/schemas/` are embedded in the binary and
//! compiled once, on first use, against an in-memory registry: a `$ref` can
//! only reach another embedded schema, never a file or the network.
//!
//! A [`Violation`] names the offending place by JSON pointer, with a message
//! that never quotes the offending value: an answer outside its contract may
//! carry personal data, and violations go to logs and audit records.

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Registry, ValidationError, Validator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the embedded schemas say they live; `$ref`s resolve against it.
const SCHEMA_BASE: &str = "https://lgsp.gov.vn/contracts/";

/// The shared definitions (identifiers, dates, names) the contracts refer to.
const SHARED_TYPES: (&str, &str) = (
    "types.schema.json",
    include_str!("../schemas/types.schema.json"),
);

/// The contracts, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContractName {
    /// A citizen of the population database.
    Citizen,
    /// A birth registration of the civil-status database.
    BirthRecord,
    /// A marriage registration of the civil-status database.
    MarriageRecord,
    /// A death registration of the civil-status database.
    DeathRecord,
    /// An enterprise of the business registration database.
    Enterprise,
    /// A household of the social-insurance database.
    SocialInsuranceHousehold,
    /// A land parcel of the land database.
    LandParcel,
    /// A request for a criminal-record certificate.
    CriminalRecordRequest,
    /// Where a criminal-record certificate request stands.
    CriminalRecordStatus,
    /// The result of an administrative procedure.
    ProcedureResult,
    /// The RFC 9457 problem body of every refusal.
    Problem,
}

impl ContractName {
    /// Every contract.
    pub const ALL: [ContractName; 11] = [
        ContractName::Citizen,
        ContractName::BirthRecord,
        ContractName::MarriageRecord,
        ContractName::DeathRecord,
        ContractName::Enterprise,
        ContractName::SocialInsuranceHousehold,
        ContractName::LandParcel,
        ContractName::CriminalRecordRequest,
        ContractName::CriminalRecordStatus,
        ContractName::ProcedureResult,
        ContractName::Problem,
    ];

    /// The name as registry files and file names spell it (`birth-record`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractName::Citizen => "citizen",
            ContractName::BirthRecord => "birth-record",
            ContractName::MarriageRecord => "marriage-record",
            ContractName::DeathRecord => "death-record",
            ContractName::Enterprise => "enterprise",
            ContractName::SocialInsuranceHousehold => "social-insurance-household",
            ContractName::LandParcel => "land-parcel",
            ContractName::CriminalRecordRequest => "criminal-record-request",
            ContractName::CriminalRecordStatus => "criminal-record-status",
            ContractName::ProcedureResult => "procedure-result",
            ContractName::Problem => "problem",
        }
    }

    /// The contract with this name.
    pub fn parse(name: &str) -> Option<ContractName> {
        ContractName::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The schema's text, as shipped in `contracts/schemas/`.
    pub fn schema_text(self) -> &'static str {
        match self {
            ContractName::Citizen => include_str!("../schemas/citizen.schema.json"),
            ContractName::BirthRecord => include_str!("../schemas/birth-record.schema.json"),
            ContractName::MarriageRecord => include_str!("../schemas/marriage-record.schema.json"),
            ContractName::DeathRecord => include_str!("../schemas/death-record.schema.json"),
            ContractName::Enterprise => include_str!("../schemas/enterprise.schema.json"),
            ContractName::SocialInsuranceHousehold => {
                include_str!("../schemas/social-insurance-household.schema.json")
            }
            ContractName::LandParcel => include_str!("../schemas/land-parcel.schema.json"),
            ContractName::CriminalRecordRequest => {
                include_str!("../schemas/criminal-record-request.schema.json")
            }
            ContractName::CriminalRecordStatus => {
                include_str!("../schemas/criminal-record-status.schema.json")
            }
            ContractName::ProcedureResult => {
                include_str!("../schemas/procedure-result.schema.json")
            }
            ContractName::Problem => include_str!("../schemas/problem.schema.json"),
        }
    }

    /// The schema's `$id`.
    pub fn schema_id(self) -> String {
        format!("{SCHEMA_BASE}{}.schema.json", self.as_str())
    }
}

impl fmt::Display for ContractName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a contract could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// No contract has this name.
    #[error("no contract is named `{0}`")]
    UnknownContract(String),
    /// An embedded schema does not parse or compile; a defect of this build.
    #[error("schema `{schema}` does not compile: {message}")]
    Compile {
        /// The schema file's name.
        schema: String,
        /// What the compiler said.
        message: String,
    },
}

/// One way a value breaks its contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON pointer (RFC 6901) to the offending member; `""` is the whole value.
    pub pointer: String,
    /// The schema keyword that failed (`required`, `pattern`, `type`…).
    pub keyword: String,
    /// What is wrong, without quoting the offending value.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at {pointer}: {}", self.message)
    }
}

impl Violation {
    /// A body that is not JSON at all.
    fn not_json(error: &serde_json::Error) -> Violation {
        Violation {
            pointer: String::new(),
            keyword: "json".to_owned(),
            message: format!(
                "not a JSON document (line {}, column {})",
                error.line(),
                error.column()
            ),
        }
    }
}

/// A request body outside its contract: the answer is `INVALID_REQUEST`,
/// with [`InvalidRequest::pointer`] naming the first offending member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request does not match contract `{contract}` {first}", first = self.first())]
pub struct InvalidRequest {
    /// The contract the request was checked against.
    pub contract: ContractName,
    /// Every violation, in the order [`Contract::validate`] gives them; never empty.
    pub violations: Vec<Violation>,
}

impl InvalidRequest {
    fn first(&self) -> String {
        self.violations
            .first()
            .map(Violation::to_string)
            .unwrap_or_default()
    }

    /// JSON pointer of the first offending member, for the problem response.
    pub fn pointer(&self) -> &str {
        self.violations
            .first()
            .map(|v| v.pointer.as_str())
            .unwrap_or_default()
    }
}

/// A compiled contract.
pub struct Contract {
    name: ContractName,
    validator: Validator,
}

impl fmt::Debug for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contract")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Every contract, compiled on first use; index = position in [`ContractName::ALL`].
static COMPILED: OnceLock<Result<Vec<Contract>, ContractError>> = OnceLock::new();

impl Contract {
    /// The compiled contract `name`.
    pub fn get(name: ContractName) -> Result<&'static Contract, ContractError> {
        let compiled = COMPILED.get_or_init(compile_all).as_ref();
        let contracts = compiled.map_err(Clone::clone)?;
        contracts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ContractError::UnknownContract(name.as_str().to_owned()))
    }

    /// The compiled contract named `name` (`citizen`, `birth-record`…).
    pub fn by_name(name: &str) -> Result<&'static Contract, ContractError> {
        let name = ContractName::parse(name)
            .ok_or_else(|| ContractError::UnknownContract(name.to_owned()))?;
        Contract::get(name)
    }

    /// Which contract this is.
    pub fn name(&self) -> ContractName {
        self.name
    }

    /// Checks `value` against the contract. Violations come sorted by
    /// pointer, then keyword, then message, without duplicates, so the same
    /// value always gives the same list.
    pub fn validate(&self, value: &Value) -> Result<(), Vec<Violation>> {
        if self.validator.is_valid(value) {
            return Ok(());
        }
        let mut violations: Vec<Violation> = self
            .validator
            .iter_errors(value)
            .flat_map(|error| violations_of(&error))
            .collect();
        violations.sort_by(order);
        violations.dedup();
        if violations.is_empty() {
            // `is_valid` and `iter_errors` disagree only on a validator
            // defect; refusing is the safe side.
            violations.push(Violation {
                pointer: String::new(),
                keyword: "schema".to_owned(),
                message: "does not match the contract".to_owned(),
            });
        }
        Err(violations)
    }

    /// Parses `body` as JSON and checks it; a body that is not JSON is one
    /// violation at the root.
    pub fn validate_slice(&self, body: &[u8]) -> Result<Value, Vec<Violation>> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| vec![Violation::not_json(&e)])?;
        self.validate(&value)?;
        Ok(value)
    }

    /// Checks a consumer's request body: the parsed value, or the
    /// `INVALID_REQUEST` refusal with the pointer to the first offending member.
    pub fn check_request(&self, body: &[u8]) -> Result<Value, InvalidRequest> {
        self.validate_slice(body)
            .map_err(|violations| InvalidRequest {
                contract: self.name,
                violations,
            })
    }
}

/// Pointers sort segment by segment, so `/a/10` comes after `/a/9`.
fn order(a: &Violation, b: &Violation) -> Ordering {
    let segments = |p: &str| {
        p.split('/')
            .map(|s| (s.parse::<u64>().ok(), s.to_owned()))
            .collect::<Vec<_>>()
    };
    segments(&a.pointer)
        .cmp(&segments(&b.pointer))
        .then_with(|| a.keyword.cmp(&b.keyword))
        .then_with(|| a.message.cmp(&b.message))
}

/// Escapes a member name as one JSON-pointer segment (RFC 6901).
fn pointer_segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The violations one validation error stands for. Missing and unexpected
/// members are reported at the member itself, which is where a caller must
/// look, rather than at the object holding it.
fn violations_of(error: &ValidationError<'_>) -> Vec<Violation> {
    let at = error.instance_path().as_str();
    let keyword = error.kind().keyword().to_owned();
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![Violation {
                pointer: format!("{at}/{}", pointer_segment(name)),
                keyword,
                message: "is required".to_owned(),
            }]
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
            .iter()
            .map(|name| Violation {
                pointer: format!("{at}/{}", pointer_segment(name)),
                keyword: keyword.clone(),
                message: "is not allowed by the contract".to_owned(),
            })
            .collect(),
        _ => vec![Violation {
            pointer: at.to_owned(),
            keyword,
            message: error.masked().to_string(),
        }],
    }
}

/// Compiles every contract against a registry holding all the embedded schemas.
fn compile_all() -> Result<Vec<Contract>, ContractError> {
    let parse = |file: &str, text: &str| {
        serde_json::from_str::<Value>(text).map_err(|e| ContractError::Compile {
            schema: file.to_owned(),
            message: e.to_string(),
        })
    };
    let mut documents = vec![(
        format!("{SCHEMA_BASE}{}", SHARED_TYPES.0),
        parse(SHARED_TYPES.0, SHARED_TYPES.1)?,
    )];
    for name in ContractName::ALL {
        documents.push((name.schema_id(), parse(name.as_str(), name.schema_text())?));
    }
    let registry_error = |e: jsonschema::ReferencingError| ContractError::Compile {
        schema: "registry".to_owned(),
        message: e.to_string(),
    };
    let registry = Registry::new()
        .extend(documents.iter().map(|(uri, doc)| (uri.as_str(), doc)))
        .map_err(registry_error)?
        .prepare()
        .map_err(registry_error)?;
    let mut contracts = Vec::with_capacity(ContractName::ALL.len());
    for (name, (_, schema)) in ContractName::ALL.into_iter().zip(documents.iter().skip(1)) {
        let validator = build(schema, &registry).map_err(|message| ContractError::Compile {
            schema: name.as_str().to_owned(),
            message,
        })?;
        contracts.push(Contract { name, validator });
    }
    Ok(contracts)
}

/// Compiles one schema: draft 2020-12, formats asserted (a `date` that is
/// not a calendar day fails), unknown formats refused, and references
/// resolved only inside `registry` (offline: no file or network retrieval).
fn build(schema: &Value, registry: &Registry<'_>) -> Result<Validator, String> {
    jsonschema::draft202012::options()
        .with_registry(registry)
        .offline()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
