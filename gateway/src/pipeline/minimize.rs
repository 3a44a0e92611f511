//! Stage 8, minimize: drop the fields the caller's purpose may not see.
//!
//! Only successful JSON answers are rewritten; a response the policy leaves
//! whole keeps streaming untouched. A JSON answer that does not parse cannot be
//! minimized safely, so it is refused as a contract violation rather than
//! passed on with fields the caller may not see.

use crate::problem::GatewayError;
use axum::body::Body;
use axum::response::Response;
use http::header;
use http_body_util::BodyExt;
use lgsp_policies::FieldFilter;

/// Applies the field filter to the response.
pub async fn minimize(fields: &FieldFilter, response: Response) -> Result<Response, GatewayError> {
    if matches!(fields, FieldFilter::All) || !response.status().is_success() || !is_json(&response)
    {
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| {
            GatewayError::ContractViolation(format!("reading the answer for minimization: {e}"))
        })?
        .to_bytes();
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| GatewayError::ContractViolation(format!("JSON answer does not parse: {e}")))?;
    fields.apply(&mut value);
    let out = serde_json::to_vec(&value).map_err(|e| GatewayError::Internal(e.to_string()))?;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::ETAG);
    Ok(Response::from_parts(parts, Body::from(out)))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| t == "application/json" || t.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn json(body: &str) -> Response {
        let mut r = Response::new(Body::from(body.to_string()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("value"),
        );
        r
    }

    async fn text(r: Response) -> String {
        String::from_utf8(
            r.into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .to_vec(),
        )
        .expect("utf8")
    }

    #[tokio::test]
    async fn drops_fields_not_allowed() {
        let only = FieldFilter::Only(Arc::new(vec!["hoTen".into()]));
        let r = minimize(&only, json(r#"{"hoTen":"Nguyễn Văn A","tonGiao":"Không"}"#))
            .await
            .expect("ok");
        assert_eq!(text(r).await, r#"{"hoTen":"Nguyễn Văn A"}"#);
    }

    #[tokio::test]
    async fn leaves_errors_and_non_json_alone() {
        let only = FieldFilter::Only(Arc::new(vec![]));
        let mut notfound = json(r#"{"maLoi":"RECORD_NOT_FOUND"}"#);
        *notfound.status_mut() = http::StatusCode::NOT_FOUND;
        assert!(
            text(minimize(&only, notfound).await.expect("ok"))
                .await
                .contains("RECORD_NOT_FOUND")
        );
        let plain = Response::new(Body::from("plain"));
        assert_eq!(
            text(minimize(&only, plain).await.expect("ok")).await,
            "plain"
        );
    }

    #[tokio::test]
    async fn unparsable_json_is_a_contract_violation() {
        let only = FieldFilter::Only(Arc::new(vec!["hoTen".into()]));
        let err = minimize(&only, json(r#"{"hoTen":"#))
            .await
            .expect_err("refused");
        assert!(matches!(err, GatewayError::ContractViolation(_)));
    }
}
