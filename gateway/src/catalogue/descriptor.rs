//! The V-APEX descriptor of a service: its OpenAPI 3.1 document (as
//! imported, or generated from its operations) with `servers` set to the
//! gateway and an `x-vapex` block from the registry, checked by the
//! conformance lint of `contracts/vapex/` before it may be published.

use crate::config::Config;
use crate::problem::Finding;
use crate::registry::model::{Service, ServiceState};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

/// Builds and checks descriptors for one gateway endpoint.
#[derive(Debug, Clone)]
pub struct Describer {
    endpoint: String,
}

impl Describer {
    /// A describer advertising `endpoint` (the gateway's public base URL).
    pub fn new(endpoint: &str) -> Describer {
        Describer {
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }

    /// The describer of a node whose data plane listens on `data`:
    /// `[vapex] gateway_endpoint`, else that listener (https with `[tls]`).
    pub fn for_node(config: &Config, data: SocketAddr) -> Describer {
        match config
            .vapex
            .as_ref()
            .and_then(|v| v.gateway_endpoint.as_deref())
        {
            Some(endpoint) => Describer::new(endpoint),
            None => {
                let scheme = if config.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                Describer::new(&format!("{scheme}://{data}"))
            }
        }
    }

    /// Where consumers call the service version.
    pub fn service_endpoint(&self, service: &Service) -> String {
        format!("{}/api/{}/{}", self.endpoint, service.slug, service.version)
    }

    /// The descriptor as it would be published. A draft is described as it
    /// would be once published, so that it can be checked beforehand.
    pub fn descriptor(&self, service: &Service, owner_name: Option<&str>) -> Value {
        let mut doc = match &service.spec {
            Some(spec) => spec.openapi.clone(),
            None => self.generated(service),
        };
        let endpoint = self.service_endpoint(service);
        // A WSDL's OpenAPI form is the gateway's own writing: the gateway
        // adds what it enforces on every call, its OAuth2 client credentials.
        // An OpenAPI document is the province's and is checked as written.
        if service
            .spec
            .as_ref()
            .is_some_and(|spec| spec.format == "wsdl")
        {
            self.add_gateway_security(&mut doc);
        }
        if let Some(map) = doc.as_object_mut() {
            map.insert(
                "servers".into(),
                json!([{ "url": endpoint, "description": "LGSP" }]),
            );
            map.insert("x-vapex".into(), self.block(service, owner_name, &endpoint));
        }
        doc
    }

    /// The descriptor, or every convention it breaks.
    pub fn check(
        &self,
        service: &Service,
        owner_name: Option<&str>,
    ) -> Result<Value, Vec<Finding>> {
        let (doc, findings) = self.linted(service, owner_name);
        if findings.is_empty() {
            Ok(doc)
        } else {
            Err(findings)
        }
    }

    /// The descriptor and every convention it breaks (none when it conforms).
    pub fn linted(&self, service: &Service, owner_name: Option<&str>) -> (Value, Vec<Finding>) {
        let doc = self.descriptor(service, owner_name);
        let findings = lint(&doc, service);
        (doc, findings)
    }

    fn block(&self, service: &Service, owner_name: Option<&str>, endpoint: &str) -> Value {
        let meta = &service.metadata;
        let mut block = Map::new();
        block.insert("agencyCode".into(), json!(service.owner.as_str()));
        block.insert("serviceCode".into(), json!(service.slug.as_str()));
        block.insert("version".into(), json!(service.version));
        block.insert("dataClass".into(), json!(service.data_class.as_str()));
        block.insert("securityLevel".into(), json!(service.security_level.get()));
        let lifecycle = match service.state {
            ServiceState::Draft => ServiceState::Published.as_str(),
            state => state.as_str(),
        };
        block.insert("lifecycle".into(), json!(lifecycle));
        if let Some(day) = &service.deprecated_on {
            block.insert("deprecatedOn".into(), json!(day));
        }
        if let Some(day) = &service.sunset_on {
            block.insert("sunsetOn".into(), json!(day));
        }
        if let Some(sla) = &meta.sla {
            let mut s = json!({
                "availabilityPercent": sla.availability_percent,
                "responseTimeMs": sla.response_time_ms,
            });
            if let Some(timeout) = service.upstream.timeout_ms {
                s["timeoutMs"] = json!(timeout);
            }
            if let Some(plan) = &meta.rate_plan {
                s["ratePlan"] = json!(plan);
            }
            block.insert("sla".into(), s);
        }
        block.insert(
            "contacts".into(),
            Value::Array(
                meta.contacts
                    .iter()
                    .map(|c| {
                        let mut contact = json!({ "name": c.name });
                        for (key, value) in
                            [("email", &c.email), ("phone", &c.phone), ("role", &c.role)]
                        {
                            if let Some(v) = value {
                                contact[key] = json!(v);
                            }
                        }
                        contact
                    })
                    .collect(),
            ),
        );
        block.insert("gatewayEndpoint".into(), json!(endpoint));
        if !meta.personal_data_fields.is_empty() {
            block.insert(
                "personalDataFields".into(),
                json!(meta.personal_data_fields),
            );
        }
        if !meta.allowed_purposes.is_empty() {
            block.insert("allowedPurposes".into(), json!(meta.allowed_purposes));
        }
        if let Some(name) = owner_name {
            block.insert("ownerAgencyName".into(), json!(name));
        }
        if let Some(description) = &meta.description {
            block.insert("description".into(), json!(description));
        }
        Value::Object(block)
    }

    fn add_gateway_security(&self, doc: &mut Value) {
        let Some(map) = doc.as_object_mut() else {
            return;
        };
        let components = map.entry("components").or_insert_with(|| json!({}));
        if let Some(components) = components.as_object_mut() {
            let schemes = components
                .entry("securitySchemes")
                .or_insert_with(|| json!({}));
            schemes["lgspOAuth2"] = self.oauth2_scheme();
        }
        map.insert("security".into(), json!([{ "lgspOAuth2": [] }]));
    }

    fn oauth2_scheme(&self) -> Value {
        json!({
            "type": "oauth2",
            "flows": { "clientCredentials": { "tokenUrl": format!("{}/oauth2/token", self.endpoint), "scopes": {} } }
        })
    }

    /// An OpenAPI 3.1 document for a service registered without a spec:
    /// its operations, the gateway's OAuth2 client credentials and its
    /// problem answers (what every call through the gateway has).
    fn generated(&self, service: &Service) -> Value {
        let major = service.version.trim_start_matches('v');
        let mut paths = Map::new();
        let operations: Vec<(String, String)> = if service.operations.is_empty() {
            vec![("get".into(), "/".into())]
        } else {
            service
                .operations
                .iter()
                .map(|op| (op.method.to_ascii_lowercase(), op.path.clone()))
                .collect()
        };
        for (method, path) in operations {
            let parameters: Vec<Value> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
                .collect();
            let item = paths.entry(path).or_insert_with(|| json!({}));
            item[method.as_str()] = json!({
                "parameters": parameters,
                "responses": {
                    "200": {
                        "description": "Kết quả",
                        "content": { "application/json": { "schema": { "type": "object" } } }
                    },
                    "default": { "$ref": "#/components/responses/Problem" }
                }
            });
        }
        let mut info = json!({ "title": service.name, "version": format!("{major}.0.0") });
        if let Some(description) = &service.metadata.description {
            info["description"] = json!(description);
        }
        json!({
            "openapi": "3.1.0",
            "info": info,
            "paths": paths,
            "components": {
                "responses": {
                    "Problem": {
                        "description": "Lỗi theo RFC 9457",
                        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                    }
                },
                "schemas": {
                    "Problem": {
                        "type": "object",
                        "properties": {
                            "type": { "type": "string" },
                            "title": { "type": "string" },
                            "status": { "type": "integer" },
                            "detail": { "type": "string" },
                            "code": { "type": "string" }
                        }
                    }
                },
                "securitySchemes": { "lgspOAuth2": self.oauth2_scheme() }
            },
            "security": [{ "lgspOAuth2": [] }]
        })
    }
}

/// The lint's findings on `doc`, as problem findings (`RULE: message` at a pointer).
fn lint(doc: &Value, service: &Service) -> Vec<Finding> {
    lgsp_contracts::vapex::lint(doc, &service.metadata.personal_data_fields)
        .into_iter()
        .map(|f| Finding {
            pointer: f.pointer,
            detail: format!("{}: {}", f.rule, f.message),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::model::{Contact, Sla};

    fn service() -> Service {
        toml::from_str(
            "slug='population'\nversion='v1'\nname='Tra cứu công dân'\nowner='000.00.00.G01'\n\
             state='published'\ndata_class='confidential'\nsecurity_level=3\npersonal_data=true\n\
             [upstream]\nurl='http://127.0.0.1:1'\ntimeout_ms=3000\n\
             [[operations]]\nmethod='GET'\npath='/citizens/{soDinhDanh}'\n",
        )
        .expect("service")
    }

    #[test]
    fn a_generated_descriptor_with_catalogue_metadata_conforms() {
        let mut s = service();
        s.metadata.sla = Some(Sla {
            availability_percent: 99.5,
            response_time_ms: 800,
        });
        s.metadata.contacts = vec![Contact {
            name: "Nguyễn Văn An".into(),
            email: Some("an@bca.gov.vn".into()),
            phone: None,
            role: Some("technical".into()),
        }];
        s.metadata.personal_data_fields = vec!["soDinhDanh".into()];
        let describer = Describer::new("https://lgsp.dongthap.gov.vn/");
        let doc = describer.check(&s, Some("Bộ Công an")).expect("conforms");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["servers"][0]["url"],
            "https://lgsp.dongthap.gov.vn/api/population/v1"
        );
        let block = &doc["x-vapex"];
        assert_eq!(block["agencyCode"], "000.00.00.G01");
        assert_eq!(block["lifecycle"], "published");
        assert_eq!(block["securityLevel"], 3);
        assert_eq!(block["sla"]["timeoutMs"], 3000);
        assert_eq!(block["ownerAgencyName"], "Bộ Công an");
        assert_eq!(
            doc["paths"]["/citizens/{soDinhDanh}"]["get"]["parameters"][0]["name"],
            "soDinhDanh"
        );
    }

    #[test]
    fn missing_metadata_and_undeclared_personal_fields_are_findings() {
        let describer = Describer::new("http://127.0.0.1:8080");
        let findings = describer
            .check(&service(), None)
            .expect_err("no sla, no contacts");
        let text: Vec<&str> = findings.iter().map(|f| f.detail.as_str()).collect();
        assert!(
            text.iter().any(|t| t.starts_with("VAPEX-BLOCK")),
            "{text:?}"
        );
        assert!(
            findings
                .iter()
                .all(|f| f.pointer.starts_with("/x-vapex") || f.pointer.starts_with("/paths")),
            "{findings:?}"
        );
    }
}
