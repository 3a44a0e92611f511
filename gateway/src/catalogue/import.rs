//! Registering a service from its specification: an OpenAPI 3 document
//! (JSON or YAML) or a WSDL, read by `lgsp_adapters::specs`, becomes a draft
//! service with its operations, upstream, the document itself and the
//! registry metadata the province adds.

use crate::registry::model::{
    AdapterSettings, Operation, Priority, Service, ServiceMetadata, ServiceSpec, ServiceState,
    UpstreamSettings,
};
use lgsp_adapters::specs::{self, SpecFormat};
use lgsp_contracts::{AgencyCode, Slug};
use lgsp_policies::{DataClass, SecurityLevel};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What the province sends to register a service from a spec.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The service's slug (`/api/{slug}/…`).
    pub slug: String,
    /// The version segment; `v<MAJOR>` of the spec's `info.version` when absent.
    #[serde(default)]
    pub version: Option<String>,
    /// The owner agency's code.
    pub owner: String,
    /// Display name; the spec's title when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// `openapi` or `wsdl`; sniffed from the document when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub format: Option<SpecFormat>,
    /// The document, as text.
    pub spec: String,
    /// The production upstream; the spec's first server when absent.
    #[serde(default)]
    pub upstream_url: Option<String>,
    /// The sandbox (simulator) systems in trial call.
    #[serde(default)]
    pub sandbox_url: Option<String>,
    /// Time allowed for the upstream's answer, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Data class of the answers.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub data_class: Option<DataClass>,
    /// Minimum security level of callers.
    #[serde(default)]
    pub security_level: Option<u8>,
    /// Whether answers hold personal data; true when personal fields are declared or marked.
    #[serde(default)]
    pub personal_data: Option<bool>,
    /// Catalogue metadata: description, SLA, contacts, personal-data fields, purposes.
    #[serde(default)]
    pub metadata: Option<ServiceMetadata>,
}

/// Why a spec could not become a service; the text is safe to show.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The document was refused by the reader.
    #[error("the specification cannot be imported: {0}")]
    Spec(#[from] specs::SpecError),
    /// A registry field is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// Builds the draft service a spec describes.
pub fn service_from_spec(request: &ImportRequest) -> Result<Service, ImportError> {
    let invalid =
        |what: &str, e: &dyn std::fmt::Display| ImportError::Invalid(format!("{what}: {e}"));
    let slug = Slug::parse(&request.slug).map_err(|e| invalid("slug", &e))?;
    let owner = AgencyCode::parse(&request.owner).map_err(|e| invalid("owner", &e))?;
    let imported = specs::import(request.spec.as_bytes(), request.format)?;
    let version = match &request.version {
        Some(v) => v.clone(),
        None => imported
            .spec_version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .filter(|major| !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()))
            .map_or_else(|| "v1".to_string(), |major| format!("v{major}")),
    };
    if !version.starts_with('v')
        || version.len() < 2
        || !version[1..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ImportError::Invalid(format!(
            "version {version:?} must be v<number>, e.g. v1"
        )));
    }
    let url = match (&request.upstream_url, imported.servers.first()) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => server.clone(),
        (None, None) => {
            return Err(ImportError::Invalid(
                "the specification names no absolute server URL: give upstream_url".into(),
            ));
        }
    };
    let mut operations: Vec<Operation> = Vec::new();
    for op in &imported.operations {
        let operation = Operation {
            method: op.method.clone(),
            path: op.path.clone(),
        };
        if !operations.contains(&operation) {
            operations.push(operation);
        }
    }
    let mut metadata = request.metadata.clone().unwrap_or_default();
    if metadata.description.is_none() {
        metadata.description = imported.description.clone();
    }
    for field in &imported.personal_data_fields {
        if !metadata.personal_data_fields.contains(field) {
            metadata.personal_data_fields.push(field.clone());
        }
    }
    let security_level = match request.security_level {
        Some(level) => SecurityLevel::new(level).map_err(|e| invalid("security_level", &e))?,
        None => SecurityLevel::default(),
    };
    let format = match imported.format {
        SpecFormat::OpenApi => "openapi",
        SpecFormat::Wsdl => "wsdl",
    };
    Ok(Service {
        slug,
        version,
        name: request
            .name
            .clone()
            .unwrap_or_else(|| imported.title.clone()),
        owner,
        state: ServiceState::Draft,
        deprecated_on: None,
        sunset_on: None,
        data_class: request.data_class.unwrap_or_default(),
        security_level,
        personal_data: request
            .personal_data
            .unwrap_or(!metadata.personal_data_fields.is_empty()),
        upstream: UpstreamSettings {
            url,
            connect_timeout_ms: None,
            timeout_ms: request.timeout_ms,
            retries: None,
            max_request_bytes: None,
            max_response_bytes: None,
            health_path: None,
            sandbox_url: request.sandbox_url.clone(),
        },
        operations,
        priority: Priority::Standard,
        // SOAP envelopes pass through unchanged; the operation is told by SOAPAction.
        adapter: AdapterSettings::Rest,
        contract: None,
        request_contract: None,
        reuse: None,
        metadata,
        spec: Some(ServiceSpec {
            format: format.into(),
            version: imported.spec_version.clone(),
            sha256: crate::audit::hex(&Sha256::digest(request.spec.as_bytes())),
            openapi: imported.openapi,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(spec: &str) -> ImportRequest {
        ImportRequest {
            slug: "ho-so".into(),
            version: None,
            owner: "000.00.00.H29".into(),
            name: None,
            format: None,
            spec: spec.into(),
            upstream_url: None,
            sandbox_url: None,
            timeout_ms: None,
            data_class: None,
            security_level: None,
            personal_data: None,
            metadata: None,
        }
    }

    const SPEC: &str = r#"{"openapi":"3.1.0","info":{"title":"Hồ sơ một cửa","version":"2.1.0","description":"Tra cứu hồ sơ"},
      "servers":[{"url":"http://127.0.0.1:9/hoso"}],
      "paths":{"/hoSo/{maHoSo}":{"get":{"responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"type":"object","properties":{"hoTen":{"type":"string","x-personal-data":true}}}}}}}}}}}"#;

    #[test]
    fn an_openapi_document_becomes_a_draft_service() {
        let service = service_from_spec(&request(SPEC)).expect("imported");
        assert_eq!(service.version, "v2");
        assert_eq!(service.name, "Hồ sơ một cửa");
        assert_eq!(service.state, ServiceState::Draft);
        assert_eq!(service.upstream.url, "http://127.0.0.1:9/hoso");
        assert_eq!(
            service.operations,
            vec![Operation {
                method: "GET".into(),
                path: "/hoSo/{maHoSo}".into()
            }]
        );
        assert_eq!(
            service.metadata.personal_data_fields,
            vec!["hoTen".to_string()]
        );
        assert!(service.personal_data);
        assert_eq!(
            service.metadata.description.as_deref(),
            Some("Tra cứu hồ sơ")
        );
        let spec = service.spec.expect("spec kept");
        assert_eq!(
            (spec.format.as_str(), spec.version.as_deref()),
            ("openapi", Some("2.1.0"))
        );
        assert_eq!(spec.sha256.len(), 64);
    }

    #[test]
    fn bad_fields_and_documents_are_refused_with_reasons() {
        let mut bad_slug = request(SPEC);
        bad_slug.slug = "Hồ Sơ".into();
        assert!(
            service_from_spec(&bad_slug)
                .expect_err("refused")
                .to_string()
                .starts_with("slug")
        );
        let no_server = SPEC.replace(r#""servers":[{"url":"http://127.0.0.1:9/hoso"}],"#, "");
        assert!(
            service_from_spec(&request(&no_server))
                .expect_err("refused")
                .to_string()
                .contains("upstream_url")
        );
        let swagger = r#"{"swagger":"2.0","info":{"title":"x","version":"1"},"paths":{}}"#;
        assert!(matches!(
            service_from_spec(&request(swagger)),
            Err(ImportError::Spec(_))
        ));
    }
}
